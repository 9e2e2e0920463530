"""Detect and measure the candidates of one difference; write their table and cutouts.

Inputs: the difference, the aligned frame, the reference. Outputs:
results/candidates/<night>/<exposure>.ecsv and results/cutouts/<night>/<exposure>.fits.
Settings: detect.*.
"""

from astropy.io import fits

from astrid.imaging.align import alignment_failure
from astrid.imaging.detect import (
    DetectSettings,
    empty_candidates,
    find_candidates,
    limiting_magnitude,
    photometry_cards,
    write_candidates,
)
from astrid.imaging.difference import read_difference
from astrid.imaging.reference import read_reference
from astrid.io.provenance import stamp
from astrid.pipeline.runtime import logged

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
            diff, new, reference, fwhm=header["FWHM"], exposure=header["EXPOSURE"], settings=settings
        )
        limit_mag, limit_flux = limiting_magnitude(diff, reference.zeropoint)
        for key, value, comment in photometry_cards(reference, limit_mag, limit_flux):
            header[key] = (value, comment)
        header["NCAND"] = (len(table), "candidates")
        if header["PHOTCAL"]:
            log.info("%d candidates, limiting magnitude %.2f", len(table), limit_mag)
        else:
            log.warning(
                "%d candidates; the reference of field %s has no catalog zero point: instrumental "
                "magnitudes, limit %.1f e-",
                len(table),
                header.get("FIELD", "?"),
                limit_flux,
            )
    write_candidates(outputs.table, outputs.cutouts, table, cutouts, header)
