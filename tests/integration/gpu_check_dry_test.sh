#!/usr/bin/env bash
# launch/gpu-check.sh without a GPU: its options (--help, an unknown option, --out without a
# folder), its refusal of a package folder that is missing or empty (the message names the
# missing packages and data files), and, when .gpu-deps/ is there (launch/gpu-check.sh --fetch),
# the whole dry run: every package unpacked, CMake's configure step against them in
# build/gpu-dry, every dependency found in the unpacked prefix.
#
#   tests/integration/gpu_check_dry_test.sh
#
# Exit status: 0 passed, 77 skipped (the checks without packages passed, but .gpu-deps/ is absent,
# as in a fresh clone: the dry run was not run), anything else failed. DGR_GPU_DEPS names another
# package folder for the dry run.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SCRIPT="$ROOT/launch/gpu-check.sh"
DEPS="${DGR_GPU_DEPS:-$ROOT/.gpu-deps}"
T="$(mktemp -d "${TMPDIR:-/tmp}/dgr-gpu-check-test.XXXXXX")"
trap 'rm -rf "$T"' EXIT
passed=0

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
pass() {
  echo "ok: $*"
  passed=$((passed + 1))
}
expect_in() {
  [[ "$1" == *"$2"* ]] || fail "$3: expected '$2' in:
$1"
}
# run CMD...: sets out (stdout and stderr) and rc.
run() {
  out="$("$@" 2>&1)"
  rc=$?
}

[[ -x "$SCRIPT" ]] || fail "$SCRIPT is missing or not executable"

run "$SCRIPT" --help
[[ $rc -eq 0 ]] || fail "--help exited $rc"
for word in --fetch --dry-run --out .gpu-deps gpu-report.md 570; do
  expect_in "$out" "$word" "--help"
done
pass "--help prints the header (exit 0)"

run "$SCRIPT" --no-such-option
[[ $rc -eq 2 ]] || fail "an unknown option exited $rc, not 2: $out"
expect_in "$out" "unknown option '--no-such-option'" "unknown option"
pass "an unknown option exits 2"

run "$SCRIPT" --out
[[ $rc -eq 2 ]] || fail "--out without a folder exited $rc, not 2: $out"
pass "--out without a folder exits 2"

run env DGR_GPU_DEPS="$T/absent" "$SCRIPT" --dry-run
[[ $rc -eq 1 ]] || fail "--dry-run without a package folder exited $rc, not 1: $out"
expect_in "$out" "no $T/absent" "missing folder"
expect_in "$out" "--fetch" "missing folder"
pass "--dry-run without a package folder fails and says to run --fetch"

mkdir -p "$T/empty"
run env DGR_GPU_DEPS="$T/empty" "$SCRIPT" --dry-run
[[ $rc -eq 1 ]] || fail "--dry-run with an empty package folder exited $rc, not 1: $out"
expect_in "$out" "$T/empty lacks" "empty folder"
for pkg in libopenmpi-dev libhdf5-openmpi-dev libyaml-cpp-dev libgoogle-glog-dev libsdsl-dev \
           nlohmann-json3-dev libgtest-dev libbenchmark-dev; do
  expect_in "$out" " $pkg" "empty folder"
done
expect_in "$out" "data/msmarco-dl19/corpus.jsonl" "empty folder"
pass "--dry-run with an empty package folder fails naming the missing packages and data files"

# A folder that lacks one package: the message names that one alone.
if [[ -d "$DEPS" ]]; then
  mkdir -p "$T/partial"
  for f in "$DEPS"/*.deb; do
    [[ "$(basename "$f")" == libyaml-cpp-dev_* ]] || ln -s "$f" "$T/partial/"
  done
  ln -s "$DEPS/data" "$T/partial/data"
  run env DGR_GPU_DEPS="$T/partial" "$SCRIPT" --dry-run
  [[ $rc -eq 1 ]] || fail "--dry-run with a package missing exited $rc, not 1: $out"
  expect_in "$out" "lacks 1 of" "one package missing"
  expect_in "$out" ": libyaml-cpp-dev" "one package missing"
  pass "--dry-run names the one package missing"
fi

if [[ ! -d "$DEPS" ]]; then
  echo "$passed passed, 0 failed"
  echo "SKIP: no $DEPS (make it with launch/gpu-check.sh --fetch): the dry run itself was not run"
  exit 77
fi

run env DGR_GPU_DEPS="$DEPS" "$SCRIPT" --dry-run
[[ $rc -eq 0 ]] || fail "--dry-run exited $rc: $out"
expect_in "$out" "dry run ok" "dry run"
expect_in "$out" "parallel: TRUE" "dry run: parallel HDF5"
[[ "$out" != *"not in the prefix"* ]] || fail "dry run: a dependency was found outside the prefix: $out"
for line in "-DDGR_WITH_NCCL=ON" "ninja -C build/gpu" "ctest --test-dir build/gpu -L gpu" \
            "train_step_bench --arch bart-large --device cuda --precision bf16" "--precision fp32" \
            "beam_search_bench --device=cuda"; do
  expect_in "$out" "$line" "dry run: the commands of a GPU run"
done
[[ ! -e "$ROOT/build/gpu-dry" ]] || fail "the dry run left build/gpu-dry behind"
pass "--dry-run unpacks every package and configures against them"

echo "$passed passed, 0 failed"
exit 0
