#!/usr/bin/env bash
# The main job: sets up and builds dgr if needed, then runs the whole DGR pipeline on Cranfield
# on 2 MPI ranks (configs/quickstart.yaml): a vocabulary learned on the corpus, the FM-index, a
# small BART trained from scratch (stage 1), candidates of the training queries, the BM25 teacher,
# distillation with DGR's loss and with LTRGR's margin loss, and the evaluation of every system on
# the test split. Ends with the metrics table and writes the plots of `dgr report`.
#
# Idempotent: a rerun reuses the build and skips every pipeline stage already done under the same
# configuration (an interrupted stage resumes). Extra arguments go to `dgr pipeline`, e.g.
# `launch/quickstart.sh --set train.max_steps=100`. Data sets are read from $DGR_DATA (default:
# the `shared/data` folder beside the repository).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PRESET="${DGR_PRESET:-release}"
export DGR_DATA="${DGR_DATA:-$ROOT/../shared/data}"

"$ROOT/launch/setup.sh" --preset "$PRESET"

if [[ ! -f "$DGR_DATA/cranfield/corpus.jsonl" ]]; then
  cat >&2 <<MSG
quickstart: data set not found at $DGR_DATA/cranfield.
Set DGR_DATA to a folder holding cranfield/ in BEIR layout: corpus.jsonl (1,400 abstracts with
titles), queries.jsonl, qrels/train.tsv and qrels/test.tsv (graded judgments split into training
and test queries). BEIR distributes Cranfield; split its judged queries into train and test.
MSG
  exit 1
fi

DGR="$ROOT/build/$PRESET/bin/dgr"
cd "$ROOT"
# Threads per rank, binding and OpenMPI's root flags: launch/dgr-mpirun.
"$ROOT/launch/dgr-mpirun" -np 2 "$DGR" pipeline configs/quickstart.yaml "$@"
RUN_DIR="$("$DGR" pipeline configs/quickstart.yaml "$@" --list | sed -n 's/.*(run directory \(.*\))$/\1/p')"
"$DGR" report "$RUN_DIR"
