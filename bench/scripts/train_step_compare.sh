#!/usr/bin/env bash
# The same BART training step in Python PyTorch (Debian's python3-torch: the same libtorch and
# BLAS as dgr) and in dgr's C++ (bench/train_step_bench), alternating run by run so that both see
# the same machine load; prints each run's median step and the C++/Python ratio per thread count.
#
#   bench/scripts/train_step_compare.sh [--arch bart-base] [--threads "1 2"] [--rounds 3]
#                                       [--steps 5] [--build DIR] [--python /usr/bin/python3]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$ROOT/build/release"
ARCH=bart-base
THREADS="1 2"
ROUNDS=3
STEPS=5
PYTHON=/usr/bin/python3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --arch) ARCH="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --build) BUILD="$2"; shift 2 ;;
    --python) PYTHON="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
  echo "train_step_compare: $PYTHON cannot import torch (apt-get install python3-torch)" >&2
  exit 1
fi
BENCH="$BUILD/bench/train_step_bench"
[[ -x "$BENCH" ]] || { echo "train_step_compare: build $BENCH first" >&2; exit 1; }
COMMON=(--arch "$ARCH" --steps "$STEPS" --warmup 2)
echo "python: $("$PYTHON" -c 'import torch; print("torch", torch.__version__, torch.__file__)')"
for threads in $THREADS; do
  export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
  for ((r = 0; r < ROUNDS; r++)); do
    py=$("$PYTHON" "$ROOT/bench/scripts/train_step.py" "${COMMON[@]}" --threads "$threads")
    cpp=$("$BENCH" "${COMMON[@]}" --threads "$threads")
    echo "$py"
    echo "$cpp"
    "$PYTHON" - "$py" "$cpp" <<'PY'
import json, sys
py, cpp = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("threads %d: python %.3f s (fwd %.3f bwd %.3f opt %.3f), C++ %.3f s (fwd %.3f bwd %.3f opt %.3f): C++/python %.2f" % (
    py["threads"], py["step_s"], py["forward_s"], py["backward_s"], py["optimizer_s"],
    cpp["step_s"], cpp["forward_s"], cpp["backward_s"], cpp["optimizer_s"],
    cpp["step_s"] / py["step_s"]))
PY
  done
done
