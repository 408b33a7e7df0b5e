#!/usr/bin/env bash
# The main job: sets up and builds dgr if needed, then runs on 2 MPI ranks and ends with a
# metrics table. Idempotent; reruns reuse the build.
#
# Today the job builds the sharded FM-index of the TREC DL 2019 passage pool with BART's
# vocabulary on 2 ranks, queries it, evaluates the pool's external BM25 run
# (configs/msmarco-dl19-bm25.yaml), then runs generative retrieval (constrained beam search +
# intersective scoring, configs/msmarco-dl19-retrieve.yaml) with a freshly initialised tiny
# model: until the trainer lands its metrics show that the stage runs, not retrieval quality. The data sets are read from $DGR_DATA (default: the
# `shared/data` folder beside the repository).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PRESET="${DGR_PRESET:-release}"
export DGR_DATA="${DGR_DATA:-$ROOT/../shared/data}"

"$ROOT/launch/setup.sh" --preset "$PRESET"

if [[ ! -f "$DGR_DATA/msmarco-dl19/corpus.jsonl" ]]; then
  cat >&2 <<MSG
quickstart: data set not found at $DGR_DATA/msmarco-dl19.
Set DGR_DATA to a folder holding msmarco-dl19/ in BEIR layout (corpus.jsonl, queries.jsonl,
qrels/test.tsv, runs/bm25.trec): the TREC DL 2019 passage judgments with their pool of MS MARCO
passages and a BM25 top-100 run.
MSG
  exit 1
fi

DGR="$ROOT/build/$PRESET/bin/dgr"
# OpenMPI refuses root without these; --oversubscribe lets 2 ranks share fewer cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
MPIRUN=(mpirun -np 2 --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none)

cd "$ROOT"
"$DGR" --help
echo
"$DGR" version
echo
"${MPIRUN[@]}" "$DGR" index build configs/msmarco-dl19-bm25.yaml
echo
"$DGR" index query runs/msmarco-dl19-bm25/index "declaratory judgment" --limit 5 \
  --successors 5
echo
"${MPIRUN[@]}" "$DGR" eval-run configs/msmarco-dl19-bm25.yaml
echo
# A tiny untrained model in Hugging Face layout (stage-1 training will replace it).
"$DGR" model init --tokenizer "$DGR_DATA/tokenizer/bart" --out runs/msmarco-dl19-retrieve/model \
  --set model.arch=tiny
echo
"${MPIRUN[@]}" "$DGR" retrieve configs/msmarco-dl19-retrieve.yaml \
  --init-from runs/msmarco-dl19-retrieve/model --set run.threads=1 \
  --set eval.system=dgr-untrained-tiny
