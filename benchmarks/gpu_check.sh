#!/bin/bash
# GPU figures of the real/bogus scorer, for a machine with CUDA and PyTorch (no venv needed:
# only numpy and torch are imported). Run from the repository root:
#   bash benchmarks/gpu_check.sh [exported model]     # e.g. results/models/realbogus/v1.pt
set -euo pipefail
export PYTHONPATH=workflow/scripts PYTHONUNBUFFERED=1
model=${1:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
# A scoring job given a GPU resolves to CUDA; given none, to the CPU.
python3 -c "from astrid.realbogus.classifier import resolve_device as r; print('gpu=1 ->', r(1), '; gpu=0 ->', r(0))"
python3 benchmarks/scoring_speed.py --device cuda --n 100000 --batch 4096 --repeats 5 ${model:+--model "$model"}
python3 benchmarks/scoring_speed.py --device cpu --n 10000 --repeats 3
