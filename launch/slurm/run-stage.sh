#!/usr/bin/env bash
# One stage of `dgr pipeline` inside a SLURM job: the body that every launch/slurm/*.sbatch runs.
#
#   run-stage.sh STAGE [--gpu] CONFIG [dgr pipeline options, e.g. --set key=value --force]
#
# Runs `dgr pipeline CONFIG --stages STAGE [GPU overrides] [options]` on the job's ranks
# (SLURM_NTASKS, 1 outside a job), in the job's working directory (sbatch's: where it was
# called), so a relative CONFIG and the config's relative paths resolve from there.
#
# SLURM runs a copy of the batch script from its spool directory, so the repository is found from
# DGR_ROOT, else SLURM_SUBMIT_DIR (sbatch from the repository root, or export DGR_ROOT).
# The dgr executable: DGR_BIN, else DGR_ROOT/build/<DGR_PRESET or release>/bin/dgr, else the
# dgr on PATH.
# Launcher: DGR_LAUNCHER=srun (srun --mpi=pmix), mpirun (launch/dgr-mpirun), or auto (default):
# srun when this is a SLURM job whose cluster offers the pmix MPI plugin (`srun --mpi=list`),
# else mpirun. Threads per rank: DGR_THREADS, else SLURM_CPUS_PER_TASK, else 1.
# --gpu: the stage's model runs on CUDA (model.device=cuda; trainers all-reduce with
# train.backend=nccl; the cross-encoder teacher likewise), and every rank is shown only one of the
# job's GPUs, the one of its node-local rank: dgr would pick the same one itself (model.device:
# cuda), and the narrowed list keeps CUDA contexts of other libraries off the others.
# DGR_STAGE_DRY_RUN=1 prints the launcher and the command instead of running them.
set -euo pipefail

# Per-rank wrapper (the script re-runs itself under the launcher): one GPU per rank.
if [[ "${1:-}" == "--one-gpu-per-rank" ]]; then
  shift
  IFS=, read -r -a gpus <<<"${CUDA_VISIBLE_DEVICES:-}"
  if ((${#gpus[@]} > 1)); then
    local_rank="${OMPI_COMM_WORLD_LOCAL_RANK:-${SLURM_LOCALID:-0}}"
    export CUDA_VISIBLE_DEVICES="${gpus[local_rank % ${#gpus[@]}]}"
  fi
  exec "$@"
fi

die() {
  echo "run-stage: $*" >&2
  exit 2
}

if [[ $# -eq 0 || "$1" == "-h" || "$1" == "--help" ]]; then
  sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 0
fi
stage="$1"
shift
gpu=0
if [[ "${1:-}" == "--gpu" ]]; then
  gpu=1
  shift
fi
[[ $# -ge 1 ]] || die "stage $stage: missing CONFIG (sbatch launch/slurm/$stage.sbatch CONFIG ...)"
config="$1"
shift

root="${DGR_ROOT:-${SLURM_SUBMIT_DIR:-}}"
[[ -n "$root" && -x "$root/launch/dgr-mpirun" ]] ||
  die "the dgr repository was not found at '${root}' (from DGR_ROOT, else SLURM_SUBMIT_DIR):" \
    "sbatch from the repository root, or export DGR_ROOT"

preset_dgr="$root/build/${DGR_PRESET:-release}/bin/dgr"
if [[ -n "${DGR_BIN:-}" ]]; then
  dgr="$DGR_BIN"
elif [[ -x "$preset_dgr" ]] || ! command -v dgr >/dev/null 2>&1; then
  dgr="$preset_dgr"
else
  dgr="$(command -v dgr)"
fi
[[ -x "$dgr" || -n "${DGR_STAGE_DRY_RUN:-}" ]] ||
  die "dgr not found at '$dgr' (build it with launch/setup.sh, or set DGR_BIN)"

# What the GPU variant of each stage moves to CUDA.
gpu_sets=()
if ((gpu)); then
  case "$stage" in
    stage1 | distill | ltrgr) gpu_sets=(model.device=cuda train.backend=nccl) ;;
    candidates | evaluate) gpu_sets=(model.device=cuda) ;;
    teacher) gpu_sets=(teacher.cross_encoder.device=cuda teacher.train.backend=nccl) ;;
    *) die "stage $stage has no GPU variant (those of stage1 candidates teacher distill ltrgr" \
      "evaluate)" ;;
  esac
fi
# The user's options come last, so that their --set wins over the variant's.
command=("$dgr" pipeline "$config" --stages "$stage")
for set in "${gpu_sets[@]}"; do
  command+=(--set "$set")
done
command+=("$@")
if ((gpu)); then
  command=(bash "$root/launch/slurm/run-stage.sh" --one-gpu-per-rank "${command[@]}")
fi

ranks="${SLURM_NTASKS:-1}"
threads="${DGR_THREADS:-${SLURM_CPUS_PER_TASK:-1}}"
launcher="${DGR_LAUNCHER:-auto}"
if [[ "$launcher" == "auto" ]]; then
  launcher=mpirun
  if [[ -n "${SLURM_JOB_ID:-}" ]] && command -v srun >/dev/null 2>&1 &&
    srun --mpi=list 2>&1 | grep -qw pmix; then
    launcher=srun
  fi
fi
case "$launcher" in
  srun)
    launch=(srun --mpi=pmix --kill-on-bad-exit=1 --ntasks="$ranks")
    # SLURM 22.05's srun does not take --cpus-per-task over from the batch job.
    if [[ -n "${SLURM_CPUS_PER_TASK:-}" ]]; then
      launch+=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
    fi
    export OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
    ;;
  mpirun)
    launch=("$root/launch/dgr-mpirun" -np "$ranks")
    export DGR_THREADS="$threads"
    # Binding follows the ranks on this node, not the job's.
    if [[ -z "${DGR_RANKS_PER_NODE:-}" && "${SLURM_JOB_NUM_NODES:-1}" -gt 1 ]]; then
      export DGR_RANKS_PER_NODE=$(((ranks + SLURM_JOB_NUM_NODES - 1) / SLURM_JOB_NUM_NODES))
    fi
    ;;
  *) die "DGR_LAUNCHER must be srun, mpirun or auto, got '$launcher'" ;;
esac

echo "run-stage: $stage on $ranks rank(s) x $threads thread(s) via $launcher" \
  "(job ${SLURM_JOB_ID:-none}, $(hostname))" >&2
if [[ -n "${DGR_STAGE_DRY_RUN:-}" ]]; then
  printf '%q ' "${launch[@]}" "${command[@]}"
  echo
  exit 0
fi
exec "${launch[@]}" "${command[@]}"
