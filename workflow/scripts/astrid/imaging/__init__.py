"""Image differencing: sources and backgrounds, PSFs, alignment onto the reference,
reference coadds, ZOGY subtraction and the detection of candidates.
"""
