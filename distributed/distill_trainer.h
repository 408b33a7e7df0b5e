// The data-parallel trainer of DGR stage 2 (distillation): the student (a stage-1 BART) learns
// to order each training query's candidates as the teacher does, through the differentiable
// passage score of its stored keys (core/rank/passage_score.h) and a ranking loss over sampled
// lists (core/rank/list_sampling.h, core/rank/ranking_loss.h), while a generation loss keeps it
// generating identifiers:
//
//   L = λ_rank · L_rank + λ_gen · (0.5 · CE_title + 0.5 · CE_body)
//
// L_rank is the mean of the list losses over the global batch's lists; CE_title / CE_body are
// the label-smoothed token cross-entropies of one title example and one body example of each
// query of the batch (drawn from its supervised stage-1 examples), each divided by the global
// batch's target tokens of that view. A step reads top to bottom in distill_trainer.cpp.
//
// Rows: the distillation set's queries with at least min_positives positives and min_negatives
// negatives; `holdout` of them (drawn with the seed) are held out of training and score the
// student's candidate order against the teacher's (Kendall τ, nDCG@10 with the teacher's top 10
// as gains, MRR@10 of the positives) before training, every eval_every steps and at the end.
//
// World-size invariance, as in stage 1: epoch e shuffles the training rows with a permutation
// seeded by (seed, e), step s takes the next global_batch rows, rank r of N the r-th of N equal
// pieces, run in micro-batches of micro_batch queries; lists and generation examples are drawn
// per (seed, epoch, row). With dropout 0 and the same micro_batch, 1 rank with batch B and 2
// ranks with B/2 make the same update up to the order of the gradient sums.
//
// A step whose loss or gradient norm is not finite is skipped (no update, counted, logged) or
// aborts the run (on_nonfinite); every rank decides alike, from all-reduced numbers. Checkpoints
// and resuming as in stage 1. No torch in this header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/rank/list_sampling.h"
#include "distributed/mpi_context.h"

namespace dgr::distributed {

class Communicator;

struct DistillTrainJob {
  std::string set_path;       // distillation set (data/distill_set.h), its hashes checked
  std::string examples_path;  // stage-1 example store (generation loss); unused when λ_gen = 0
  std::string tokenizer_dir;  // the index's tokenizer: encodes the queries
  std::string init_from;      // the stage-1 model in Hugging Face layout
  std::string run_dir;        // checkpoints/, train_log.jsonl
  std::string export_dir;     // the trained model; empty = <run_dir>/model
  std::string device = "cpu";
  std::string config_yaml;
  std::string config_hash;

  // The index the keys' counts come from: its corpus tokens, the counts of its title and
  // pseudo-query start markers (the N of title / pseudo-query keys: Manifest::title_starts,
  // pq_starts) and the views' prompts.
  uint64_t corpus_tokens = 0;
  uint64_t title_positions = 0;
  uint64_t pq_positions = 0;
  std::vector<int32_t> title_prefix, title_end, pq_prefix, pq_end;
  int64_t max_query_length = 64;
  double alpha = 2.0;  // scoring.alpha, beta, smoothing
  double beta = 0.8;
  double smoothing = 5.0;

  // The ranking loss and the total.
  std::string loss = "distilled_ranknet";
  double margin = 300, margin_step = 100, first_weight = 3, sigma = 1;
  double temperature = 1, teacher_temperature = 1;
  double lambda_rank = 1;
  double lambda_gen = 500;
  rank::ListSamplingOptions sampling;
  int relevance_threshold = 1;
  int min_positives = 1;
  int min_negatives = 16;
  std::string on_nonfinite = "skip";  // skip | abort
  int64_t max_nonfinite_steps = 20;
  int64_t holdout = 32;
  int64_t eval_candidates = 50;
  int64_t eval_every = 0;

  // The data-parallel keys (distributed/training_setup.h); batches count queries.
  uint64_t seed = 13;
  int64_t global_batch = 8;
  int64_t micro_batch = 0;
  int64_t max_steps = 0;
  int epochs = 3;
  double lr = 1e-5;
  int64_t warmup_steps = 0;
  std::string decay = "linear";
  double end_lr = 0;
  double weight_decay = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double adam_eps = 1e-8;
  double clip_norm = 1.0;
  double label_smoothing = 0.1;
  double dropout = -1;
  int64_t checkpoint_every = 1000;
  int keep_last = 3;
  int64_t log_every = 10;
  double bucket_mb = 25;
  bool overlap = true;
  int zero_stage = 0;
  bool resume = true;
  double progress_interval_s = 30;
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

// ConfigError naming the train.* or distill.* key of a value out of range.
void check_distill_job(const DistillTrainJob& job, int world_size);

// Collective over `comm` (gradients) and `control` (the scalars of a step, host memory; may be
// `comm` when that is MPI). Rank 0 writes train_log.jsonl, checkpoints and the export. Throws
// ConfigError / DataError / IoError (the same on every rank for bad input).
DistillTrainReport train_distill(Communicator& comm, Communicator& control,
                                 const DistillTrainJob& job);

// The same over `mpi`, with a communicator of `backend` ("mpi" or "nccl").
DistillTrainReport train_distill(MpiContext& mpi, const std::string& backend,
                                 const DistillTrainJob& job);

}  // namespace dgr::distributed
