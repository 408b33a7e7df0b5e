# shellcheck shell=bash
# Shared by the fault tests (sourced): a tiny stage-1 setup on the shared Cranfield data, the
# training command, bounded waits, and the lookup of one MPI rank's process. Every command that
# could hang runs under `timeout`.
#
# Expects: DGR (the executable), MPIEXEC (array: the MPI launch line without -np),
# DGR_SHARED_DATA (the shared data sets), WORK (this test's scratch directory).

set -u

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

note() {
  echo "-- $*"
}

# Fails unless file $1 contains the fixed string $2 (prints the file when it does not).
expect_in() {
  if ! grep -qF -- "$2" "$1"; then
    echo "---- $1" >&2
    tail -n 40 "$1" >&2
    fail "$1 does not contain: $2"
  fi
}

# A tiny BART (model.arch tiny, seed 3) and the stage-1 examples of Cranfield's training split,
# once per test in $WORK.
make_stage1_inputs() {
  local tokenizer="$DGR_SHARED_DATA/tokenizer/bart"
  timeout 120 "$DGR" model init --tokenizer "$tokenizer" --out "$WORK/init" \
    --set model.arch=tiny --set run.seed=3 >"$WORK/init.log" 2>&1 ||
    fail "model init: $(cat "$WORK/init.log")"
  timeout 120 "$DGR" examples build --dataset "$DGR_SHARED_DATA/cranfield" \
    --tokenizer "$tokenizer" --out "$WORK/examples.h5" --set examples.unsupervised=false \
    >"$WORK/examples.log" 2>&1 || fail "examples build: $(cat "$WORK/examples.log")"
}

# The stage-1 training command on 2 ranks into run directory $1, further arguments appended:
# 20 steps, a checkpoint every 5, all checkpoints kept, dropout as the model config has it
# (0.1), so that a resumed run must also continue every rank's dropout stream exactly.
STEPS=20
EVERY=5
train_stage1() {
  local run=$1
  shift
  timeout 300 "${MPIEXEC[@]}" -np 2 "$DGR" train --init-from "$WORK/init" \
    --examples "$WORK/examples.h5" --out "$run" --set run.threads=1 \
    --set train.global_batch=8 --set train.micro_batch=4 --set train.lr=1e-3 \
    --set train.warmup_steps=5 --set train.max_steps=$STEPS \
    --set train.checkpoint_every=$EVERY --set train.keep_last=0 --set train.log_every=5 \
    --set train.bucket_mb=0.5 "$@"
}

# Polls (every 0.1 s, at most $1 seconds) until the shell condition $2 holds; fails otherwise.
wait_until() {
  local limit=$1 condition=$2 i
  for ((i = 0; i < limit * 10; ++i)); do
    if eval "$condition"; then return 0; fi
    sleep 0.1
  done
  fail "still not true after $limit s: $condition"
}

