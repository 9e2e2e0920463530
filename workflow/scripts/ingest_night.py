"""Classify and validate a night's raw frames into a manifest and a quarantine list."""

from astrid.fitsio import atomic_output
from astrid.ingest import IngestSettings, ingest_night
from astrid.runtime import logged

with logged(snakemake.log[0]) as log:
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in snakemake.params.ingest.items()}
    manifest, quarantine = ingest_night(
        snakemake.input.raw,
        snakemake.wildcards.night,
        IngestSettings(**options),
        snakemake.params.min_frames,
        snakemake.params.use_dark,
    )
    for table, path in ((manifest, snakemake.output.manifest), (quarantine, snakemake.output.quarantine)):
        with atomic_output(path) as tmp:
            table.to_csv(tmp, sep="\t", index=False)
    log.info("%d frames usable, %d quarantined", len(manifest), len(quarantine))
