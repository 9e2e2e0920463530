"""Reading and writing AstrID's products: FITS image products and atomic writes, mask
bits, provenance (code digests, input hashes) and the canonical names of exposures,
fields and bands.
"""
