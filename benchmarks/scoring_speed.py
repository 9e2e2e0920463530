"""Real/bogus scoring throughput: AstrID's CNN against a braai-sized network, side by side.

    .venv/bin/python benchmarks/scoring_speed.py [--n 10000] [--repeats 5] [--device cpu|cuda]

Both networks score the same n normalised 3×63×63 triplets in batches of 1024 through the
same inference path (a traced, oneDNN-optimised graph on the CPU), on one CPU
thread (``torch.set_num_threads(1)``) or on CUDA; runs alternate between the two networks
and the median of ``repeats`` is quoted. AstrID's figure includes the normalisation of the
raw cutouts (as the scoring rule does it); braai's does not (a lower bound for it). The
braai-sized network follows Duev et al. (2019): 2×conv16, pool, 2×conv32, pool, 2×conv64,
pool, dense 256, dropout, 1 output (about 0.8 M parameters here at 63×63).

The accuracy of the AstrID model at this speed is the test-split figures of the champion in
results/models/realbogus/training.json (printed when present).
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from astrid.realbogus.classifier import build_network, normalise, predict  # noqa: E402


def braai_network():
    import torch.nn as nn

    def block(cin, cout):
        return [
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
        ]

    return nn.Sequential(
        *block(3, 16),
        *block(16, 32),
        *block(32, 64),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 256),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(256, 1),
    )


def main():
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--model", type=Path, help="exported model: also compare its CPU and device scores")
    args = parser.parse_args()
    torch.set_num_threads(1)
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    raw = rng.normal(100, 10, (args.n, 3, 63, 63)).astype(np.float32)
    prepared = normalise(raw)
    networks = {"astrid": build_network().eval(), "braai": braai_network().eval()}
    for name, net in networks.items():
        params = sum(p.numel() for p in net.parameters())
        print(f"{name}: {params / 1e6:.2f} M parameters")
        predict(net, prepared[:2048], device=device)  # warm-up
    times = {name: [] for name in networks}
    for _ in range(args.repeats):
        for name, net in networks.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            x = normalise(raw) if name == "astrid" else prepared
            predict(net, x, batch_size=args.batch, device=device)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    rates = {name: args.n / statistics.median(t) for name, t in times.items()}
    where = "1 CPU thread" if device.type == "cpu" else torch.cuda.get_device_name(device)
    for name, rate in rates.items():
        print(f"{name}: {rate:,.0f} cutouts/s on {where} (median of {args.repeats}, n = {args.n})")
    print(f"ratio astrid / braai: {rates['astrid'] / rates['braai']:.2f}")
    if args.model:
        bundle = torch.load(args.model, map_location="cpu", weights_only=False)
        net = build_network(bundle["dropout"])
        net.load_state_dict(bundle["state_dict"])
        sample = prepared[:4096]
        on_cpu = predict(net.eval(), sample)
        on_device = predict(net.eval(), sample, device=device)
        print(
            f"model v{bundle.get('model_version')}: largest |score(cpu) - score({device})| = "
            f"{np.max(np.abs(on_cpu - on_device)):.2e} over {len(sample)} cutouts"
        )
    training = REPO / "results" / "models" / "realbogus" / "training.json"
    if training.exists():
        metrics = json.loads(training.read_text())["metrics"]
        keys = ("roc_auc", "fpr", "fnr", "f1", "completeness_snr6", "purity_snr6")
        print("champion test split: " + ", ".join(f"{k} {metrics[k]:.4f}" for k in keys))


if __name__ == "__main__":
    main()
