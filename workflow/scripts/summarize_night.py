"""Write the night summary page: frames by type and band, quarantine, progress.

Inputs: the night's manifest, quarantine and waiting lists, its calibration QA and (nights
that are differenced) its difference QA. Output: results/qa/<night>/summary.html. Settings:
max_observations.
"""

import pandas as pd

from astrid.ingest.night import read_manifest
from astrid.io.fitsio import atomic_output
from astrid.pipeline.runtime import logged
from astrid.report.night import night_summary

with logged(snakemake.log[0]):
    inputs = snakemake.input
    page = night_summary(
        read_manifest(inputs.manifest),
        pd.read_csv(inputs.quarantine, sep="\t", dtype=str, keep_default_na=False),
        pd.read_csv(inputs.calibration, sep="\t", dtype={"exposure": str, "band": str, "field": str}),
        snakemake.wildcards.night,
        snakemake.params.max_observations,
        pd.read_csv(inputs.waiting, sep="\t", dtype={"exposure": str}, keep_default_na=False),
        pd.read_csv(inputs.differences[0], sep="\t", dtype=str, keep_default_na=False)
        if inputs.differences
        else None,
    )
    with atomic_output(snakemake.output[0]) as tmp:
        tmp.write_text(page)