# True when process $1 has ended within $2 seconds.
ended_within() {
  local pid=$1 limit=$2 i
  for ((i = 0; i < limit * 10; ++i)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

# The process id of MPI rank $1 of the job whose command line names $2 (Open MPI sets
# OMPI_COMM_WORLD_RANK in each rank's environment; mpirun and `timeout` have none).
rank_pid() {
  local rank=$1 marker=$2 dir found=""
  for dir in /proc/[0-9]*; do
    # Processes that end during the scan are skipped quietly.
    { tr '\0' '\n' <"$dir/environ"; } 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$rank" || continue
    { tr '\0' ' ' <"$dir/cmdline"; } 2>/dev/null | grep -qF -- "$marker" || continue
    [[ -z $found ]] || fail "two processes of rank $rank name $marker: $found ${dir#/proc/}"
    found=${dir#/proc/}
  done
  [[ -n $found ]] || fail "no process of rank $rank names $marker"
  echo "$found"
}

# The SHA-256 of a file.
sha() {
  sha256sum "$1" | cut -d' ' -f1
}

# The step of the checkpoint a restart of run $1 resumes from: the one `latest` names.
latest_step() {
  local name
  name=$(cat "$1/checkpoints/latest")
  echo $((10#${name#step-}))
}

# The checkpoint directory name of step $1.
step_dir() {
  printf 'step-%07d' "$1"
}

# The inputs of distillation on a corpus of six topics (five passages each, two judged per
# topic's query), as tests/integration/distill_test.cpp builds them, in $WORK: the index, the
# stage-1 examples (for the generation loss) and the BM25 teacher's distillation set over BM25's
# candidates (an untrained student retrieves none). The student is the tiny model of
# make_stage1_inputs (run it first): resuming needs a model that trains, not a good retriever.
make_distill_inputs() {
  local data="$WORK/topics" tokenizer="$DGR_SHARED_DATA/tokenizer/bart" t k
  local topics=("supersonic cone shock" "laminar heat transfer" "cylindrical shell buckling"
    "vortex wake shedding" "swept wing flutter" "nozzle jet noise")
  local kinds=("experiments on" "theory of" "measurements of" "a note on" "calculations of")
  mkdir -p "$data/qrels"
  printf 'query-id\tcorpus-id\tscore\n' >"$data/qrels/train.tsv"
  printf 'query-id\tcorpus-id\tscore\n' >"$data/qrels/test.tsv"
  : >"$data/corpus.jsonl"
  : >"$data/queries.jsonl"
  for t in "${!topics[@]}"; do
    local w
    read -r -a w <<<"${topics[$t]}"
    for k in "${!kinds[@]}"; do
      local id="d$((t * 5 + k))"
      printf '{"_id":"%s","title":"%s %s %s","text":"the %s %s problem is studied for the %s case with %s %s"}\n' \
        "$id" "${kinds[$k]}" "${w[$((k % 3))]}" "${w[$(((k + 1) % 3))]}" "${w[0]}" "${w[1]}" \
        "${w[2]}" "${kinds[$(((k + 2) % 5))]}" "${w[$((k % 3))]}" >>"$data/corpus.jsonl"
      ((k < 2)) && printf 'q%s\t%s\t%s\n' "$t" "$id" $((2 - k)) >>"$data/qrels/train.tsv"
    done
    printf '{"_id":"q%s","text":"%s"}\n' "$t" "${topics[$t]}" >>"$data/queries.jsonl"
    printf 'q%s\td%s\t1\n' "$t" $((t * 5)) >>"$data/qrels/test.tsv"
  done
  local common=(--dataset "$data" --set run.threads=1)
  step() {
    local what=$1
    shift
    timeout 300 "$@" >"$WORK/$what.log" 2>&1 || fail "$what: $(tail -n 30 "$WORK/$what.log")"
  }
  step index "$DGR" index build "${common[@]}" --tokenizer "$tokenizer" --out "$WORK/index"
  step topic-examples "$DGR" examples build "${common[@]}" --tokenizer "$tokenizer" \
    --out "$WORK/topic-examples.h5" --set examples.unsupervised=false \
    --set examples.spans_per_query=3 --set examples.titles_per_query=2
  step teacher "$DGR" teacher rank "${common[@]}" --set teacher.candidates=bm25 \
    --out "$WORK/distill.h5" --set run.out="$WORK/teacher" --set teacher.num_candidates=20
}

# Distillation on 2 ranks into run directory $1 (further arguments appended), with the same
# step count and checkpoint interval as train_stage1 and dropout as the model config has it.
train_distill() {
  local run=$1
  shift
  timeout 300 "${MPIEXEC[@]}" -np 2 "$DGR" train --stage distill --dataset "$WORK/topics" \
    --index "$WORK/index" --init-from "$WORK/init" --examples "$WORK/topic-examples.h5" \
    --distill-set "$WORK/distill.h5" --out "$run" --set run.threads=1 \
    --set train.global_batch=2 --set train.micro_batch=1 --set train.max_steps=$STEPS \
    --set train.lr=1e-3 --set train.warmup_steps=1 --set train.log_every=5 \
    --set train.checkpoint_every=$EVERY --set train.keep_last=0 --set distill.min_negatives=2 \
    --set distill.holdout=2 --set distill.lambda_gen=1 --set distill.margin=5 \
    --set distill.margin_step=1 "$@"
}
