"""Health checks of an AstrID installation, cheap enough to run every 15 minutes, one module
per family of checks (as banzai's ``qc`` package).

Nothing here writes the night's products: the checks read folders, stores and QA tables,
append one JSON line per run to ``results/monitoring/health.jsonl`` and notify people
(through the alert channels) only when a check *changes* state — into warning, into
critical, or back to ok — never again while it stays there.

    python -m astrid.ops.monitor [--configfile site.yaml]      # (make monitor)

A check that has nothing to measure yet (no history, SLURM not configured, no recent
frames) is recorded as ok with no value and a message that says why.
"""
