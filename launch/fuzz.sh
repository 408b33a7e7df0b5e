#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz/ for a fixed time each; exits 1 when one has a finding.
# Installs clang and builds the "fuzz" preset first (through launch/setup.sh).
#
#   launch/fuzz.sh [--seconds N] [--no-setup] [target...]
#
# Targets: config jsonl tsv trec_run trec_qrels safetensors bpe_load bpe_encode (default: all).
# Each runs N seconds (default 20, about 3 minutes for all) with a 10 s per-input timeout and a
# 2 GiB memory limit, on a copy of its seed corpus in a temporary directory: the committed
# corpus never grows by itself. When ../shared/data is there (or $DGR_SHARED_DATA), a few lines
# of its real files are added to the copies as extra seeds. Every target runs; for each finding
# it prints the target and the saved input (copied to build/fuzz/findings/<target>/). Replay one
# with build/fuzz/fuzz/dgr_fuzz_<target> <file>.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_EACH=20
SETUP=1
TARGETS=()
ALL_TARGETS=(config jsonl tsv trec_run trec_qrels safetensors bpe_load bpe_encode)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    --seconds=*) SECONDS_EACH="${1#*=}"; shift ;;
    --no-setup) SETUP=0; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=("${ALL_TARGETS[@]}")
if ! [[ "$SECONDS_EACH" =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: --seconds takes a positive number of seconds, got '$SECONDS_EACH'" >&2
  exit 2
fi
for target in "${TARGETS[@]}"; do
  if [[ ! " ${ALL_TARGETS[*]} " =~ " $target " ]]; then
    echo "fuzz.sh: unknown target '$target' (known: ${ALL_TARGETS[*]})" >&2
    exit 2
  fi
done

log() { echo "[fuzz] $*" >&2; }

if [[ $SETUP -eq 1 ]]; then
  "$ROOT/launch/setup.sh" --preset fuzz
fi
BIN="$ROOT/build/fuzz/fuzz"
FINDINGS="$ROOT/build/fuzz/findings"
DATA="${DGR_SHARED_DATA:-$ROOT/../shared/data}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dgr-fuzz-run.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# Extra seeds cut from the shared data sets at run time (never committed): the first lines of
# real files are realistic inputs the hand-written seeds may lack.
add_shared_seeds() {
  local target="$1" dir="$2"
  [[ -d "$DATA" ]] || return 0
  local n=0 file
  case "$target" in
    jsonl) for file in "$DATA"/*/corpus.jsonl "$DATA"/*/queries.jsonl; do
             [[ -f "$file" ]] && head -n 5 "$file" > "$dir/shared-$((n++)).jsonl"
           done ;;
    tsv) for file in "$DATA"/*/qrels/*.tsv; do
           [[ -f "$file" ]] && head -n 8 "$file" > "$dir/shared-$((n++)).tsv"
         done ;;
    trec_run) for file in "$DATA"/*/runs/*.trec; do
                [[ -f "$file" ]] && head -n 20 "$file" > "$dir/shared-$((n++)).trec"
              done ;;
    config) for file in "$ROOT"/configs/*.yaml; do
              [[ -f "$file" ]] && grep -v '^extends:' "$file" > "$dir/shared-$((n++)).yaml"
            done ;;
  esac
  return 0
}

status=0
for target in "${TARGETS[@]}"; do
  exe="$BIN/dgr_fuzz_$target"
  [[ -x "$exe" ]] || { log "missing $exe (build the fuzz preset)"; exit 1; }
  corpus="$WORK/$target/corpus"
  artifacts="$WORK/$target/artifacts"
  mkdir -p "$corpus" "$artifacts"
  cp "$ROOT/tests/fuzz/corpus/$target"/* "$corpus"/
  add_shared_seeds "$target" "$corpus"
  log "$target: ${SECONDS_EACH}s on $(ls "$corpus" | wc -l) seeds"
  set +e
  (cd "$WORK/$target" && ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" \
     UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
     "$exe" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
     -artifact_prefix="$artifacts/" "$corpus" > "$WORK/$target/log" 2>&1)
  rc=$?
  set -e
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" \
    "$WORK/$target/log" | awk -v t="$target" '!seen[$0]++ { print "[fuzz] " t " " $0 }' >&2 || true
  if [[ $rc -ne 0 ]]; then
    status=1
    mkdir -p "$FINDINGS/$target"
    tail -n 60 "$WORK/$target/log" >&2
    for crash in "$artifacts"/*; do
      [[ -f "$crash" ]] || continue
      cp "$crash" "$FINDINGS/$target/"
      log "FINDING in $target: $FINDINGS/$target/$(basename "$crash")"
    done
    log "$target failed (exit $rc); replay with $exe <file>"
  fi
done
if [[ $status -ne 0 ]]; then
  log "findings above; fix the reader and add the input as a seed or a unit test"
else
  log "no findings in ${TARGETS[*]} (${SECONDS_EACH}s each)"
fi
exit $status
