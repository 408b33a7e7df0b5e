#!/usr/bin/env bash
# The SLURM launch scripts on a real one-node cluster. Pins down that launch/slurm/*.sbatch build
# the `dgr pipeline` command of their stage for either launcher (GPU variants with their CUDA
# overrides), that launch/submit-pipeline.sh chains the stages with afterok dependencies and stops
# at a failed sbatch, and that the quick-start pipeline, made tiny, runs through sbatch to its
# results table on a cluster of munged + slurmctld + slurmd that this test starts on loopback.
#
#   tests/integration/slurm_test.sh DGR_EXE
#
# Exit status: 0 passed, 77 skipped (SLURM or munge not installed, or their daemons not runnable
# as this user; the reason is printed), anything else failed. Every wait has a deadline (the
# pipeline's: DGR_SLURM_TEST_TIMEOUT seconds, default 1200); the jobs and daemons are ended on
# every exit. DGR_SLURM_TEST_KEEP=1 keeps the cluster's temporary directory.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DGR="${1:?usage: slurm_test.sh DGR_EXE}"
[[ -x "$DGR" ]] || {
  echo "FAIL: dgr executable '$DGR' not found" >&2
  exit 1
}
DGR="$(cd "$(dirname "$DGR")" && pwd)/$(basename "$DGR")"
export DGR_DATA="${DGR_DATA:-${DGR_SHARED_DATA:-$ROOT/../shared/data}}"
export PATH="$PATH:/usr/sbin:/sbin"
PIPELINE_TIMEOUT="${DGR_SLURM_TEST_TIMEOUT:-1200}"
CONFIG=configs/quickstart.yaml
STAGES=(tokenizer index stage1 candidates teacher distill ltrgr evaluate)
GPU_STAGES=(stage1 candidates teacher distill ltrgr evaluate)

T=""            # the cluster's directory
daemons=()      # pids of munged, slurmctld, slurmd
cluster_up=0

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
skip() {
  echo "SKIP: $*"
  exit 77
}
pass() {
  echo "ok: $*"
}
# expect_in TEXT NEEDLE WHAT: fails the test when TEXT lacks NEEDLE.
expect_in() {
  [[ "$1" == *"$2"* ]] || fail "$3: expected '$2' in:
$1"
}

# ---------------------------------------------------------------------------------------------
# Part 1, no cluster needed: what each batch script runs, and how the chain is submitted.

cd "$ROOT" || fail "cannot cd to $ROOT"
for stage in "${STAGES[@]}" queries; do
  file="launch/slurm/$stage.sbatch"
  [[ -f "$file" ]] || fail "$file is missing"
  grep -q "^#SBATCH --job-name=dgr-$stage\$" "$file" || fail "$file: no --job-name=dgr-$stage"
  out="$(env -u SLURM_SUBMIT_DIR DGR_ROOT="$ROOT" DGR_BIN="$DGR" DGR_STAGE_DRY_RUN=1 \
    DGR_LAUNCHER=mpirun SLURM_NTASKS=2 SLURM_CPUS_PER_TASK=3 \
    bash "$file" "$CONFIG" --set run.out=/x 2>&1)" || fail "$file (dry run): $out"
  expect_in "$out" \
    "launch/dgr-mpirun -np 2 $DGR pipeline $CONFIG --stages $stage --set run.out=/x" \
    "$file under mpirun"
  expect_in "$out" "2 rank(s) x 3 thread(s) via mpirun" "$file under mpirun"
done
pass "every stage's batch script runs its stage through launch/dgr-mpirun"

for stage in "${GPU_STAGES[@]}"; do
  file="launch/slurm/$stage-gpu.sbatch"
  [[ -f "$file" ]] || fail "$file is missing"
  grep -q '^#SBATCH --gpus' "$file" || fail "$file requests no GPU"
  out="$(env -u DGR_ROOT SLURM_SUBMIT_DIR="$ROOT" DGR_BIN="$DGR" DGR_STAGE_DRY_RUN=1 \
    DGR_LAUNCHER=srun SLURM_NTASKS=4 SLURM_CPUS_PER_TASK=8 \
    bash "$file" "$CONFIG" --set model.device=cuda:1 2>&1)" || fail "$file (dry run): $out"
  expect_in "$out" "srun --mpi=pmix --kill-on-bad-exit=1 --ntasks=4 --cpus-per-task=8 bash" \
    "$file under srun"
  expect_in "$out" "--one-gpu-per-rank $DGR pipeline $CONFIG --stages $stage --set" "$file"
  expect_in "$out" "--set model.device=cuda:1" "$file: the user's options come last"
  case "$stage" in
    teacher) expect_in "$out" "--set teacher.cross_encoder.device=cuda" "$file" ;;
    candidates | evaluate) expect_in "$out" "--set model.device=cuda " "$file" ;;
    *) expect_in "$out" "--set model.device=cuda --set train.backend=nccl " "$file" ;;
  esac
