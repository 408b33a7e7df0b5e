#!/usr/bin/env bash
# Half-written checkpoints. (1) The test hook DGR_FAULT_KILL_DURING_SAVE kills rank 0 in the
# middle of saving a checkpoint: the job ends, the partial temporary directory is left, `latest`
# still names the previous checkpoint; the rerun (without the hook) resumes from that one,
# removes the partial directory at its next save and ends with the uninterrupted run's model.
# (2) With `latest` gone and the newest step-* directory incomplete (a file and the checksums
# missing), the rerun skips it with a warning, resumes from the newest complete checkpoint and
# again ends with the uninterrupted run's model.
#
# Usage: kill_during_save_test.sh DGR_EXE MPIEXEC [ARGS...]   (the MPI launch line without -np)
set -u
DGR=$1
shift
MPIEXEC=("$@")
: "${DGR_SHARED_DATA:?}" "${DGR_TEST_TMP:?}"
WORK=$(mktemp -d "$DGR_TEST_TMP/faults-save.XXXXXX")
trap 'if [[ $? -eq 0 ]]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi' EXIT
source "$(dirname "$0")/lib.sh"

make_stage1_inputs

note "uninterrupted run"
train_stage1 "$WORK/full" >"$WORK/full.log" 2>&1 || fail "uninterrupted run: $(tail -n 30 "$WORK/full.log")"
reference=$(sha "$WORK/full/model/model.safetensors")

killed_step=$((2 * EVERY))
note "(1) rank 0 killed while it saves step $killed_step"
run="$WORK/run"
ckpt="$run/checkpoints"
DGR_FAULT_KILL_DURING_SAVE=$killed_step train_stage1 "$run" >"$WORK/killed.log" 2>&1
rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] || fail "expected the job to die on the injected SIGKILL, exit code $rc"
expect_in "$WORK/killed.log" "DGR_FAULT_KILL_DURING_SAVE=$killed_step: killing this process mid-save"
expect_in "$WORK/killed.log" "exited on signal 9"
shopt -s nullglob
partial=("$ckpt"/.tmp-"$(step_dir $killed_step)".*)
shopt -u nullglob
((${#partial[@]} == 1)) || fail "expected one partial directory .tmp-$(step_dir $killed_step).*: $(ls -A "$ckpt")"
[[ -f ${partial[0]}/model.safetensors && ! -f ${partial[0]}/checksums.yaml ]] ||
  fail "the partial directory should hold the model but no checksums: $(ls -A "${partial[0]}")"
[[ ! -e $ckpt/$(step_dir $killed_step) ]] || fail "a $(step_dir $killed_step) directory appeared"
[[ $(latest_step "$run") -eq $((killed_step - EVERY)) ]] ||
  fail "latest names $(cat "$ckpt/latest"), expected $(step_dir $((killed_step - EVERY)))"

note "rerun without the hook"
train_stage1 "$run" >"$WORK/resumed.log" 2>&1 || fail "resumed run: $(tail -n 30 "$WORK/resumed.log")"
previous=$((killed_step - EVERY))
expect_in "$WORK/resumed.log" "resuming from $ckpt/$(step_dir $previous) at step $previous"
expect_in "$WORK/resumed.log" "left by a checkpoint save that did not finish"
[[ ! -e ${partial[0]} ]] || fail "the partial directory ${partial[0]} was not removed"
[[ $(sha "$run/model/model.safetensors") == "$reference" ]] ||
  fail "the model after resuming from step $previous differs from the uninterrupted run's"

note "(2) latest missing, newest checkpoint incomplete"
rm -rf "$run/model"
rm "$ckpt/latest" "$ckpt/$(step_dir $STEPS)/checksums.yaml" \
  "$ckpt/$(step_dir $STEPS)/optimizer.safetensors"
# The run is complete at step STEPS: with max_steps STEPS it would only re-export, so the newest
# complete checkpoint must be the one before it for training to happen at all.
train_stage1 "$run" >"$WORK/incomplete.log" 2>&1 || fail "rerun: $(tail -n 30 "$WORK/incomplete.log")"
expect_in "$WORK/incomplete.log" "$ckpt/$(step_dir $STEPS) is not a complete checkpoint, so it is skipped"
previous=$((STEPS - EVERY))
expect_in "$WORK/incomplete.log" "resuming from $ckpt/$(step_dir $previous) at step $previous"
[[ $(sha "$run/model/model.safetensors") == "$reference" ]] ||
  fail "the model after resuming from step $previous differs from the uninterrupted run's"
[[ -f $ckpt/$(step_dir $STEPS)/checksums.yaml && $(latest_step "$run") -eq $STEPS ]] ||
  fail "step $STEPS was not saved again as a complete checkpoint"

note "every directory without checksums and no latest: a DataError, not a fresh start"
rm -rf "$run/model" "$ckpt/latest" "$ckpt"/step-*/checksums.yaml
train_stage1 "$run" >"$WORK/none.log" 2>&1
rc=$?
[[ $rc -eq 2 ]] || fail "expected exit code 2 when no checkpoint is complete, got $rc"
expect_in "$WORK/none.log" "none is complete and \`latest\` is missing"
echo "PASS: the half-written and the incomplete checkpoints were skipped; both reruns match"
