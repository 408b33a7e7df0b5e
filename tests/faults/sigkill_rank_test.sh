#!/usr/bin/env bash
# An external SIGKILL of rank 1 in the middle of `dgr train` on 2 ranks (stage 1, or
# distillation): the job must end (no rank left waiting in a collective) with Open MPI's report
# of the killed rank, and running the same command again must resume from the last complete
# checkpoint and end with a model and optimizer state byte for byte equal to those of an
# uninterrupted run.
#
# Usage: sigkill_rank_test.sh DGR_EXE stage1|distill MPIEXEC [ARGS...]
#        (MPIEXEC ARGS: the MPI launch line without -np)
set -u
DGR=$1
STAGE=$2
shift 2
MPIEXEC=("$@")
: "${DGR_SHARED_DATA:?}" "${DGR_TEST_TMP:?}"
WORK=$(mktemp -d "$DGR_TEST_TMP/faults-sigkill.XXXXXX")
trap 'if [[ $? -eq 0 ]]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi' EXIT
source "$(dirname "$0")/lib.sh"

make_stage1_inputs
case $STAGE in
  stage1) done_line="trained steps" ;;
  distill)
    make_distill_inputs
    done_line="distilled steps"
    # A distillation step of this tiny student takes ~0.03 s, so 10 steps after the checkpoint
    # that triggers the kill passed in 0.75 s, and under a loaded ctest -j2 the kill once came
    # after the last checkpoint. 40 steps leave it about 2 s.
    STEPS=40
    ;;
  *) fail "unknown stage $STAGE (stage1 or distill)" ;;
esac

note "uninterrupted run"
train_$STAGE "$WORK/full" >"$WORK/full.log" 2>&1 || fail "uninterrupted run: $(tail -n 30 "$WORK/full.log")"
reference=$(sha "$WORK/full/model/model.safetensors")

note "the same run, rank 1 killed once a checkpoint past the first exists"
run="$WORK/killed"
train_$STAGE "$run" >"$WORK/killed.log" 2>&1 &
job=$!
wait_until 300 "[[ -d $run/checkpoints/$(step_dir $((2 * EVERY))) ]] || ! kill -0 $job 2>/dev/null"
kill -0 "$job" 2>/dev/null || fail "the run ended before it could be killed: $(tail -n 30 "$WORK/killed.log")"
victim=$(rank_pid 1 "$run")
kill -9 "$victim"
note "sent SIGKILL to rank 1 (pid $victim)"
if ! ended_within "$job" 60; then
  kill -TERM "$job" 2>/dev/null  # `timeout` passes it on to mpirun
  fail "the job still runs 60 s after rank 1 was killed: rank 0 hangs"
fi
wait "$job"
rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] || fail "expected the killed job to fail on its own, exit code $rc"
# Open MPI's report of the dead rank.
expect_in "$WORK/killed.log" "exited on signal 9"
[[ ! -d $run/model ]] || fail "the killed run exported a model"
resume_step=$(latest_step "$run")
((resume_step >= 2 * EVERY && resume_step < STEPS)) ||
  fail "latest names step $resume_step, expected a step in [$((2 * EVERY)), $STEPS)"

note "rerun: resumes from step $resume_step"
train_$STAGE "$run" >"$WORK/resumed.log" 2>&1 || fail "resumed run: $(tail -n 30 "$WORK/resumed.log")"
expect_in "$WORK/resumed.log" "resuming from $run/checkpoints/$(step_dir "$resume_step") at step $resume_step"
expect_in "$WORK/resumed.log" "$done_line $resume_step -> $STEPS"
resumed=$(sha "$run/model/model.safetensors")
[[ $resumed == "$reference" ]] ||
  fail "the resumed model differs from the uninterrupted one ($resumed vs $reference)"
# The checkpoints of the steps after the resume equal the uninterrupted run's, optimizer included.
for file in model.safetensors optimizer.safetensors; do
  a=$(sha "$WORK/full/checkpoints/$(step_dir $STEPS)/$file")
  b=$(sha "$run/checkpoints/$(step_dir $STEPS)/$file")
  [[ $a == "$b" ]] || fail "step $STEPS: $file differs from the uninterrupted run's"
done
echo "PASS ($STAGE): SIGKILL of rank 1 ended the job; the rerun resumed at step $resume_step and matches"
