"""Real/bogus on the real sky: AstrID's models scored on real ZTF and Rubin alerts they never
saw, beside a braai-sized network trained on the same randomised data, in one run.

    .venv/bin/python benchmarks/real_alerts.py [--starter resources/models/realbogus-starter.pt]
        [--site results/models/realbogus/vN-<run>.pt] [--peer-samples N] [--no-peer]

Reads ``../shared/data/real/alerts`` (``ASTRID_SHARED`` overrides ``../shared``) through
the one normalisation of survey cutouts (:mod:`astrid.realbogus.survey_cutouts`: 63×63
about the centre, blanks where a stamp is smaller, ZTF's ``isdiffpos = 'f'`` differences
negated). The alerts are an evaluation set only: nothing here trains on them or picks a
threshold from them; each model is called at its own threshold.

Prints, per model:

* ZTF (25 Avro packets and the Fink rows with a ``drb``): ROC AUC against ``drb > 0.5``
  (target ≥ 0.90), agreement of the calls (≥ 85 %), the four rows with a spectroscopic TNS
  class (called real);
* Rubin (60 Avro packets): ROC AUC against ``reliability > 0.5`` (≥ 0.85);
* scoring throughput on one CPU thread, normalisation included (≥ 1000 cutouts/s).

The models: the shipped starter; the braai-sized peer (Duev et al. 2019, as in
``benchmarks/scoring_speed.py``) trained here on the starter's simulated data recipe (same
seed and sizes unless ``--peer-samples``); and, when ``make run`` has exported one, the
demo's own champion (a model of one simulated camera). The demo's targets are printed from
its training decision (``results/models/realbogus/training.json``);
``benchmarks/demo_transients.py`` checks its per-transient ones.
"""

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
sys.path.insert(0, str(REPO / "benchmarks"))

from scoring_speed import braai_network  # noqa: E402

from astrid.realbogus.randomised import simulate  # noqa: E402
from astrid.realbogus.scoring import load_bundle, score_cutouts  # noqa: E402
from astrid.realbogus.starter import StarterSettings, train_starter  # noqa: E402
from astrid.realbogus.survey_cutouts import agreement_with_surveys  # noqa: E402

SHARED = Path(os.environ.get("ASTRID_SHARED", REPO.parent / "shared"))
ALERTS = SHARED / "data" / "real" / "alerts"


def throughput(net, repeats=3, n=4096):
    """Cutouts a second on one CPU thread, normalisation included (median of ``repeats``)."""
    import torch

    cubes, _, _ = simulate(n, 7)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            score_cutouts(net, cubes)
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return n / statistics.median(times)


def verdicts(real):
    ztf, rubin = real["ztf"], real["rubin"]
    tns_real = all(s >= real["threshold"] for _, s in real["tns"])
    return [
        ("ZTF ROC AUC ≥ 0.90", ztf["roc_auc"] >= 0.90),
        ("ZTF calls agree ≥ 85 %", ztf["agreement"] >= 0.85),
        ("Rubin ROC AUC ≥ 0.85", rubin["roc_auc"] >= 0.85),
        (f"the {len(real['tns'])} TNS-classified ZTF rows called real", tns_real and len(real["tns"]) == 4),
    ]


def report(name, net, threshold):
    real = agreement_with_surveys(lambda cubes: score_cutouts(net, cubes), threshold, ALERTS)
    real["threshold"] = threshold
    print(f"\n## {name} (threshold {threshold:.4f})")
    for line in real["lines"]:
        print(f"  {line}")
    print(f"  throughput on one CPU thread: {throughput(net):.0f} cutouts/s (target ≥ 1000)")
    for target, met in verdicts(real):
        print(f"  [{'met' if met else 'NOT met'}] {target}")
    return real


def demo_targets():
    path = REPO / "results" / "models" / "realbogus" / "training.json"
    if not path.exists():
        print("\n## demo targets: no results/models/realbogus/training.json (run `make run` first)")
        return
    decision = json.loads(path.read_text())
    m = decision.get("metrics") or {}
    print(f"\n## demo targets (the demo's own model v{decision.get('version')}, its test split)")
    for key, target, ok in (
        ("roc_auc", "≥ 0.995", lambda v: v >= 0.995),
        ("fpr", "≤ 0.01", lambda v: v <= 0.01),
        ("fnr", "≤ 0.02", lambda v: v <= 0.02),
        ("completeness_snr6", "≥ 0.90", lambda v: v >= 0.90),
        ("purity_snr6", "≥ 0.95", lambda v: v >= 0.95),
    ):
        value = m.get(key)
        verdict = "n/a" if value is None else ("met" if ok(value) else "NOT met")
        print(f"  {key} {value} (target {target}) [{verdict}]")
    champion = decision.get("champion_metrics")
    if champion:
        print(
            f"  the champion it was gated against (F1 {champion['f1']:.4f} on the same split): "
            f"{'replaced' if decision['promoted'] else 'kept'} — {decision['reason']}"
        )


def site_model():
    exported = sorted(
        REPO.glob("results/models/realbogus/v*-*.pt"), key=lambda p: int(p.stem[1:].split("-")[0])
    )
    return exported[-1] if exported else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--starter", type=Path, default=REPO / "resources" / "models" / "realbogus-starter.pt"
    )
    parser.add_argument(
        "--site", type=Path, help="an exported site model (default: the newest of `make run`)"
    )
    parser.add_argument("--peer-samples", type=int, help="training triplets of the braai-sized peer")
    parser.add_argument("--no-peer", action="store_true", help="do not train the braai-sized peer")
    args = parser.parse_args()
    if not ALERTS.is_dir():
        sys.exit(f"real alerts folder {ALERTS} is absent (set ASTRID_SHARED to the shared/ folder)")
    results = {}
    net, bundle = load_bundle(args.starter)
    results["starter"] = report(f"starter model {args.starter.name}", net, bundle["threshold"])
    if not args.no_peer:
        settings = StarterSettings(**bundle["starter"]["settings"])
        if args.peer_samples:
            held = max(1000, args.peer_samples // 5)
            settings = replace(settings, n_train=args.peer_samples, n_validation=held, n_test=held)
        start = time.perf_counter()
        peer, peer_bundle = train_starter(
            settings, "peer", threads=os.cpu_count() or 1, build=lambda dropout: braai_network()
        )
        print(
            f"\n(braai-sized peer trained on {settings.n_train} randomised triplets in "
            f"{time.perf_counter() - start:.0f} s)"
        )
        results["peer"] = report("braai-sized peer, same randomised data", peer, peer_bundle["threshold"])
    site = args.site or site_model()
    if site is not None:
        net, bundle = load_bundle(site)
        results["site"] = report(
            f"the demo's champion {site.name} (one simulated camera)", net, bundle["threshold"]
        )
    demo_targets()


if __name__ == "__main__":
    main()
