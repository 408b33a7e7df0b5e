#!/usr/bin/env bash
# Bad input seen by one rank of a `mpirun -np 2` job of the real dgr executable ends every rank
# with that error on stderr, instead of leaving the other rank waiting in a collective.
#   mpi_bad_input.sh DGR MPIEXEC [MPIEXEC ARGS...]
# Inputs that differ per rank (a node with a stale or damaged copy of a file) are simulated by
# running each rank through a wrapper that replaces "@R@" in the arguments by the rank, so that
# rank 1 reads x.1 while rank 0 reads the good x.0. Other cases fail on one rank by themselves
# (rows only one rank's slice holds). Each run is bounded by `timeout`: a hang fails the case
# (exit code 124) and the job is killed before the ctest TIMEOUT.
set -u

dgr=$(realpath "$1")
shift
mpiexec=("$@")
data=$(realpath "${DGR_SHARED_DATA:-$(dirname "$0")/../../../../shared/data}")
tokenizer=$data/tokenizer/bart
failures=0
work=$(mktemp -d "${DGR_TEST_TMP:-${TMPDIR:-/tmp}}/mpi-bad-input.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

# Rank of this process under Open MPI (or PMIx launchers): the wrapper that makes a path per rank.
cat >per_rank.sh <<'WRAPPER'
#!/usr/bin/env bash
rank=${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-0}}
exe=$1
shift
args=()
for a in "$@"; do args+=("${a//@R@/$rank}"); done
exec "$exe" "${args[@]}"
WRAPPER
chmod +x per_rank.sh

setup() {
  local what=$1
  shift
  if ! "$@" >"setup-$what.log" 2>&1; then
    echo "SETUP FAILED: $what"
    cat "setup-$what.log"
    exit 1
  fi
}

# Six topics of five passages; each topic's query judges two passages of its topic.
mkdir -p data/qrels
topics=("supersonic cone shock" "laminar heat transfer" "cylindrical shell buckling"
        "vortex wake shedding" "swept wing flutter" "nozzle jet noise")
kinds=("experiments on" "theory of" "measurements of" "a note on" "calculations of")
printf 'query-id\tcorpus-id\tscore\n' >data/qrels/train.tsv
cp data/qrels/train.tsv data/qrels/test.tsv
: >data/corpus.jsonl
: >data/queries.jsonl
for t in 0 1 2 3 4 5; do
  read -r a b c <<<"${topics[$t]}"
  for k in 0 1 2 3 4; do
    printf '{"_id": "d%d", "title": "%s %s %s", "text": "the %s %s problem is studied for the %s case"}\n' \
      $((t * 5 + k)) "${kinds[$k]}" "$a" "$b" "$a" "$b" "$c" >>data/corpus.jsonl
  done
  printf '{"_id": "q%d", "text": "%s %s %s"}\n' "$t" "$a" "$b" "$c" >>data/queries.jsonl
  printf 'q%d\td%d\t2\nq%d\td%d\t1\n' "$t" $((t * 5)) "$t" $((t * 5 + 1)) >>data/qrels/train.tsv
  printf 'q%d\td%d\t1\n' "$t" $((t * 5)) >>data/qrels/test.tsv
done

train_flags=(--set run.threads=1 --set train.global_batch=4 --set train.warmup_steps=1
             --set train.checkpoint_every=2)
setup model "$dgr" model init --tokenizer "$tokenizer" --out model --set model.arch=tiny \
  --set run.seed=3
setup examples "$dgr" examples build --dataset data --tokenizer "$tokenizer" --out examples.h5 \
  --set examples.unsupervised=false
setup index "$dgr" index build --dataset data --tokenizer "$tokenizer" --out index
setup run "$dgr" train --init-from model --examples examples.h5 --out run \
  --set train.max_steps=2 "${train_flags[@]}"
setup small-tokenizer "$dgr" tokenizer train --dataset data --out small-tokenizer --vocab-size 300
setup small-model "$dgr" model init --tokenizer small-tokenizer --out small-model \
  --set model.arch=tiny

