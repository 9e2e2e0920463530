"""Deliver the alerts not yet delivered (this night's and any left by earlier runs)."""

import csv

from astrid.alerts import describe_packet
from astrid.delivery import Retry, channels_from_config, deliver
from astrid.objects import connect, migrate
from astrid.runtime import logged

with logged(snakemake.log[0]) as log:
    params = snakemake.params
    channels = channels_from_config({"webhook": params.webhook, "email": params.email})
    db = connect()
    migrate(db)
    rows = []
    for channel in channels:
        counts = deliver(db, channel, Retry(**params.retry), describe_packet)
        log.info("%s: %s", channel.name, ", ".join(f"{k} {v}" for k, v in counts.items()))
        rows.append({"channel": channel.name, **counts})
    db.close()
    with open(snakemake.output[0], "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["channel", "delivered", "filtered", "failed"], delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    if not channels:
        log.info(
            "no delivery channel enabled (alerts.webhook, alerts.email): packets stay in results/alerts/"
        )
