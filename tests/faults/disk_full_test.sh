#!/usr/bin/env bash
# A run directory on a real small file system (a tmpfs): (1) too small for one checkpoint, `dgr
# train` on 2 ranks fails before its first step with an IoError naming the directory, the free
# space and the space a checkpoint needs; (2) big enough for the check and the first checkpoint
# but not the second, the second save fails with an IoError naming the file and ENOSPC, removes
# its temporary directory and leaves the first checkpoint as `latest`; once the file system is
# grown, the rerun resumes from it. Exit code 77 (skipped) where `mount -t tmpfs` is not
# permitted (the unit tests in output_check_test.cpp still cover the check).
#
# Usage: disk_full_test.sh DGR_EXE MPIEXEC [ARGS...]   (the MPI launch line without -np)
set -u
DGR=$1
shift
MPIEXEC=("$@")
: "${DGR_SHARED_DATA:?}" "${DGR_TEST_TMP:?}"
WORK=$(mktemp -d "$DGR_TEST_TMP/faults-disk.XXXXXX")
SMALL="$WORK/small"
cleanup() {
  local rc=$?
  mountpoint -q "$SMALL" && umount "$SMALL"
  if [[ $rc -eq 0 || $rc -eq 77 ]]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT
source "$(dirname "$0")/lib.sh"

mkdir -p "$SMALL"
if ! why=$(mount -t tmpfs -o size=2m tmpfs "$SMALL" 2>&1); then
  echo "SKIP: mount -t tmpfs is not permitted here: $why"
  exit 77
fi

make_stage1_inputs

note "(1) a 2 MiB file system: the pre-flight check fails before step 1"
run="$SMALL/run"
train_stage1 "$run" >"$WORK/small.log" 2>&1
rc=$?
[[ $rc -eq 2 ]] || fail "expected exit code 2 from the pre-flight check, got $rc: $(tail -n 20 "$WORK/small.log")"
expect_in "$WORK/small.log" "I/O error: $run: "
line=$(grep -oE "$run: [0-9]+ MiB free, a checkpoint needs about [0-9]+ MiB" "$WORK/small.log" | head -n 1)
[[ -n $line ]] || fail "no '<dir>: N MiB free, a checkpoint needs about M MiB' in $(cat "$WORK/small.log")"
needed=$(sed -E 's/.*needs about ([0-9]+) MiB/\1/' <<<"$line")
[[ ! -e $run/train_log.jsonl ]] || fail "a step ran before the check failed"
grep -q "training on 2 rank" "$WORK/small.log" && fail "training started before the check failed"

note "(2) room for the check ($needed MiB) and one checkpoint, not two: the second save fails"
umount "$SMALL"
mount -t tmpfs -o size=$((needed + 1))m tmpfs "$SMALL" || fail "remount with $((needed + 1)) MiB"
train_stage1 "$run" >"$WORK/full.log" 2>&1
rc=$?
[[ $rc -eq 2 ]] || fail "expected exit code 2 from the failed save, got $rc: $(tail -n 20 "$WORK/full.log")"
second=$(step_dir $((2 * EVERY)))
grep -qE "I/O error: $run/checkpoints/\.tmp-$second\.[0-9]+/[a-z_.]+: .*No space left on device" \
  "$WORK/full.log" || fail "no IoError naming a file of the second checkpoint and ENOSPC: $(tail -n 20 "$WORK/full.log")"
[[ $(latest_step "$run") -eq $EVERY ]] || fail "latest names $(cat "$run/checkpoints/latest")"
[[ -f $run/checkpoints/$(step_dir $EVERY)/checksums.yaml ]] || fail "the first checkpoint is incomplete"
leftovers=$(find "$run/checkpoints" -mindepth 1 -maxdepth 1 -name '.tmp-*')
[[ -z $leftovers ]] || fail "the failed save left $leftovers"

note "the file system grown: the rerun resumes from step $EVERY"
mount -o remount,size=256m "$SMALL" || fail "remount with 256 MiB"
train_stage1 "$run" >"$WORK/resumed.log" 2>&1 || fail "resumed run: $(tail -n 30 "$WORK/resumed.log")"
expect_in "$WORK/resumed.log" "resuming from $run/checkpoints/$(step_dir $EVERY) at step $EVERY"
expect_in "$WORK/resumed.log" "trained steps $EVERY -> $STEPS"
echo "PASS: the pre-flight check and the full disk were named; the rerun resumed"
