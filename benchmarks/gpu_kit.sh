#!/bin/sh
# Packs, here, what a lent GPU machine lacks for benchmarks/gpu_acceptance.sh into .gpu/
# (git-ignored; the device tool carries it with carry=[".gpu"]):
#   .gpu/wheels/       wheels of the dependencies its image does not hold (ConfigSpace,
#                      more-itertools, kornia, kornia_rs, mlxtend; optuna, alembic, Mako,
#                      SQLAlchemy, colorlog for the tests' fANOVA), pinned to this checkout's
#                      .venv versions, built for its Python (3.12, x86_64); the rest of
#                      hasearch's dependencies (numpy, scipy, statsmodels, scikit-learn, rich,
#                      PyYAML, Pillow, matplotlib, pandas, pytest, onnx, onnxruntime) are in
#                      the image (.library/device/KINDS.md), and its own CUDA torch stays.
#   .gpu/cifar.tar.gz  the CIFAR-10 subset (../shared does not travel to the device).
# About 17 MB in all (the device tool carries at most 64 MiB).
#   sh benchmarks/gpu_kit.sh                       # then, on the device:
#   run(command="sh benchmarks/gpu_acceptance.sh tests", carry=[".gpu"], timeout_s=300)
# TARGET_PY picks another Python for the wheels (a local rehearsal on this machine's 3.11).
set -eu
PY=${PYTHON:-.venv/bin/python}
TARGET_PY=${TARGET_PY:-3.12}
CIFAR=${CIFAR:-../shared/datasets/cifar10-jpeg-subset}
KIT=.gpu
NAMES='configspace|more[-_]itertools|kornia|kornia[-_]rs|mlxtend|optuna|alembic|mako|sqlalchemy|colorlog'
pins=$("$PY" -m pip freeze | grep -iE "^($NAMES)==")
[ "$(echo "$pins" | wc -l)" -eq 10 ] || { echo "gpu_kit: $PY lacks one of the ten packages (run make setup): $pins" >&2; exit 2; }
[ -d "$CIFAR" ] || { echo "gpu_kit: no CIFAR-10 subset at $CIFAR (set CIFAR)" >&2; exit 2; }
rm -rf "$KIT"
mkdir -p "$KIT/wheels"
# shellcheck disable=SC2086  # one argument per pin
"$PY" -m pip download -q --only-binary=:all: --no-deps --implementation cp --python-version "$TARGET_PY" \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  -d "$KIT/wheels" $pins
tar czf "$KIT/cifar.tar.gz" -C "$(dirname "$CIFAR")" "$(basename "$CIFAR")"
ls "$KIT/wheels"
du -sh "$KIT"
