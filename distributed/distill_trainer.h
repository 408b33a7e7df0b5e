// DGR stage 2 (distillation) as an objective of the data-parallel loop
// (data_parallel_trainer.h): the student (a stage-1 BART) learns to order each training query's
// candidates as the teacher does, through the differentiable passage score of its stored keys
// (core/rank/passage_score.h) and a ranking loss over sampled lists, while a generation loss
// keeps it generating identifiers (docs/distillation.md):
//
//   L = λ_rank · L_rank + λ_gen · (0.5 · CE_title + 0.5 · CE_body)
//
// Rows are the set's queries with at least min_positives positives and min_negatives negatives;
// `holdout` of them (drawn with the seed) score the student's candidate order against the
// teacher's before, during and after training. Lists and generation examples are drawn per
// (seed, epoch, row), so the loop's world-size invariance and exact resume hold. No torch here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/search/search_options.h"
#include "distributed/distill_options.h"
#include "distributed/mpi_context.h"
#include "distributed/training_options.h"

namespace dgr::distributed {

class Communicator;

// What distillation takes from the stages before it.
struct DistillInputs {
  std::string set_path;       // distillation set (data/distill_set.h), its hashes checked
  std::string examples_path;  // stage-1 example store (generation loss); unused when λ_gen = 0
  std::string tokenizer_dir;  // the index's tokenizer: encodes the queries
  int64_t max_query_length = search::SearchOptions{}.max_query_length;

  // The index the keys' counts come from: its corpus tokens, the counts of its title and
  // pseudo-query start markers (the N of title / pseudo-query keys: Manifest::title_starts,
  // pq_starts) and the views' prompts.
  uint64_t corpus_tokens = 0;
  uint64_t title_positions = 0;
  uint64_t pq_positions = 0;
  std::vector<int32_t> title_prefix, title_end, pq_prefix, pq_end;
  search::ScoringOptions scoring;  // its alpha, beta and smoothing score the keys
};

// Agreement of the student's candidate order with the teacher's on the held-out queries (means
// over queries). `stored_*` are the same for the scores stored in the set (the candidate
// generator's, e.g. the stage-1 retrieval), the reference the student starts from.
struct DistillAgreement {
  int64_t step = 0;
  int64_t queries = 0;
  double kendall_tau = 0;  // τ-b between s(q, p) and the teacher's scores
  double ndcg10 = 0;       // nDCG@10 of the student's order, gain 10 − teacher rank in its top 10
  double mrr10 = 0;        // MRR@10 of the positives in the student's order
  double stored_kendall_tau = 0;
  double stored_ndcg10 = 0;
  double stored_mrr10 = 0;
};

struct DistillTrainReport {
  int64_t first_step = 0;
  int64_t steps = 0;
  int64_t skipped_steps = 0;  // non-finite steps skipped in this run
  int64_t training_queries = 0;
  int64_t heldout_queries = 0;
  int64_t unused_queries = 0;  // too few positives or negatives
  double first_loss = 0;       // total loss of this run's first step
  double final_loss = 0;       // total loss of the last step
  double first_rank_loss = 0;
  double final_rank_loss = 0;
  std::vector<DistillAgreement> agreement;  // before, during, after training
  double seconds = 0;
  double queries_per_second = 0;
  double exposed_comm_fraction = 0;
  int64_t optimizer_state_bytes = 0;
  uint64_t peak_rss_bytes = 0;
  std::string export_dir;
};

// OptionError naming the option of a value out of range (train, distill or the inputs).
void check_distill(const TrainOptions& train, const DistillOptions& distill,
                   const DistillInputs& inputs, int world_size);

// Trains run.init_from (a stage-1 model). Collective over `comm` (gradients) and `control` (the
// scalars of a step, host memory; may be `comm` when that is MPI). Rank 0 writes
// train_log.jsonl, checkpoints and the export. Throws ConfigError / DataError / IoError (the
// same on every rank for bad input).
DistillTrainReport train_distill(Communicator& comm, Communicator& control, const TrainingRun& run,
                                 const TrainOptions& train, const DistillOptions& distill,
                                 const DistillInputs& inputs);

// The same over `mpi`, with communicators of train.backend.
DistillTrainReport train_distill(MpiContext& mpi, const TrainingRun& run, const TrainOptions& train,
                                 const DistillOptions& distill, const DistillInputs& inputs);

}  // namespace dgr::distributed
