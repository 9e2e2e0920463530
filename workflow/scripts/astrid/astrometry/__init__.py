"""Astrometry: matching star lists between frames and onto catalogs, and the pixel
registrations that follow.
"""
