#!/bin/sh
# The accelerator issue's GPU acceptance points, one part per call (a lent GPU machine has
# about 15 minutes of device time in all, so run the parts that fit, one by one):
#   sh benchmarks/gpu_acceptance.sh tests     # the CUDA tests (tests/test_device.py), ~2 min
#   sh benchmarks/gpu_acceptance.sh steps     # step times CPU vs GPU, fp32 vs bf16, AutoHAS/standalone, ~3 min
#   sh benchmarks/gpu_acceptance.sh bohb      # 10-minute BOHB on the CIFAR-10 subset on the GPU (+ retraining)
#   sh benchmarks/gpu_acceptance.sh autohas   # 10-minute AutoHAS on the CIFAR-10 subset on the GPU (+ retraining)
#   sh benchmarks/gpu_acceptance.sh workers   # CPU trials per hour at --workers 1 2 4 8 (16 cores), 4 x 2 min
# PYTHON (default .venv/bin/python) must import hasearch and the machine's CUDA torch;
# CIFAR (default ../shared/datasets/cifar10-jpeg-subset) is the image folder. Output goes to $OUT (default /tmp/gpu).
set -eu
PY=${PYTHON:-.venv/bin/python}
CIFAR=${CIFAR:-../shared/datasets/cifar10-jpeg-subset}
OUT=${OUT:-/tmp/gpu}
mkdir -p "$OUT"
case "$1" in
  tests) $PY -m pytest -q tests/test_device.py -rs ;;
  steps) $PY benchmarks/device_step_time.py --rounds 5 --steps 20 --threads 16 | tee "$OUT/steps.md" ;;
  bohb|autohas)
    $PY -m hasearch.cli.main search --space mbconv --strategy "$1" --dataset "imagefolder:$CIFAR" --budget 10m \
      --device cuda --out "$OUT/$1" 2>&1 | tail -40 ;;
  workers)
    for w in 1 2 4 8; do
      $PY -m hasearch.cli.main search --space mbconv --strategy random --dataset mnist5k --epochs 1 --budget 2m \
        --device cpu --workers "$w" --no-baseline --out "$OUT/workers$w" > "$OUT/workers$w.log" 2>&1
      $PY -c "import sqlite3,sys; n=sqlite3.connect(sys.argv[1]).execute(\"select count(*) from trials where status='finished'\").fetchone()[0]; print('workers', sys.argv[2], 'trials/hour', n * 30)" "$OUT/workers$w/trials.sqlite" "$w"
    done ;;
  *) echo "usage: $0 tests|steps|bohb|autohas|workers" >&2; exit 2 ;;
esac
