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
from astrid.realbogus.lifecycle import load_bundle, score_cutouts

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
    net, bundle = load_bundle(inputs.model)
    scores = (
        score_cutouts(net, cutouts, snakemake.params.batch_size, device, threads=snakemake.threads)
        if len(table)
        else np.zeros(0, np.float32)
    )
    table["rb_score"] = scores
    table["rb_real"] = scores >= bundle["threshold"]
    table["rb_model_version"] = np.full(len(table), bundle["model_version"], dtype=np.int32)
    table.meta.update(
        {
            "RBMODEL": bundle["model_name"],
            "RBVERS": bundle["model_version"],
            "RBRUNID": bundle["run_id"],
            "RBTHRESH": bundle["threshold"],
            "RBDEVICE": str(device),
        }
    )
    with atomic_output(snakemake.output[0]) as tmp:
        table.write(tmp, format="ascii.ecsv", overwrite=True)
    log.info(
        "%d candidates scored on %s by %s v%d: %d real at threshold %.2f",
        len(table),
        device,
        bundle["model_name"],
        bundle["model_version"],
        int(table["rb_real"].sum()),
        bundle["threshold"],
    )