done
pass "GPU variants request GPUs and move their stage to CUDA (NCCL for the trainers)"

if out="$(env -u DGR_ROOT SLURM_SUBMIT_DIR=/nonexistent \
  bash launch/slurm/index.sbatch "$CONFIG" 2>&1)"; then
  fail "a batch script without the repository must fail: $out"
fi
expect_in "$out" "/nonexistent/launch/slurm/run-stage.sh" "batch script without the repository"
out="$(DGR_ROOT=/nonexistent bash launch/slurm/run-stage.sh index "$CONFIG" 2>&1)"
[[ $? -eq 2 ]] || fail "run-stage.sh without the repository must exit 2: $out"
expect_in "$out" "repository was not found at '/nonexistent'" "repository not found"
out="$(CUDA_VISIBLE_DEVICES=4,5,6 OMPI_COMM_WORLD_LOCAL_RANK=4 \
  bash launch/slurm/run-stage.sh --one-gpu-per-rank printenv CUDA_VISIBLE_DEVICES)"
[[ "$out" == "5" ]] || fail "node-local rank 4 of GPUs 4,5,6 should get GPU 5, got '$out'"
pass "batch scripts name a missing repository; each rank keeps one GPU"

out="$(launch/submit-pipeline.sh --help)" || fail "submit-pipeline.sh --help failed"
expect_in "$out" "--dependency=afterok" "--help"
out="$(launch/submit-pipeline.sh "$CONFIG" --bogus 2>&1)"
[[ $? -eq 2 ]] || fail "an unknown option must exit 2: $out"