# expect NAME MESSAGE... -- COMMAND...: runs COMMAND on 2 ranks; it must fail (not hang), leave
# no rank behind, and print every MESSAGE (fixed strings) on stderr.
expect() {
  local name=$1
  shift
  local messages=()
  while [ "$1" != "--" ]; do
    messages+=("$1")
    shift
  done
  shift
  local start end rc
  start=$(date +%s%N)
  timeout --kill-after=10 120 "${mpiexec[@]}" -np 2 "$@" >"$name.out" 2>"$name.err"
  rc=$?
  end=$(date +%s%N)
  echo "$name: exit code $rc after $(((end - start) / 1000000)) ms"
  local failed=0
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "FAIL: $name: the job hung (killed by timeout)"
    failed=1
  elif [ "$rc" -eq 0 ]; then
    echo "FAIL: $name: exit code 0, expected a failure"
    failed=1
  fi
  for message in "${messages[@]}"; do
    if ! grep -qF -- "$message" "$name.err"; then
      echo "FAIL: $name: stderr lacks: $message"
      failed=1
    fi
  done
  # Both ranks are gone: no process still runs with this case's working directory in its command
  # line (each case's inputs live under $work).
  local left
  left=$(pgrep -f -- "$work/" || true)
  if [ -n "$left" ]; then
    echo "FAIL: $name: processes left behind: $left"
    failed=1
  fi
  if [ "$failed" -ne 0 ]; then
    echo "--- stderr of $name ---"
    head -c 4000 "$name.err"
    echo "-----------------------"
    failures=$((failures + 1))
  fi
}

# 1. The config file exists on rank 0 only: rank 1 stops at argument parsing, before MPI_Init.
printf 'train:\n  max_steps: 2\n' >cfg.0.yaml
expect config_missing_on_rank1 "cfg.1.yaml" -- \
  ./per_rank.sh "$dgr" train "$work/cfg.@R@.yaml" --init-from model --examples examples.h5 \
  --out "$work/out-config-missing" "${train_flags[@]}"

# 2. Rank 1's copy of the config is cut short (malformed YAML).
printf 'train: [max_steps\n' >cfg.1.yaml
expect config_malformed_on_rank1 "dgr: [rank 1/2] config error: $work/cfg.1.yaml:" -- \
  ./per_rank.sh "$dgr" train "$work/cfg.@R@.yaml" --init-from model --examples examples.h5 \
  --out "$work/out-config-malformed" "${train_flags[@]}"

# 3. Rank 1's copy of the stage-1 example store is truncated.
cp examples.h5 examples.0.h5
head -c 3000 examples.h5 >examples.1.h5
expect examples_truncated_on_rank1 "dgr: [rank 1/2] data error: $work/examples.1.h5:" -- \
  ./per_rank.sh "$dgr" train --init-from model --examples "$work/examples.@R@.h5" \
  --out "$work/out-examples" --set train.max_steps=2 "${train_flags[@]}"

# 4. Rank 1's copy of the initial model has a NaN weight (the last 4 bytes of the data section:
# the last element of final_logits_bias).
cp -r model model.0
cp -r model model.1
weights=model.1/model.safetensors
printf '\x00\x00\xc0\x7f' | dd of="$weights" bs=1 seek=$(($(stat -c %s "$weights") - 4)) \
  conv=notrunc status=none
expect nan_weights_on_rank1 \
  "dgr: [rank 1/2] data error: $work/model.1/model.safetensors: tensor 'final_logits_bias'" \
  "not finite" -- \
  ./per_rank.sh "$dgr" train --init-from "$work/model.@R@" --examples examples.h5 \
  --out "$work/out-nan" --set train.max_steps=2 "${train_flags[@]}"

# 5. Resuming: rank 1's copy of the checkpoint has a truncated optimizer state.
cp -r run run.0
cp -r run run.1
optimizer=run.1/checkpoints/step-0000002/optimizer.safetensors
truncate -s $(($(stat -c %s "$optimizer") - 100)) "$optimizer"
expect checkpoint_damaged_on_rank1 \
  "dgr: [rank 1/2] data error: $work/run.1/checkpoints/step-0000002/optimizer.safetensors:" -- \
  ./per_rank.sh "$dgr" train --init-from model --examples examples.h5 --out "$work/run.@R@" \
  --set train.max_steps=4 "${train_flags[@]}"

