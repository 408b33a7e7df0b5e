#!/usr/bin/env bash
# DGR on Cranfield, stage by stage on 2 MPI ranks (configs/cranfield.yaml): tokenizer, index,
# stage-1 training of a small BART from scratch, candidate retrieval for the training queries,
# the BM25 teacher, then distillation. Prints the held-out agreement of the student's candidate
# order with the teacher's before and after distillation (docs/benchmarks.md records a run).
#
#   bench/scripts/distill_cranfield.sh [extra --set options for the distillation]
#
# Stages whose output exists are skipped; remove runs/cranfield to start over.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export DGR_DATA="${DGR_DATA:-$ROOT/../shared/data}"
DGR="${DGR:-$ROOT/build/release/bin/dgr}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# Threads per rank, binding and the root flags (launch/dgr-mpirun).
MPIRUN=("$ROOT/launch/dgr-mpirun" -np 2)
CONFIG=configs/cranfield.yaml
OUT=runs/cranfield
DATA="$DGR_DATA/cranfield"

step() { echo; echo "== $* ($(date -u +%H:%M:%S))"; }

if [[ ! -f $OUT/tokenizer/vocab.json ]]; then
  step tokenizer
  "$DGR" tokenizer train "$CONFIG"
fi
if [[ ! -f $OUT/index/manifest.yaml ]]; then
  step index
  "${MPIRUN[@]}" "$DGR" index build "$CONFIG"
fi
if [[ ! -f $OUT/init/model.safetensors ]]; then
  step model init
  "$DGR" model init "$CONFIG" --tokenizer "$OUT/tokenizer" --out "$OUT/init"
fi
if [[ ! -f $OUT/stage1_examples.h5 ]]; then
  step stage-1 examples
  "$DGR" examples build "$CONFIG"
fi
if [[ ! -f $OUT/stage1/model/model.safetensors ]]; then
  step stage-1 training
  "${MPIRUN[@]}" "$DGR" train "$CONFIG" --init-from "$OUT/init" --out "$OUT/stage1" \
    --set train.max_steps=1000
fi
if [[ ! -f $OUT/candidates/keys.jsonl ]]; then
  step candidates of the training queries
  "${MPIRUN[@]}" "$DGR" retrieve "$CONFIG" --init-from "$OUT/stage1/model" \
    --qrels "$DATA/qrels/train.tsv" --out "$OUT/candidates" \
    --set retrieve.dump_keys=true --set eval.system=stage1-train
fi
if [[ ! -f $OUT/distill.h5 ]]; then
  step BM25 teacher
  "${MPIRUN[@]}" "$DGR" teacher rank "$CONFIG" --set run.out="$OUT/teacher"
fi
step distillation
# The paper's lr 1e-5 barely moves a small model in 72 steps; see docs/benchmarks.md for the
# settings compared.
"${MPIRUN[@]}" "$DGR" train "$CONFIG" --stage distill --init-from "$OUT/stage1/model" \
  --out "$OUT/distill" --set train.lr=3e-4 --set train.warmup_steps=5 \
  --set train.global_batch=4 --set train.micro_batch=1 --set train.epochs=8 \
  --set distill.lambda_gen=50 --set train.resume=false "$@"
