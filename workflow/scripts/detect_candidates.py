"""Detect and measure the candidates of one difference; write their table and cutouts."""

import numpy as np
from astropy.io import fits

from astrid.align import alignment_failure
from astrid.detect import (
    DetectSettings,
    empty_candidates,
    find_candidates,
    limiting_magnitude,
    write_candidates,
)
from astrid.difference import read_difference
from astrid.provenance import stamp
from astrid.reference import read_reference
from astrid.runtime import logged

with logged(snakemake.log[0]) as log:
    inputs, outputs = snakemake.input, snakemake.output
    settings = DetectSettings(**snakemake.params.settings)
    header = fits.getheader(inputs.difference, 0)
    stamp(
        header,
        snakemake.params.code,
        dict(snakemake.params.settings),
        [("DIFFILE", "DIFSHA", inputs.difference)],
    )
    failure = alignment_failure(header)
    if failure:
        table, cutouts = empty_candidates(settings)
    else:
        diff, _ = read_difference(inputs.difference)
        reference = read_reference(inputs.reference)
        new = fits.getdata(inputs.aligned, "SCI")
        table, cutouts = find_candidates(
            diff,
            new,
            reference.data,
            reference.stars,
            reference.wcs,
            reference.zeropoint,
            header["FWHM"],
            settings,
            header["EXPOSURE"],
        )
        header["LIMMAG"] = (limiting_magnitude(diff, reference.zeropoint)[0], "5-sigma point-source limit")
        header["REFZP"] = (
            reference.zeropoint if np.isfinite(reference.zeropoint) else "nan",
            "reference zero point",
        )
        header["NCAND"] = (len(table), "candidates")
        log.info("%d candidates, limiting magnitude %.2f", len(table), header["LIMMAG"])
    write_candidates(outputs.table, outputs.cutouts, table, cutouts, header)
