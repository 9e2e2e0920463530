"""Calibration of raw CCD frames: overscan and trim, master bias, dark and flat, and each
science frame in electrons with its variance and mask planes.
"""
