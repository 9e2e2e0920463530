"""The night's exposure-to-alert latency per frame, as a table and a figure for the report.

Inputs: the night's alerts.tsv and manifest. Outputs: results/qa/<night>/latency.tsv and
latency.png. No settings.
"""

import csv

from astrid.io.fitsio import atomic_output
from astrid.ops.monitor.latency import frame_latencies
from astrid.pipeline.runtime import logged
from astrid.report.latency import plot_latency

FIELDS = ["exposure", "exposure_end_utc", "first_alert_utc", "latency_minutes"]

with logged(snakemake.log[0]) as log:
    rows = frame_latencies("results", snakemake.wildcards.night)
    with atomic_output(snakemake.output.table) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS, delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    figures = plot_latency(rows, snakemake.output.figure, snakemake.wildcards.night)
    log.info(
        "%d frames, %d with alerts%s",
        len(rows),
        figures["frames"],
        f", latency median {figures['median']:.1f} min, 95th percentile {figures['p95']:.1f} min"
        if figures["frames"]
        else "",
    )
