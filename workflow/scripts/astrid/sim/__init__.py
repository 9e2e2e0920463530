"""The built-in demo's telescope: a realistic, seeded raw night of CCD frames (the camera,
field catalogs and transients, PSFs and scenes, cosmic rays, the header WCS, the night's
plan), written with its truth for evaluation and tests.
"""
