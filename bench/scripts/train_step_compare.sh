#!/usr/bin/env bash
# The same BART training step in Python PyTorch (Debian's python3-torch: the same libtorch and
# BLAS as dgr) and in dgr's C++ (bench/train_step_bench), alternating run by run so that both see
# the same machine load; prints each run's median step and the C++/Python ratio per thread count.
#
# Like for like first: the C++ side writes its initial weights and the batch (safetensors), both
# sides load them, run one dropout-free step (--check 1) and print the mean token loss and four
# gradient norms. The two compute the same function with the same libtorch kernels in another
# order, so they agree to float32 rounding (about 1e-6 relative); the script refuses to time them
# unless the loss agrees to 1e-5 and every norm to 1e-4 relative (a real difference, such as one
# side's extra dropout or another initialisation, shows as percents). The timed runs then start
# from those same weights and batch, with the same dropout rates on both sides.
#
#   bench/scripts/train_step_compare.sh [--arch bart-base] [--threads "1 2"] [--rounds 3]
#                                       [--steps 5] [--build DIR] [--python /usr/bin/python3]
#                                       [--profile DIR]
#
# --profile DIR: the first round of each thread count also profiles three more steps on each side
# (Chrome traces in DIR) and prints the operators whose self time differs most, phase by phase
# (bench/scripts/profile_compare.py).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$ROOT/build/release"
ARCH=bart-base
THREADS="1 2"
ROUNDS=3
STEPS=5
PYTHON=/usr/bin/python3
PROFILE=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --arch) ARCH="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --build) BUILD="$2"; shift 2 ;;
    --python) PYTHON="$2"; shift 2 ;;
    --profile) PROFILE="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
  echo "train_step_compare: $PYTHON cannot import torch (apt-get install python3-torch)" >&2
  exit 1
fi
BENCH="$BUILD/bench/train_step_bench"
[[ -x "$BENCH" ]] || { echo "train_step_compare: build $BENCH first" >&2; exit 1; }
SHARED="$(mktemp -d "${TMPDIR:-/tmp}/dgr-train-step.XXXXXX")"
trap 'rm -rf "$SHARED"' EXIT
WEIGHTS="$SHARED/weights.safetensors"
BATCH="$SHARED/batch.safetensors"
echo "python: $("$PYTHON" -c 'import torch; print("torch", torch.__version__, torch.__file__)')"

# Agreement before any timing.
cpp_check=$(OMP_NUM_THREADS=1 "$BENCH" --arch "$ARCH" --check 1 --save-weights "$WEIGHTS" \
  --save-batch "$BATCH")
py_check=$(OMP_NUM_THREADS=1 "$PYTHON" "$ROOT/bench/scripts/train_step.py" --arch "$ARCH" \
  --check 1 --weights "$WEIGHTS" --batch-file "$BATCH")
echo "$cpp_check"
echo "$py_check"
"$PYTHON" - "$cpp_check" "$py_check" <<'PY' || { echo "train_step_compare: the two steps disagree; not timing them" >&2; exit 1; }
import json, sys
cpp, py = json.loads(sys.argv[1]), json.loads(sys.argv[2])
def close(a, b, rel):
    return abs(a - b) <= rel * max(abs(a), abs(b))
bad = []
if not close(cpp["loss"], py["loss"], 1e-5):
    bad.append("loss %.8g vs %.8g" % (cpp["loss"], py["loss"]))
for name, value in cpp["grad_norms"].items():
    if name not in py["grad_norms"] or not close(value, py["grad_norms"][name], 1e-4):
        bad.append("grad norm of %s %.6g vs %s" % (name, value, py["grad_norms"].get(name)))
if bad:
    print("disagree: " + "; ".join(bad))
    sys.exit(1)
print("agree: loss %.8g, %d gradient norms within 1e-4" % (cpp["loss"], len(cpp["grad_norms"])))
PY
COMMON=(--arch "$ARCH" --steps "$STEPS" --warmup 2 --weights "$WEIGHTS" --batch-file "$BATCH")
for threads in $THREADS; do
  export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
  for ((r = 0; r < ROUNDS; r++)); do
    py_profile=() cpp_profile=()
    if [[ -n "$PROFILE" && $r == 0 ]]; then  # three more steps after the timed ones
      mkdir -p "$PROFILE"
      py_profile=(--profile "$PROFILE/python-$ARCH-$threads.json")
      cpp_profile=(--profile "$PROFILE/cpp-$ARCH-$threads.json")
    fi
    py=$("$PYTHON" "$ROOT/bench/scripts/train_step.py" "${COMMON[@]}" --threads "$threads" \
      "${py_profile[@]}")
    cpp=$("$BENCH" "${COMMON[@]}" --threads "$threads" "${cpp_profile[@]}")
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
  if [[ -n "$PROFILE" ]]; then
    "$PYTHON" "$ROOT/bench/scripts/profile_compare.py" "$PROFILE/cpp-$ARCH-$threads.json" \
      "$PROFILE/python-$ARCH-$threads.json" --top 15
  fi
done
