"""Labelled real/bogus samples of one aligned frame: injected fakes and artefacts.

Inputs: the aligned frame, its reference and (the demo) the night's truth. Output: the
frame's samples (cutout cube and SAMPLES table). Settings: realbogus.injection,
realbogus.samples, realbogus.seed, detect.*, difference.flux_error, difference.renormalise.
"""

import numpy as np
from astropy.io import fits

from astrid.imaging.align import alignment_failure
from astrid.imaging.detect import DetectSettings, empty_candidates
from astrid.imaging.reference import read_reference
from astrid.io.fitsio import read_image_product
from astrid.io.provenance import exposure_header, stamp
from astrid.pipeline.runtime import logged, time_limit
from astrid.realbogus.inject import InjectionSettings
from astrid.realbogus.training_set import (
    SampleSettings,
    empty_samples,
    frame_samples,
    frame_seed,
    known_transients_xy,
    write_samples,
)

with logged(snakemake.log[0]) as log:
    inputs, params = snakemake.input, snakemake.params
    aligned_header = fits.getheader(inputs.aligned, 0)
    header = exposure_header(aligned_header)
    header["NIGHT"] = (snakemake.wildcards.night, "night of the frame")
    stamp(
        header,
        params.code,
        {"injection": dict(params.injection), "samples": dict(params.samples), "seed": params.seed},
        [("ALNFILE", "ALNSHA", inputs.aligned), ("REFFILE", "REFSHA", inputs.reference)],
    )
    detect = DetectSettings(**params.detect)
    if alignment_failure(aligned_header):
        table, cutouts = empty_candidates(detect)
        table = empty_samples(table)
        log.info("frame not aligned: no samples")
    else:
        reference = read_reference(inputs.reference)
        with time_limit(params.timeout_minutes, f"training samples of {header['EXPOSURE']}"):
            table, cutouts = frame_samples(
                read_image_product(inputs.aligned),
                aligned_header,
                reference,
                detect_settings=detect,
                flux_error=params.flux_error,
                rng=np.random.default_rng(frame_seed(params.seed, header["EXPOSURE"])),
                injection=InjectionSettings(**params.injection),
                samples=SampleSettings(**params.samples),
                known_xy=known_transients_xy(inputs.truth[0] if inputs.truth else None, reference.wcs),
                renormalise=params.renormalise,
            )
        kinds = dict(zip(*np.unique(np.asarray(table["kind"]), return_counts=True), strict=True))
        log.info("%d samples: %s", len(table), ", ".join(f"{k} {v}" for k, v in kinds.items()))
    write_samples(snakemake.output[0], table, cutouts, header)
