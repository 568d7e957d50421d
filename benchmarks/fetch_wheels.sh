#!/usr/bin/env bash
# Wheels that a GPU machine without internet needs for benchmarks/gpu_check.sh, into .whl/
# (git-ignored): the test oracle torch-fidelity and the optional decoders. The machine's own
# Python (3.12, with torch, torchvision, numpy, Pillow, pytest, tqdm) has everything else.
#   benchmarks/fetch_wheels.sh            # run here, where PyPI is reachable (< 1 MB)
# then carry .whl to the GPU machine with the working tree.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "${PYTHON_VERSION:-3.12}" \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl torch-fidelity==0.4.0 pyspng==0.1.4 simplejpeg==1.9.0
ls -l .whl
