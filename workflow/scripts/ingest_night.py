"""Classify and validate a night's raw frames into a manifest, a quarantine list and the
list of frames still arriving (read again by the next run).

Inputs: the raw night folder. Outputs: results/manifest/<night>.tsv,
results/quarantine/<night>.tsv, results/waiting/<night>.tsv; beside the manifest,
<night>.inspected.json remembers what each file was found to be, so that the next ingest
of the night reads only the frames that are new or changed. Settings: ingest.*,
calibration.min_frames, calibration.use_dark, reduced.nights (and all_nights), reduced.science_hdu.
"""

from astrid.ingest.classify import IngestSettings
from astrid.ingest.night import ingest_night, inspection_salt, load_inspections, save_inspections
from astrid.io.fitsio import atomic_output
from astrid.pipeline.runtime import logged

with logged(snakemake.log[0]) as log:
    settings = IngestSettings.from_config(
        snakemake.params.ingest, reduced=snakemake.params.reduced, science_hdu=snakemake.params.science_hdu
    )
    outputs = snakemake.output
    memory_path = outputs.manifest.removesuffix(".tsv") + ".inspected.json"
    salt = inspection_salt(snakemake.params.code, settings)
    memory = load_inspections(memory_path, salt)
    remembered = len(memory)
    night = ingest_night(
        snakemake.input.raw,
        snakemake.wildcards.night,
        settings,
        snakemake.params.min_frames,
        snakemake.params.use_dark,
        memory=memory,
    )
    save_inspections(memory_path, salt, memory)
    for table, path in zip(night, (outputs.manifest, outputs.quarantine, outputs.waiting), strict=True):
        with atomic_output(path) as tmp:
            table.to_csv(tmp, sep="\t", index=False)
    log.info(
        "%d frames usable, %d quarantined, %d still arriving (%d files remembered from the last ingest)",
        len(night.manifest),
        len(night.quarantine),
        len(night.waiting),
        remembered,
    )
