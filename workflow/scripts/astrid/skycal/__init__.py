"""Sky calibration: reference catalogs read in the formats sites have (Gaia DR3, ATLAS-RefCat2,
APASS, AstrID's own), moved to the date of an observation, cut to a field, and the
photometric zero points fitted on them.
"""
