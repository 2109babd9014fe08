#!/usr/bin/env bash
# The GPU checks of issue 14, in one command of at most 8 minutes, for a
# machine with an NVIDIA GPU and a CUDA build of torch already installed:
#
#     bash benchmarks/gpu_checks.sh [OUT_DIR]      # default: $OUT or gpu_results
#
# It records the card, then runs: the tests marked gpu (tests/test_gpu.py and
# the CUDA variants of tests/test_export.py), the module's export tests on
# CUDA alone, the whole suite without a marker filter, and
# benchmarks/bench_revin.py's CUDA cases (CUDA tensors, and NumPy input with
# device="cuda"). Every step writes its output under OUT_DIR; a step that fails
# or runs past its time limit is reported and the next one still runs. The
# exit status is 0 only if every step passed. Put the card and the numbers in
# docs/benchmarks.rst afterwards.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-gpu_results}}
mkdir -p "$out"
python=${PYTHON:-python}
failed=()

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    echo "+ [$name, at most ${limit}s] $*"
    timeout "$limit" "$@" >"$out/$name.txt" 2>&1
    local status=$?
    echo "  -> exit $status in $((SECONDS - start))s; tail of $out/$name.txt:"
    tail -n 3 "$out/$name.txt" | sed 's/^/     /'
    [ "$status" -eq 0 ] || failed+=("$name (exit $status)")
}

{
    nvidia-smi || true
    "$python" - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda)
print("cuda available:", torch.cuda.is_available())
if torch.cuda.is_available():
    props = torch.cuda.get_device_properties(0)
    print("device:", props.name, f"{props.total_memory / 2**30:.0f} GiB")
PY
} >"$out/card.txt" 2>&1
cat "$out/card.txt"
if ! "$python" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    echo "CUDA is not available to $python: nothing to check here." >&2
    exit 2
fi

pytest=("$python" -m pytest -q -p no:cacheprovider -ra)
step pytest_gpu 90 "${pytest[@]}" -m gpu tests
step export_cuda 90 "${pytest[@]}" tests/test_export.py -k cuda
step pytest_all 210 "${pytest[@]}" tests sklearn_revin
step bench_cuda 60 "$python" benchmarks/bench_revin.py --cases cuda --no-memory --no-nn \
    --repeats 5 --out-dir "$out/bench"

if [ "${#failed[@]}" -ne 0 ]; then
    printf 'failed: %s\n' "${failed[@]}" | tee "$out/FAILED.txt"
    exit 1
fi
echo "all GPU checks passed; results in $out"