# A stand-in sbatch that records its arguments and answers ids 101, 102, ... (or fails at the
# STUB_FAIL_AT-th call), so the chain can be checked without a cluster.
stub_dir="$(mktemp -d "${TMPDIR:-/tmp}/dgr-sbatch-stub.XXXXXX")" || fail "mktemp"
trap 'rm -rf "$stub_dir"' EXIT
cat >"$stub_dir/sbatch" <<'STUB'
#!/usr/bin/env bash
n=$(( $(cat "$STUB_DIR/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" >"$STUB_DIR/count"
printf '%s\n' "$@" >"$STUB_DIR/call$n"
if [[ "$n" == "${STUB_FAIL_AT:-0}" ]]; then
  echo "sbatch: error: Batch job submission failed: Invalid account" >&2
  exit 1
fi
echo "$((100 + n));cluster"
STUB
chmod +x "$stub_dir/sbatch"
stub_run=(env STUB_DIR="$stub_dir" DGR_SBATCH="$stub_dir/sbatch" DGR_BIN="$DGR"
  launch/submit-pipeline.sh "$CONFIG" --gpu --partition gpu --stages stage1,tokenizer
  --sbatch=--time=5 -- --set run.out="$stub_dir/run")
out="$("${stub_run[@]}" 2>/dev/null)" || fail "submit-pipeline.sh with a stand-in sbatch: $out"
[[ "$out" == $'stage tokenizer: job 101\nstage stage1: job 102' ]] ||
  fail "submit-pipeline.sh should print one line per stage, in pipeline order; got:
$out"
first="$(cat "$stub_dir/call1")"
second="$(cat "$stub_dir/call2")"
expect_in "$first" "$ROOT/launch/slurm/tokenizer.sbatch"$'\n'"$CONFIG"$'\n--set\nrun.out=' \
  "first sbatch"
[[ "$first" != *--dependency* ]] || fail "the first stage must not wait on anything: $first"
expect_in "$second" "--dependency=afterok:101" "second sbatch"
expect_in "$second" "$ROOT/launch/slurm/stage1-gpu.sbatch" "--gpu picks the GPU variant"
expect_in "$second" $'--partition=gpu\n--time=5' "partition and extra sbatch options"
expect_in "$second" "--output=$stub_dir/run/slurm/%j-stage1.out" "logs under <run.out>/slurm"

rm -f "$stub_dir"/count "$stub_dir"/call*
out="$(STUB_FAIL_AT=2 "${stub_run[@]}" 2>&1)"
[[ $? -eq 1 ]] || fail "a failed sbatch must stop submit-pipeline.sh with exit 1: $out"
expect_in "$out" "stage tokenizer: job 101" "failed chain"
expect_in "$out" "Invalid account" "failed chain shows sbatch's error"
expect_in "$out" "sbatch failed for stage stage1" "failed chain"
[[ ! -f "$stub_dir/call3" ]] || fail "nothing may be submitted after a failed sbatch"
out="$(env DGR_SBATCH="$stub_dir/sbatch" DGR_BIN="$DGR" launch/submit-pipeline.sh "$CONFIG" \
  --stages nope -- --set run.out="$stub_dir/run" 2>&1)"
[[ $? -eq 2 ]] || fail "an unknown stage must exit 2: $out"
expect_in "$out" "unknown stage 'nope'" "unknown stage"
rm -rf "$stub_dir"
trap - EXIT
pass "submit-pipeline.sh chains the stages with afterok and stops at a failed sbatch"

# ---------------------------------------------------------------------------------------------
# Part 2: a one-node cluster on loopback.

for tool in munged slurmctld slurmd sbatch squeue sinfo scontrol srun scancel; do
  command -v "$tool" >/dev/null 2>&1 ||
    skip "the SLURM cluster part needs $tool (Debian: slurmctld slurmd slurm-client munge)"
done

# Ports nobody listens on (nor is connected from): /proc/net/tcp* lists them in hex.
port_taken() {
  local hex
  hex="$(printf ':%04X' "$1")"
  awk -v p="$hex" 'NR > 1 && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
ctld_port=""
for _ in $(seq 1 100); do
  port=$((20000 + RANDOM % 40000))
  if ! port_taken "$port" && ! port_taken $((port + 1)); then
    ctld_port=$port
    break
  fi
done
[[ -n "$ctld_port" ]] || fail "no free pair of TCP ports found"
slurmd_port=$((ctld_port + 1))

# Jobs, steps and daemons of this cluster carry this tag in their environment.
tag_processes() {
  local pid
  for pid in /proc/[0-9]*; do
    pid="${pid#/proc/}"
    [[ "$pid" == "$$" ]] && continue
    if { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qxF "DGR_SLURM_TEST_TAG=$T"; then
      echo "$pid"
    fi
  done
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ $cluster_up -eq 1 ]]; then
    timeout 20 scancel --quiet --user="$(id -un)" 2>/dev/null
    local queued
    for _ in $(seq 1 20); do
      queued="$(timeout 5 squeue -h -o %i 2>/dev/null)" || break
      [[ -z "$queued" ]] && break
      sleep 1
    done
  fi
  local pid
  for pid in "${daemons[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for _ in $(seq 1 20); do
    local alive=0
    for pid in "${daemons[@]}"; do
      kill -0 "$pid" 2>/dev/null && alive=1
    done
    [[ $alive -eq 0 ]] && break
    sleep 0.5
  done
  for pid in "${daemons[@]}"; do
    kill -9 "$pid" 2>/dev/null
  done
  if [[ -n "$T" ]]; then
    for pid in $(tag_processes); do
      kill -9 "$pid" 2>/dev/null
    done
    if [[ ($status -eq 0 || $status -eq 77) && -z "${DGR_SLURM_TEST_KEEP:-}" ]]; then
      rm -rf "$T"
    else
      echo "the cluster's files stay in $T" >&2
    fi
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

print_logs() {
  local file
  for file in "$@"; do
    [[ -f "$file" ]] || continue
    echo "----- $file (last 60 lines)" >&2
    tail -n 60 "$file" >&2
  done
}
daemon_logs() {
  print_logs "$T"/log/munged.log "$T"/log/*.out "$T"/log/slurmctld.log "$T"/log/slurmd.log
}
# Daemons that do not come up: not runnable as this user (skip) unless we are root (fail).
not_started() {
  daemon_logs
  if [[ "$(id -u)" -ne 0 ]]; then
    skip "$1 (as $(id -un); the daemons usually need root)"
  fi
  fail "$1"
}

T="$(mktemp -d "${TMPDIR:-/tmp}/dgr-slurm.XXXXXX")" || fail "mktemp"
# munged wants its socket's directories searchable by all and writable by its owner only.
chmod 755 "$T"
mkdir -p "$T/munge" "$T/state" "$T/spool" "$T/log" "$T/jobs"
chmod 755 "$T/munge"
head -c 1024 /dev/urandom >"$T/munge/munge.key"
chmod 400 "$T/munge/munge.key"
user="$(id -un)"

env DGR_SLURM_TEST_TAG="$T" munged --foreground --socket="$T/munge/munge.socket" \
  --key-file="$T/munge/munge.key" --pid-file="$T/munge/munged.pid" \
  --seed-file="$T/munge/munged.seed" --log-file="$T/log/munged.log" \
  >"$T/log/munged.out" 2>&1 &
daemons+=($!)
for _ in $(seq 1 50); do
  [[ -S "$T/munge/munge.socket" ]] && break
  kill -0 "${daemons[0]}" 2>/dev/null || break
  sleep 0.2
done
[[ -S "$T/munge/munge.socket" ]] || not_started "munged did not start"

cpus="$(nproc)"
hardware="$(slurmd -C 2>/dev/null | head -n 1)"
layout="$(grep -o 'CPUs=[0-9]* Boards=.*ThreadsPerCore=[0-9]*' <<<"$hardware")"
[[ -n "$layout" ]] || layout="CPUs=$cpus"
memory_mb=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 9 / 10240))
touch "$T/plugstack.conf"
cat >"$T/slurm.conf" <<CONF
ClusterName=dgrtest
SlurmctldHost=localhost
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge/munge.socket
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
PlugStackConfig=$T/plugstack.conf
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=kill_invalid_depend
MpiDefault=none
ReturnToService=2
MinJobAge=3600
NodeName=localhost NodeAddr=127.0.0.1 $layout RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$T/slurm.conf"

env DGR_SLURM_TEST_TAG="$T" slurmctld -D -f "$SLURM_CONF" >"$T/log/slurmctld.out" 2>&1 &
daemons+=($!)
env DGR_SLURM_TEST_TAG="$T" slurmd -D -N localhost -f "$SLURM_CONF" >"$T/log/slurmd.out" 2>&1 &
daemons+=($!)
cluster_up=1
node_state=""
for _ in $(seq 1 60); do
  node_state="$(timeout 10 sinfo -h -N -n localhost -o %t 2>/dev/null)"
  [[ "$node_state" == "idle" ]] && break
  for pid in "${daemons[@]}"; do
    kill -0 "$pid" 2>/dev/null || not_started "a daemon exited (pid $pid)"
  done
  sleep 1
done
[[ "$node_state" == "idle" ]] ||
  not_started "the node did not become idle in 60 s (state '$node_state')"
pass "cluster up: slurmctld on port $ctld_port, slurmd on $slurmd_port, $layout"

# wait_jobs SECONDS ID...: 0 when every job completed, 1 when one ended otherwise, 2 on timeout.
job_state() {
  timeout 10 scontrol show job -o "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'
}
wait_jobs() {
  local deadline=$((SECONDS + $1)) next_report=$((SECONDS + 60)) id state all_done summary
  shift
  while ((SECONDS < deadline)); do
    all_done=1
    summary=""
    for id in "$@"; do
      state="$(job_state "$id")"
      summary+=" $id:${state:-?}"
      case "$state" in
        COMPLETED) ;;
        PENDING | RUNNING | CONFIGURING | COMPLETING | SUSPENDED | REQUEUED | RESIZING | "")
          all_done=0
          ;;
        *)
          echo "job $id ended $state; jobs:$summary" >&2
          return 1
          ;;
      esac
    done
    [[ $all_done -eq 1 ]] && return 0
    if ((SECONDS >= next_report)); then
      echo "waiting ($((deadline - SECONDS)) s left):$summary"
      next_report=$((SECONDS + 60))
    fi
    sleep 2
  done
  echo "timed out; jobs:$summary" >&2
  return 2
}

job="$(timeout 30 sbatch --parsable --output="$T/jobs/hostname-%j.out" \
  --wrap 'echo "host $(hostname) job $SLURM_JOB_ID"' 2>&1)" || fail "sbatch: $job"
wait_jobs 60 "$job" || {
  print_logs "$T/jobs/hostname-$job.out"
  daemon_logs
  fail "the trivial job $job did not complete"
}
expect_in "$(cat "$T/jobs/hostname-$job.out")" "host $(hostname) job $job" "the trivial job"
pass "a trivial batch job ran"

mpi_list="$(timeout 20 srun --mpi=list 2>&1)"
echo "srun --mpi=list: $(tr '\n\t' '  ' <<<"$mpi_list")"
expected_launcher=mpirun
grep -qw pmix <<<"$mpi_list" && expected_launcher=srun

# The quick start, every stage made tiny, on 2 ranks of 1 CPU each.
R="$T/run"
tiny=(--set run.out="$R" --set model.arch=tiny --set tokenizer.vocab_size=600
  --set train.max_steps=4 --set train.copy.steps=2 --set train.epochs=1 --set train.global_batch=4
  --set train.micro_batch=2 --set train.warmup_steps=0 --set train.checkpoint_every=1000
  --set train.log_every=1 --set search.beam_size=2 --set scoring.depth=10
  --set teacher.num_candidates=10 --set distill.min_negatives=2 --set distill.holdout=2
  --set distill.eval_candidates=5)
submit=(launch/submit-pipeline.sh "$CONFIG" --sbatch=--nodes=1 --sbatch=--ntasks=2
  --sbatch=--cpus-per-task=1 --sbatch=--mem=0 --sbatch=--time=60 -- "${tiny[@]}")
out="$(env DGR_SLURM_TEST_TAG="$T" DGR_BIN="$DGR" "${submit[@]}" 2>&1)" ||
  fail "submit-pipeline.sh: $out"
echo "$out"
jobs=()
for stage in "${STAGES[@]}"; do
  id="$(sed -n "s/^stage $stage: job \([0-9][0-9]*\)\$/\1/p" <<<"$out")"
  [[ -n "$id" ]] || fail "no job for stage $stage in:
$out"
  jobs+=("$id")
done
wait_jobs "$PIPELINE_TIMEOUT" "${jobs[@]}"
status=$?
if [[ $status -ne 0 ]]; then
  print_logs "$R"/slurm/*.out
  daemon_logs
  [[ $status -eq 2 ]] && fail "the pipeline's jobs did not finish in $PIPELINE_TIMEOUT s"
  fail "a pipeline job failed"
fi
for stage in "${STAGES[@]}"; do
  grep -q '"state": *"done"' "$R/stages/$stage.json" 2>/dev/null ||
    fail "$R/stages/$stage.json does not say done: $(cat "$R/stages/$stage.json" 2>&1)"
done
results="$(cat "$R/results.json" 2>/dev/null)" || fail "no $R/results.json"
for key in bm25 stage1 ltrgr dgr; do
  expect_in "$results" "\"key\": \"$key\"" "results.json"
  [[ -f "$R/evaluate/$key/metrics.json" ]] || fail "no metrics of system $key"
done
expect_in "$results" '"split": "test"' "results.json"
logs="$(cat "$R"/slurm/*-index.out)"
expect_in "$logs" "via $expected_launcher" "the index job's launcher"
expect_in "$logs" "[r0/2 " "the index job's ranks form one MPI world"
pass "the pipeline ran through sbatch (launcher $expected_launcher): results.json, every stage done"

# The other launcher on a finished stage (dgr only checks that it is done), on 2 ranks.
other=mpirun
[[ "$expected_launcher" == mpirun ]] && other=srun
if [[ "$other" == mpirun ]] || grep -qw pmix <<<"$mpi_list"; then
  job="$(env DGR_SLURM_TEST_TAG="$T" DGR_ROOT="$ROOT" DGR_BIN="$DGR" DGR_LAUNCHER="$other" \
    timeout 30 sbatch --parsable --ntasks=2 --cpus-per-task=1 --mem=0 \
    --output="$T/jobs/other-%j.out" launch/slurm/tokenizer.sbatch "$CONFIG" "${tiny[@]}" 2>&1)" ||
    fail "sbatch: $job"
  wait_jobs 120 "$job" || {
    print_logs "$T/jobs/other-$job.out"
    fail "the tokenizer job under $other did not complete"
  }
  logs="$(cat "$T/jobs/other-$job.out")"
  expect_in "$logs" "tokenizer on 2 rank(s) x 1 thread(s) via $other" "launcher $other"
  expect_in "$logs" "skip tokenizer" "a done stage under $other"
  pass "a stage job also runs under $other"
fi

out="$(env DGR_BIN="$DGR" "${submit[@]}" 2>&1)" || fail "submit-pipeline.sh again: $out"
for stage in "${STAGES[@]}"; do
  expect_in "$out" "stage $stage: done, skipped" "resubmitting a finished pipeline"
done
[[ "$out" != *": job "* ]] || fail "a finished pipeline must submit nothing: $out"
pass "resubmitting a finished pipeline submits nothing"
echo "slurm_test: passed"