# 6. Resuming from a checkpoint whose `latest` is garbage, seen by both ranks at once.
cp -r run run.both
printf 'step-00000\x01\x02\n' >run.both/checkpoints/latest
expect checkpoint_damaged_on_all "data error: $work/run.both/checkpoints/latest:" -- \
  "$dgr" train --init-from model --examples examples.h5 --out "$work/run.both" \
  --set train.max_steps=4 "${train_flags[@]}"

# 7. Retrieval: rank 1's copy of the index has a corrupted shard (checksums verified), then a
# truncated one with verification off (the shard reader itself must refuse it).
cp -r index index.0
cp -r index index.1
printf 'XXXXXXXX' | dd of=index.1/shard-00000.fmi bs=1 seek=100 conv=notrunc status=none
expect index_shard_corrupt_on_rank1 "dgr: [rank 1/2] data error: $work/index.1/shard-00000.fmi:" -- \
  ./per_rank.sh "$dgr" retrieve --dataset data --index "$work/index.@R@" --init-from model \
  --out "$work/out-retrieve" --set run.threads=1 --set search.beam_size=2
expect index_shard_corrupt_unverified_on_rank1 \
  "dgr: [rank 1/2] data error: $work/index.1/shard-00000.fmi:" -- \
  ./per_rank.sh "$dgr" retrieve --dataset data --index "$work/index.@R@" --init-from model \
  --out "$work/out-retrieve-unverified" --set run.threads=1 --set search.beam_size=2 \
  --set index.verify_checksums=false
cp index/shard-00000.fmi index.1/shard-00000.fmi
truncate -s 3000 index.1/shard-00000.fmi
expect index_shard_truncated_on_rank1 "dgr: [rank 1/2] data error: $work/index.1/shard-00000.fmi:" -- \
  ./per_rank.sh "$dgr" retrieve --dataset data --index "$work/index.@R@" --init-from model \
  --out "$work/out-retrieve-truncated" --set run.threads=1 --set search.beam_size=2 \
  --set index.verify_checksums=false

# 8. The teacher: a judgment of the last query (in rank 1's slice of the training queries) has a
# grade that does not fit the set's labels; only rank 1 meets it.
cp -r data data-grade
sed -i 's/^q5\td26\t1$/q5\td26\t300/' data-grade/qrels/train.tsv
expect teacher_bad_grade_in_rank1_slice \
  "dgr: [rank 1/2] data error: data-grade/qrels/train.tsv: grade 300 of query 'q5'" -- \
  "$dgr" teacher rank --dataset data-grade --out "$work/distill-grade.h5" \
  --set teacher.candidates=bm25 --set run.out="$work/teacher-grade" \
  --set teacher.num_candidates=30 --set run.threads=1

# 9. Stage-1 training of a model whose vocabulary (300 tokens) is smaller than the example
# store's tokenizer: a data error naming the store, not a crash inside torch.
expect examples_of_another_tokenizer \
  "data error: $work/examples.h5: stage-1 example of" "outside the model's vocabulary of 300" -- \
  "$dgr" train --init-from small-model --examples "$work/examples.h5" --out "$work/out-vocab" \
  --set train.max_steps=2 "${train_flags[@]}"

# 10. The gradient backend does not match where the model lives: refused before any work, with
# both keys named (MPI all-reduces host memory, NCCL GPU memory).
expect backend_mpi_with_gpu_model \
  "config error: train.backend is mpi but model.device is cuda" -- \
  "$dgr" train --init-from model --examples "$work/examples.h5" --out "$work/out-backend-mpi" \
  --set train.max_steps=2 --set model.device=cuda "${train_flags[@]}"
expect backend_nccl_with_cpu_model \
  "config error: train.backend is nccl but model.device is cpu" -- \
  "$dgr" train --init-from model --examples "$work/examples.h5" --out "$work/out-backend-nccl" \
  --set train.max_steps=2 --set train.backend=nccl "${train_flags[@]}"

if [ "$failures" -ne 0 ]; then
  echo "$failures case(s) failed"
  exit 1
fi
echo "all bad-input cases under mpirun passed"
