#!/usr/bin/env bash
# Fills .device/ (ignored by git) with what benchmarks/paper_cifar10.py needs on a GPU machine
# that has no internet and no Keras: the offline CIFAR-10 archive and the wheels of Keras and the
# two packages it needs that such a machine lacks (namex, optree). See docs/paper_cifar10.md.
#
#   bash scripts/prepare_gpu_run.sh [ARCHIVE]   # default: $LABKIT_CIFAR10_ARCHIVE or ../shared/...
set -euo pipefail
cd "$(dirname "$0")/.."

archive="${1:-${LABKIT_CIFAR10_ARCHIVE:-../shared/data/cifar10-jpeg-q75.tar.gz}}"
keras_version="$(python3 -c 'import keras; print(keras.__version__)')"  # the one tested here
mkdir -p .device
cp -f "$archive" .device/cifar10-jpeg-q75.tar.gz
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .device \
  "keras==${keras_version}" "namex==0.1.0" "optree==0.20.0"
ls -l .device
du -sh .device
