#!/bin/sh
# The accelerator issue's GPU acceptance points, one part per call (a lent GPU machine has
# about 15 minutes of device time in all, so run the parts that fit, one by one). First,
# here: `sh benchmarks/gpu_kit.sh` packs the wheels the GPU image lacks and the CIFAR-10
# subset into .gpu/; then each device call is
#   run(command="sh benchmarks/gpu_acceptance.sh PART", carry=[".gpu"], timeout_s=...)
# with PART one of (times: estimates for an H100 machine, not yet measured):
#   tests     the CUDA tests (tests/test_device.py), ~2 min
#   suite     the whole test suite, 8 processes of 2 threads (its two Ray tests skip: no Ray there)
#   steps     step times CPU vs GPU, fp32 vs bf16, AutoHAS/standalone, ~3 min
#   bohb      10-minute BOHB on the CIFAR-10 subset on the GPU, then the retraining: two calls
#             back to back (the first is killed at 570 s, the second resumes; ~12 min of device time)
#   autohas   the same for a 10-minute AutoHAS search
#   workers   CPU trials per hour at --workers 1 2 4 8 (16 cores), 4 x 2 min
# The 15 minutes of device time a session gets hold tests + suite + steps, or one search, or
# workers: spread the parts over sessions.
# PYTHON: .venv/bin/python where it exists (here), else python3 (the GPU image's, with its
# CUDA torch), into which the kit's wheels and hasearch (editable) are installed. CIFAR: the
# image folder (default: the kit's copy, else ../shared/datasets/cifar10-jpeg-subset).
# Summaries go to $OUT (the device tool brings back at most 8 files from there), run
# directories to /tmp/gpu-runs. BUDGET, DEVICE and CALL_LIMIT (defaults 10m, cuda, 570 s)
# exist for a rehearsal on a CPU machine.
set -eu
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
PY=$PYTHON
if [ -d .gpu/wheels ] && ! $PY -c "import ConfigSpace, kornia, mlxtend, optuna, hasearch" 2>/dev/null; then
  $PY -m pip install -q --no-index --no-deps .gpu/wheels/*.whl
  $PY -m pip install -q --no-index --no-deps --no-build-isolation -e . ||  # the `hasearch` script some tests run
    echo "editable install of hasearch failed: importing it from src/ (tests that run the hasearch script will fail)"
fi
PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
if [ -f .gpu/cifar.tar.gz ] && [ -z "${CIFAR:-}" ]; then
  [ -d /tmp/gpu-data/cifar10-jpeg-subset ] || { mkdir -p /tmp/gpu-data && tar xzf .gpu/cifar.tar.gz -C /tmp/gpu-data; }
  CIFAR=/tmp/gpu-data/cifar10-jpeg-subset
fi
CIFAR=${CIFAR:-../shared/datasets/cifar10-jpeg-subset}
OUT=${OUT:-/tmp/gpu}
RUNS=/tmp/gpu-runs
mkdir -p "$OUT" "$RUNS"
keep() {  # keep NAME CMD...: CMD's output into $OUT/NAME, its last lines here, its exit status kept
  name=$1; shift
  rc=0; "$@" > "$OUT/$name" 2>&1 || rc=$?
  tail -60 "$OUT/$name"; return $rc
}
$PY -c "import torch, hasearch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
case "$1" in
  tests) keep tests.txt $PY -m pytest -q -p no:cacheprovider tests/test_device.py -rs ;;
  suite)
    export OMP_NUM_THREADS=2  # 2 threads per test process, as on CI
    keep suite.txt $PY -m pytest -q -p no:cacheprovider -n "${WORKERS:-8}" ;;
  steps)
    keep steps.md $PY benchmarks/device_step_time.py --rounds 5 --steps 20 --threads 16
    cp benchmarks/results/device_step_time.json "$OUT/" ;;
  bohb|autohas)  # a call lasts at most 10 minutes: the search is killed at 570 s and the next call of
    # the same part, on the still-warm machine (idle under 30 s), resumes it (SIGKILL-safe runs)
    killed() {
      [ "$1" -eq 137 ] || exit "$1"
      echo "UNFINISHED: killed at the call limit; run this part again at once to resume it (exit 3)"; exit 3
    }
    if [ -f "$RUNS/$1/trials.sqlite" ]; then
      keep "$1.txt" timeout -s KILL "${CALL_LIMIT:-570}" $PY -m hasearch.cli.main resume "$RUNS/$1" || killed $?
    else
      keep "$1.txt" timeout -s KILL "${CALL_LIMIT:-570}" $PY -m hasearch.cli.main search --space mbconv \
        --strategy "$1" --dataset "imagefolder:$CIFAR" --budget "${BUDGET:-10m}" --device "${DEVICE:-cuda}" --out "$RUNS/$1" || killed $?
    fi ;;
  workers)
    for w in 1 2 4 8; do
      $PY -m hasearch.cli.main search --space mbconv --strategy random --dataset mnist5k --epochs 1 --budget 2m \
        --device cpu --workers "$w" --no-baseline --out "$RUNS/workers$w" > "$RUNS/workers$w.log" 2>&1
      $PY -c "import sqlite3,sys; n=sqlite3.connect(sys.argv[1]).execute(\"select count(*) from trials where status='finished'\").fetchone()[0]; print('workers', sys.argv[2], 'trials/hour', n * 30)" "$RUNS/workers$w/trials.sqlite" "$w"
    done | tee "$OUT/workers.txt" ;;
  *) echo "usage: $0 tests|suite|steps|bohb|autohas|workers" >&2; exit 2 ;;
esac
