"""Deliver the alerts not yet delivered (this night's and any left by earlier runs), then
write how the night's alerts stand on each channel (from the database, so the table says
the same whichever run, or crashed run, sent them).

Inputs: the night's alerts.tsv. Output: results/alerts/<night>/delivery.tsv. Settings:
alerts.webhook, alerts.email, alerts.retry (secrets from the environment variables they name).
"""

import csv

from astrid.alerts.delivery import DELIVERY_STATES, Retry, channels_from_config, deliver, night_delivery
from astrid.alerts.objects import connect, migrate
from astrid.alerts.packets import describe_packet
from astrid.io.fitsio import atomic_output
from astrid.pipeline.runtime import logged

with logged(snakemake.log[0]) as log:
    params = snakemake.params
    channels = channels_from_config({"webhook": params.webhook, "email": params.email})
    db = connect()
    migrate(db)
    rows = []
    for channel in channels:
        sent = deliver(db, channel, Retry(**params.retry), describe_packet)
        log.info("%s, this run: %s", channel.name, ", ".join(f"{k} {v}" for k, v in sent.items()))
        rows.append({"channel": channel.name, **night_delivery(db, snakemake.wildcards.night, channel.name)})
    db.close()
    with atomic_output(snakemake.output[0]) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["channel", *DELIVERY_STATES], delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    if not channels:
        log.info(
            "no delivery channel enabled (alerts.webhook, alerts.email): packets stay in results/alerts/"
        )
