#!/usr/bin/env bash
# The GPU run of the paper's CIFAR-10 experiment, on a machine prepared by
# scripts/prepare_gpu_run.sh (see docs/paper_cifar10.md): installs the carried wheels where Keras
# is missing, runs benchmarks/paper_cifar10.py on JAX within a time budget, and leaves in $OUT
# (six files): gpu.txt, log.txt, paper_cifar10.tar.gz (the whole run folder, rewritten after
# every epoch), comparison.md, curves.csv and summary.json.
#
#   OUT=folder bash scripts/gpu_paper_run.sh [more benchmarks/paper_cifar10.py options]
# Environment: BUDGET (seconds from the script's start for the training, default 480),
# KERAS_BACKEND (default jax).
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder that receives the results}"
mkdir -p "$OUT"

if ! python3 -c "import keras" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .device/*.whl || exit 1
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export KERAS_BACKEND="${KERAS_BACKEND:-jax}"
export LABKIT_CIFAR10_ARCHIVE="${LABKIT_CIFAR10_ARCHIVE:-.device/cifar10-jpeg-q75.tar.gz}"
export LABKIT_CACHE_DIR="${LABKIT_CACHE_DIR:-/tmp/labkit-cache}"

(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "no nvidia-smi") \
  > "$OUT/gpu.txt"
work=/tmp/paper_cifar10
python3 benchmarks/paper_cifar10.py --schedule gpu --time-budget "${BUDGET:-480}" \
  --out "$work" --bundle "$OUT/paper_cifar10.tar.gz" "$@" 2>&1 | tee "$OUT/log.txt"
status=${PIPESTATUS[0]}
for name in comparison.md curves.csv summary.json; do
  [[ -f "$work/$name" ]] && cp "$work/$name" "$OUT/"
done
exit "$status"
