"""Ingest: a night folder's raw files, each frame classified by its header and validated,
the manifest that drives the workflow and the quarantine with reasons.
"""
