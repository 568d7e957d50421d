#!/usr/bin/env bash
# Everything that needs an NVIDIA GPU, in one command on a GPU machine, results in $OUT:
#   1. tests/test_gpu.py and tests/test_parity.py: exact on the GPU equals the CPU within 1e-5 in
#      IS (TF32 off), fast stays within its tolerance, decode workers and the batch size chosen
#      from free memory change nothing, parity with torch-fidelity; tests/test_manifold.py -k cuda:
#      precision/recall and density/coverage on CUDA equal the CPU within one image. A missing or
#      broken CUDA fails (INCEPTION_SCORE_REQUIRE_GPU=1) instead of reporting "skipped";
#   2. benchmarks/bench.py --device cuda: the full-scale table against torch-fidelity.
# Usage, from the repository root (after benchmarks/fetch_wheels.sh, with .whl carried along):
#   benchmarks/gpu_check.sh [all|tests|bench] [bench.py options, e.g. --cases 1,2 --compile]
# Files: $OUT/gpu.txt (nvidia-smi), gpu-tests.log, bench.log, results-gpu.md (OUT defaults to
# ./gpu-out). Timing: the tests take about a minute; the full-scale bench makes its data once
# (/tmp/bench-data, a few minutes on 16 cores) and then runs 5 cases x 4 rows in fresh processes,
# so on a 10-minute call limit run `tests` plus `bench --cases 1,2` first, then `bench --cases 3,4,5`.
set -uo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "gpu_check: installing .whl/*.whl failed" >&2; exit 1; }
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
what=${1:-all}
shift || true
case "$what" in all | tests | bench) ;; *) echo "gpu_check: expected all, tests or bench, got '$what'" >&2; exit 2 ;; esac
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc; python3 -c "import torch; print(torch.__version__, torch.cuda.is_available())"; } >"$out/gpu.txt" 2>&1
status=0
if [ "$what" != bench ]; then
  # addopts replaced: one process (the GPU machine's wheels have no pytest-xdist, and the GPU tests share one device)
  INCEPTION_SCORE_REQUIRE_GPU=1 python3 -m pytest -q -rs -p no:cacheprovider -o addopts=--import-mode=importlib tests/test_gpu.py tests/test_parity.py \
    2>&1 | tee "$out/gpu-tests.log" || status=1
  python3 -m pytest -q -rs -p no:cacheprovider -o addopts=--import-mode=importlib tests/test_manifold.py -k cuda 2>&1 | tee -a "$out/gpu-tests.log" || status=1
fi
if [ "$what" != tests ]; then
  python3 benchmarks/bench.py --device cuda --data-dir /tmp/bench-data --out "$out/results-gpu.md" "$@" 2>&1 \
    | tee "$out/bench.log" || status=1
fi
exit $status
