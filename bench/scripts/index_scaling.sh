#!/usr/bin/env bash
# Index build scaling: the same corpus built with 1 rank and with 2 ranks (1 thread each), side
# by side in one run, on a synthetic corpus (default 800k passages of ~60 words, about 60M BPE
# tokens with views) or on a corpus given with --corpus. Prints seconds and the speed-up.
#
#   bench/scripts/index_scaling.sh [--passages N] [--corpus FILE] [--build DIR] [--repeat K]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$ROOT/build/release"
PASSAGES=800000
CORPUS=""
REPEAT=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --passages) PASSAGES="$2"; shift 2 ;;
    --corpus) CORPUS="$2"; shift 2 ;;
    --build) BUILD="$2"; shift 2 ;;
    --repeat) REPEAT="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
DATA="${DGR_DATA:-$ROOT/../shared/data}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dgr-index-scaling.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
if [[ -z "$CORPUS" ]]; then
  CORPUS="$WORK/corpus.jsonl"
  "$BUILD/bench/synthetic_corpus" "$CORPUS" "$PASSAGES" 60 1
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
MPIRUN=(mpirun --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none)
run() {  # ranks -> seconds
  local start end
  start=$(date +%s.%N)
  "${MPIRUN[@]}" -np "$1" "$BUILD/bin/dgr" index build --corpus "$CORPUS" \
    --tokenizer "$DATA/tokenizer/bart" --out "$WORK/index-$1" > "$WORK/log-$1" 2>&1
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}
echo "corpus: $CORPUS ($(wc -l < "$CORPUS") passages, $(du -h "$CORPUS" | cut -f1))"
for ((i = 0; i < REPEAT; i++)); do
  t1=$(run 1)
  t2=$(run 2)
  tokens=$(grep -o '[0-9]* tokens,' "$WORK/log-1" | head -1)
  echo "run $i: 1 rank ${t1} s, 2 ranks ${t2} s, speed-up $(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", a / b }') ($tokens)"
  grep -h "built on" "$WORK/log-1" "$WORK/log-2"
done
