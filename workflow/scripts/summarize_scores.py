"""Real/bogus QA of a night: scores per frame and the drift check's figures.

Inputs: the night's scored tables and drift report. Output: results/qa/<night>/realbogus.png.
No settings.
"""

import json

from astrid.pipeline.runtime import logged
from astrid.report.realbogus import plot_scores

with logged(snakemake.log[0]):
    with open(snakemake.input.drift) as handle:
        drift_report = json.load(handle)
    plot_scores(snakemake.input.scored, drift_report, snakemake.output[0], snakemake.wildcards.night)
