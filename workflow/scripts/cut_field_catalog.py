"""Cut one field's catalog from the site-wide catalog, onto the field's frames.

Inputs: the site-wide catalog (reference.catalog), the field's calibrated frames of the
reference nights. Output: results/catalogs/<field>.ecsv in AstrID's catalog layout (positions
at the catalog's epoch, with proper motions). Settings: reference.catalog_format,
catalog_columns, catalog_epoch, catalog_margin_arcmin.
"""

import warnings

from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from astrid.pipeline.runtime import logged
from astrid.skycal.catalogs import cut_to_frames, read_catalog, write_catalog


def frame_footprint(path):
    header = fits.getheader(path, "SCI")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header), (header["NAXIS2"], header["NAXIS1"])


with logged(snakemake.log[0]) as log:
    site = read_catalog(snakemake.input.catalog, **snakemake.params.reading)
    cut = cut_to_frames(
        site, [frame_footprint(p) for p in snakemake.input.frames], snakemake.params.margin_arcmin
    )
    cut.meta["SOURCE"] = f"{snakemake.input.catalog} (cut for field {snakemake.wildcards.field})"
    write_catalog(cut, snakemake.output[0])
    log.info(
        "field %s: %d of %d catalog stars on its %d frames",
        snakemake.wildcards.field,
        len(cut),
        len(site),
        len(snakemake.input.frames),
    )
    if len(cut) < 5:
        log.warning(
            "field %s: only %d catalog stars from %s: its magnitudes will stay instrumental",
            snakemake.wildcards.field,
            len(cut),
            snakemake.input.catalog,
        )
