#!/usr/bin/env bash
# Submits `dgr pipeline` to SLURM as a chain of batch jobs, one per stage (launch/slurm/*.sbatch),
# each starting only when the one before it has succeeded (--dependency=afterok).
#
#   launch/submit-pipeline.sh CONFIG [options] [-- dgr pipeline options, e.g. --set key=value]
#
#   --gpu             the GPU variant (<stage>-gpu.sbatch) of the stages that have one
#   --partition P     sbatch --partition for every job
#   --account A       sbatch --account for every job
#   --stages a,b,...  only these stages (default: every stage of the config, in pipeline order)
#   --sbatch OPTION   one more sbatch option for every job, e.g. --sbatch=--time=2:00:00
#                     (repeatable; it wins over the #SBATCH lines of the stage files)
#   --logs DIR        where the jobs' output goes (default: <run.out>/slurm)
#
# Prints "stage <name>: job <id>" per submitted stage. Leading stages that `dgr pipeline CONFIG
# --list` reports done under the same configuration are not submitted ("stage <name>: done,
# skipped"); --force among the dgr options submits them all. The jobs run in the current directory
# (relative paths of CONFIG resolve from there) with DGR_ROOT (this repository) and DGR_BIN (the
# dgr used here) exported. dgr: DGR_BIN, else build/<DGR_PRESET or release>/bin/dgr, else PATH.
# DGR_SBATCH=path picks the sbatch. Exit status: 0 when every stage was submitted, 1 when a
# submission failed (the jobs submitted before it stay queued; their ids are printed), 2 for
# bad arguments.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}
die() {
  echo "submit-pipeline: $*" >&2
  exit 2
}

config=""
gpu=0
stages=""
logs=""
sbatch_options=()
dgr_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --gpu) gpu=1; shift ;;
    --partition | --account | --stages | --sbatch | --logs)
      [[ $# -ge 2 ]] || die "$1 needs a value (see --help)"
      set -- "$1=$2" "${@:3}"
      ;;
    --partition=* | --account=*) sbatch_options+=("$1"); shift ;;
    --stages=*) stages="${1#*=}"; shift ;;
    --sbatch=*) sbatch_options+=("${1#*=}"); shift ;;
    --logs=*) logs="${1#*=}"; shift ;;
    --) shift; dgr_args=("$@"); break ;;
    -*) die "unknown option '$1' (see --help; options for dgr go after --)" ;;
    *)
      [[ -z "$config" ]] ||
        die "one CONFIG only, got '$config' and '$1' (options for dgr go after --)"
      config="$1"
      shift
      ;;
  esac
done
[[ -n "$config" ]] || die "missing CONFIG (see --help)"
[[ -f "$config" ]] || die "config '$config' not found (from $(pwd))"

if [[ -n "${DGR_BIN:-}" ]]; then
  dgr="$DGR_BIN"
elif [[ -x "$ROOT/build/${DGR_PRESET:-release}/bin/dgr" ]] || ! command -v dgr >/dev/null 2>&1; then
  dgr="$ROOT/build/${DGR_PRESET:-release}/bin/dgr"
else
  dgr="$(command -v dgr)"
fi
[[ -x "$dgr" ]] || die "dgr not found at '$dgr' (build it with launch/setup.sh, or set DGR_BIN)"
sbatch="${DGR_SBATCH:-sbatch}"
command -v "$sbatch" >/dev/null 2>&1 || die "'$sbatch' not found: is this a SLURM login node?"

# The plan, as dgr sees it: this also checks the config and the options before anything is queued.
if ! listing="$("$dgr" pipeline "$config" --list "${dgr_args[@]}" 2>&1)"; then
  echo "$listing" >&2
  echo "submit-pipeline: 'dgr pipeline $config --list' failed; nothing was submitted" >&2
  exit 1
fi
run_dir="$(sed -n 's/^pipeline .* (run directory \(.*\))$/\1/p' <<<"$listing" | head -n 1)"
declare -A state=()
plan=()
while read -r name stage_state _; do
  plan+=("$name")
  state[$name]="$stage_state"
done < <(sed -n '/^stage  *state/,/^$/p' <<<"$listing" | tail -n +2 | sed '/^$/d')
[[ ${#plan[@]} -gt 0 ]] || die "no stages in the output of 'dgr pipeline $config --list':
$listing"

selected=()
if [[ -n "$stages" ]]; then
  IFS=, read -r -a wanted <<<"$stages"
  for name in "${wanted[@]}"; do
    [[ -n "${state[$name]+x}" ]] || die "unknown stage '$name' (this config has: ${plan[*]})"
  done
  # In pipeline order, whatever the order given.
  for name in "${plan[@]}"; do
    if [[ ",$stages," == *",$name,"* ]]; then
      selected+=("$name")
    fi
  done
else
  selected=("${plan[@]}")
fi

force=0
for arg in "${dgr_args[@]}"; do
  if [[ "$arg" == "--force" ]]; then
    force=1
  fi
done

if [[ -z "$logs" ]]; then
  logs="${run_dir:-.}/slurm"
fi
mkdir -p "$logs" || die "cannot create the log directory '$logs'"
logs="$(cd "$logs" && pwd)"

export DGR_ROOT="$ROOT" DGR_BIN="$dgr"
previous=""
submitted=()
for name in "${selected[@]}"; do
  if [[ $force -eq 0 && -z "$previous" && "${state[$name]}" == "done" ]]; then
    echo "stage $name: done, skipped"
    continue
  fi
  script="$ROOT/launch/slurm/$name.sbatch"
  if [[ $gpu -eq 1 && -f "$ROOT/launch/slurm/$name-gpu.sbatch" ]]; then
    script="$ROOT/launch/slurm/$name-gpu.sbatch"
  fi
  [[ -f "$script" ]] || die "no batch script for stage '$name' ($script)"
  options=(--parsable --export=ALL --chdir="$(pwd)" --output="$logs/%j-$name.out")
  if [[ -n "$previous" ]]; then
    options+=(--dependency="afterok:$previous" --kill-on-invalid-dep=yes)
  fi
  options+=("${sbatch_options[@]}")
  status=0
  reply="$("$sbatch" "${options[@]}" "$script" "$config" "${dgr_args[@]}" 2>&1)" || status=$?
  if [[ $status -ne 0 ]]; then
    echo "$reply" >&2
    echo "submit-pipeline: sbatch failed for stage $name (exit $status); neither it nor the" \
      "stages after it were submitted" >&2
    if [[ ${#submitted[@]} -gt 0 ]]; then
      echo "submit-pipeline: already queued: ${submitted[*]} (scancel them if unwanted)" >&2
    fi
    exit 1
  fi
  job="$(tail -n 1 <<<"$reply")"
  job="${job%%;*}"
  if ! [[ "$job" =~ ^[0-9]+$ ]]; then
    echo "submit-pipeline: sbatch for stage $name answered '$reply', not a job id" >&2
    exit 1
  fi
  echo "stage $name: job $job"
  submitted+=("$job")
  previous="$job"
done
if [[ ${#submitted[@]} -gt 0 ]]; then
  jobs="${submitted[*]}"
  echo "submit-pipeline: logs in $logs/<job>-<stage>.out; follow with squeue -j ${jobs// /,}" >&2
fi
