#!/usr/bin/env bash
# A fatal error on one rank ends the whole MPI job with one clear line on stderr.
#   abort_on_error.sh ABORT_PROBE MPIEXEC [MPIEXEC ARGS...]
# Each run is bounded by `timeout` so that a hang fails here (and mpirun is stopped) before the
# ctest TIMEOUT.
set -u

probe=$1
shift
mpiexec=("$@")
failures=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# run NAME NP ARGS...: runs the probe, leaves stderr in $work/NAME.err and the exit code in $rc.
run() {
  local name=$1 np=$2
  shift 2
  local start end
  start=$(date +%s%N)
  timeout --kill-after=5 40 "${mpiexec[@]}" -np "$np" "$probe" "$@" \
    >"$work/$name.out" 2>"$work/$name.err"
  rc=$?
  end=$(date +%s%N)
  echo "$name: exit code $rc after $(((end - start) / 1000000)) ms"
}

fail() {
  echo "FAIL: $*"
  echo "--- stderr ---"
  cat "$work/$current.err"
  echo "--------------"
  failures=$((failures + 1))
}

# expect NAME NP EXPECTED_CODE MESSAGE ARGS...: EXPECTED_CODE "nonzero" accepts any failure code.
expect() {
  current=$1
  local np=$2 code=$3 message=$4
  shift 4
  run "$current" "$np" "$@"
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    fail "$current: the job hung (killed by timeout)"
    return
  fi
  if [ "$code" = nonzero ]; then
    [ "$rc" -ne 0 ] || fail "$current: exit code 0, expected a failure"
  else
    [ "$rc" -eq "$code" ] || fail "$current: exit code $rc, expected $code"
  fi
  local count
  count=$(grep -cF -- "dgr: $message" "$work/$current.err")
  [ "$count" -eq 1 ] || fail "$current: expected one line 'dgr: $message' on stderr, found $count"
}

# Two ranks: rank 1 fails while rank 0 waits in a barrier.
expect two_ranks 2 nonzero "[rank 1/2] data error: x.tsv:7: expected 3 columns"
# The root fails while rank 1 waits.
expect root_fails 2 nonzero "[rank 0/2] data error: x.tsv:7: expected 3 columns" --fail-rank 0
# Anything that is not a dgr::Error is an internal error.
expect internal 2 nonzero "[rank 1/2] internal error: index out of range" --internal
# One rank: no abort, the exit code says what kind of error it was.
expect single_user_error 1 2 "[rank 0/1] data error: x.tsv:7: expected 3 columns" --fail-rank 0
expect single_internal 1 3 "[rank 0/1] internal error: index out of range" --fail-rank 0 --internal

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all abort checks passed"
