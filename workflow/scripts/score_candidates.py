"""Real/bogus scores of one frame's candidates, with the model version that made them.

Inputs: the frame's candidate table and cutouts, the exported champion. Output:
results/scored/<night>/<exposure>.ecsv. Settings: realbogus.batch_size (and the job's GPU).
"""

import numpy as np
from astropy.io import fits
from astropy.table import Table

from astrid.io.fitsio import atomic_output
from astrid.pipeline.runtime import logged
from astrid.realbogus.classifier import requested_gpus, resolve_device
from astrid.realbogus.scoring import score_table

with logged(snakemake.log[0]) as log:
    inputs = snakemake.input
    table = Table.read(inputs.table, format="ascii.ecsv")
    with fits.open(inputs.cutouts) as hdul:
        cutouts = np.asarray(hdul[0].data, np.float32)
        ids = np.char.strip(np.asarray(hdul["IDS"].data["candidate_id"], str))
    if len(ids) != len(table) or (
        len(ids) and not np.array_equal(ids, np.asarray(table["candidate_id"], str))
    ):
        raise ValueError(f"{inputs.cutouts}: its cutouts do not match the candidates of {inputs.table}")
    device = resolve_device(requested_gpus(snakemake.resources))
    model = inputs.model or None  # a path, or nothing when no model exists yet
    table = score_table(
        table,
        cutouts,
        model,
        batch_size=snakemake.params.batch_size,
        device=device,
        threads=snakemake.threads,
    )
    with atomic_output(snakemake.output[0]) as tmp:
        table.write(tmp, format="ascii.ecsv", overwrite=True)
    log.info(
        "%d candidates scored on %s by %s v%d: %d real at threshold %.2f",
        len(table),
        device,
        table.meta["RBMODEL"],
        table.meta["RBVERS"],
        int(table["rb_real"].sum()),
        table.meta["RBTHRESH"],
    )
