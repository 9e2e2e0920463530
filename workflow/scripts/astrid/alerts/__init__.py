"""Alerts: objects associated across nights in a database, versioned Avro packets and
their delivery to people.
"""
