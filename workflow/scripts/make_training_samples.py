"""Labelled real/bogus samples of one aligned frame: injected fakes and artefacts."""

import hashlib

import numpy as np
from astropy.io import fits
from astropy.table import Table

from astrid.align import alignment_failure
from astrid.detect import DetectSettings, empty_candidates
from astrid.fitsio import read_image_product
from astrid.inject import InjectionSettings
from astrid.provenance import exposure_header, stamp
from astrid.reference import read_reference
from astrid.runtime import logged, time_limit
from astrid.training_set import SampleSettings, frame_samples, write_samples

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
        log.info("frame not aligned: no samples")
    else:
        reference = read_reference(inputs.reference)
        known_xy = np.zeros((0, 2))
        if inputs.truth:
            transients = Table.read(inputs.truth[0], hdu="TRANSIENTS")
            if len(transients):
                x, y = reference.wcs.all_world2pix(transients["ra"], transients["dec"], 0)
                known_xy = np.column_stack([x, y])
        # One seed per frame, independent of which other frames the run has.
        frame_seed = int(hashlib.sha256(f"{params.seed}:{header['EXPOSURE']}".encode()).hexdigest()[:8], 16)
        with time_limit(params.timeout_minutes, f"training samples of {header['EXPOSURE']}"):
            table, cutouts = frame_samples(
                read_image_product(inputs.aligned),
                fits.getdata(inputs.aligned, "PSF"),
                aligned_header,
                reference,
                detect,
                params.flux_error,
                np.random.default_rng(frame_seed),
                InjectionSettings(**params.injection),
                SampleSettings(**params.samples),
                known_xy,
            )
        kinds = dict(zip(*np.unique(np.asarray(table["kind"]), return_counts=True), strict=True))
        log.info("%d samples: %s", len(table), ", ".join(f"{k} {v}" for k, v in kinds.items()))
    if "label" not in table.colnames:
        for name, dtype in (
            ("kind", "U12"),
            ("label", np.int8),
            ("pass", np.int16),
            ("injected_snr", float),
            ("on_galaxy", bool),
        ):
            table[name] = np.zeros(0, dtype)
    write_samples(snakemake.output[0], table, cutouts, header)
