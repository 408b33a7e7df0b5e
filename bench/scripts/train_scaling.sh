#!/usr/bin/env bash
# Data-parallel scaling of `dgr train` (stage 1) on one machine, side by side in one run: the same
# global batch on 1 rank x 1 thread, 2 ranks x 1 thread (train.overlap auto / true, MPI_Allreduce
# instead of the shared-memory all-reduce: 2x1-mpi, ZeRO-1) and
# 1 rank x 2 threads, round-robin so that every setting sees the same machine load. The setting
# 2x1-independent runs two unrelated 1-rank trainings of half the batch at the same time: the
# ceiling of 2 ranks on this machine without any communication. The model is
# randomly initialised with bart-base dimensions; the examples are Cranfield's stage-1 examples.
# Reports, per setting, the median step time (steps after the first two), samples/s, the exposed
# communication share and the speed-up over 1 x 1.
#
#   bench/scripts/train_scaling.sh [--arch bart-base] [--steps 8] [--batch 16] [--micro 8]
#                                  [--rounds 2] [--build DIR] [--settings "1x1 2x1 ..."]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$ROOT/build/release"
ARCH=bart-base
STEPS=8
BATCH=16
MICRO=8
ROUNDS=2
SETTINGS="1x1 2x1 2x1-overlap 2x1-mpi 2x1-zero1 1x2 2x1-independent"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --arch) ARCH="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --batch) BATCH="$2"; shift 2 ;;
    --micro) MICRO="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --build) BUILD="$2"; shift 2 ;;
    --settings) SETTINGS="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
DATA="${DGR_DATA:-$ROOT/../shared/data}"
DGR="$BUILD/bin/dgr"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dgr-train-scaling.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none)

"$DGR" model init --tokenizer "$DATA/tokenizer/bart" --out "$WORK/init" \
  --set model.arch="$ARCH" > "$WORK/init.log" 2>&1
"$DGR" examples build --dataset "$DATA/cranfield" --tokenizer "$DATA/tokenizer/bart" \
  --out "$WORK/examples.h5" --set examples.unsupervised=false > "$WORK/examples.log" 2>&1

run() {  # setting round -> one result line
  local setting="$1" round="$2" ranks threads extra=()
  ranks="${setting%%x*}"
  threads="${setting#*x}"
  threads="${threads%%-*}"
  local batch="$BATCH" copies=1
  case "$setting" in
    *-zero1) extra=(--set train.zero_stage=1) ;;
    *-overlap) extra=(--set train.overlap=true) ;;
    *-mpi) extra=(--set train.shared_memory=false) ;;
    *-independent) ranks=1; copies=2; batch=$((BATCH / 2)) ;;
  esac
  local out="$WORK/run-$setting-$round" pids=() logs=()
  for ((c = 0; c < copies; c++)); do
    OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads "${MPIRUN[@]}" -np "$ranks" "$DGR" train \
      --init-from "$WORK/init" --examples "$WORK/examples.h5" --out "$out-$c" \
      --set run.threads="$threads" --set train.global_batch="$batch" \
      --set train.micro_batch="$MICRO" --set train.max_steps="$STEPS" --set train.log_every=1 \
      --set train.warmup_steps=0 --set train.decay=constant --set train.checkpoint_every=100000 \
      --set train.resume=false "${extra[@]}" > "$out-$c.log" 2>&1 &
    pids+=($!)
    logs+=("$out-$c/train_log.jsonl")
  done
  for ((c = 0; c < copies; c++)); do
    wait "${pids[$c]}" || { echo "train failed for $setting; see the log:" >&2
                            tail -20 "$out-$c.log" >&2; exit 1; }
  done
  python3 - "$setting" "$BATCH" "${logs[@]}" <<'PY'
import json, statistics, sys
# Independent copies: the slower copy's steps (both must finish for the whole batch).
# Step rows only: the log also holds probe and evaluation rows, which carry no timings.
runs = [[r for r in map(json.loads, open(path)) if "seconds" in r] for path in sys.argv[3:]]
rows = max(runs, key=lambda r: statistics.median(x["seconds"]["step"] for x in r))
steady = [r for r in rows if r["step"] > 2] or rows
step = statistics.median(r["seconds"]["step"] for r in steady)
exposed = statistics.median(r["seconds"]["communication_exposed"] for r in steady)
opt = statistics.median(r["seconds"]["optimizer"] for r in steady)
fwd = statistics.median(r["seconds"]["forward"] for r in steady)
bwd = statistics.median(r["seconds"]["backward"] for r in steady)
print("%s %.4f %.4f %.4f %.4f %.4f %.3f" % (sys.argv[1], step, int(sys.argv[2]) / step, exposed / step, fwd, bwd, opt))
PY
}

echo "arch $ARCH, global batch $BATCH (micro $MICRO), $STEPS steps, $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
: > "$WORK/results"
for ((r = 0; r < ROUNDS; r++)); do
  for s in $SETTINGS; do
    line=$(run "$s" "$r")
    echo "round $r: $line"
    echo "$line" >> "$WORK/results"
  done
done
python3 - "$WORK/results" <<'PY'
import statistics, sys
by = {}
for line in open(sys.argv[1]):
    f = line.split()
    by.setdefault(f[0], []).append([float(x) for x in f[1:]])
base = statistics.median(r[1] for r in by.get("1x1", [[0, 0]])) or None
print("| ranks x threads | step s | samples/s | exposed comm / step | forward s | backward s | optimizer s | vs 1x1 |")
print("|---|---|---|---|---|---|---|---|")
for name, rows in by.items():
    med = [statistics.median(c) for c in zip(*rows)]
    speed = ("%.2fx" % (med[1] / base)) if base else "-"
    print("| %s | %.2f | %.2f | %.1f%% | %.2f | %.2f | %.2f | %s |" % (
        name, med[0], med[1], 100 * med[2], med[3], med[4], med[5], speed))
PY
