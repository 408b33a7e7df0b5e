// The data-parallel trainer of a cross-encoder teacher (`dgr teacher train`): a BERT sequence
// classifier (core/model/bert.h) fine-tuned on training judgments with sampled negatives, so
// that a teacher can be made where no checkpoint exists. Every rank holds a full replica;
// gradients are all-reduced in buckets that overlap backward (GradientReducer), as in the
// stage-1 trainer (distributed/trainer.h), whose step this one follows top to bottom.
//
// Data: one group per (training query, judged passage of grade >= relevance_threshold): the
// positive and `negatives` passages drawn without replacement from the query's candidate pool
// (BM25's top negative_depth, every judged-relevant passage removed), topped up from the whole
// corpus when the pool is short. Draws are seeded by (seed, epoch, group), so each epoch sees
// fresh negatives and a group's negatives do not depend on which rank reads it.
// Loss (localised contrastive estimation): the softmax cross-entropy of the group's 1 + n
// logits with the positive as the target, summed over the groups and divided by the global
// number of groups.
//
// World-size invariance: epoch e shuffles the groups with a permutation seeded by (seed, e);
// step s takes the next `global_batch` groups and rank r of N takes the r-th of N equal pieces,
// run in micro-batches of `micro_batch` groups. With dropout 0, 1 rank with batch B and 2 ranks
// with B/2 make the same update up to float rounding (the per-rank loss scale N/B and the mean
// over ranks cancel exactly; only the order of the gradient sums differs).
//
// Checkpoints every checkpoint_every steps in run_dir/checkpoints (distributed/checkpoint.h,
// the model in its Hugging Face layout), and resumes from the latest exactly as the other
// trainings do (distributed/data_parallel_trainer.h runs it). No torch in this header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "distributed/mpi_context.h"

namespace dgr::distributed {

class Communicator;

// One training query with one positive passage (indices into the corpus). Launch code makes
// them from qrels and a BM25 ranking (launch/cmd_teacher_train.cpp).
struct CrossEncoderGroup {
  std::string query_id;
  std::string query;
  uint32_t positive = 0;
  std::vector<uint32_t> candidates;  // negative candidates, best first (judged-relevant removed)
  std::vector<uint32_t> relevant;    // every passage judged relevant for the query, ascending
};

// A freshly initialised cross-encoder directory, as `dgr teacher init` writes it: config.json
// (BertConfig::preset(arch) with the vocabulary's size and one label), model.safetensors (BERT's
// random init after torch::manual_seed(seed)), vocab.txt (`vocab`, one token per line) and
// tokenizer_config.json (do_lower_case = lowercase, model_max_length = max positions). The
// directory appears complete or not at all. Returns the number of parameters. ConfigError for
// an unknown arch, DataError for a vocabulary without BERT's special tokens.
int64_t write_initial_cross_encoder(const std::string& dir, const std::string& arch,
                                    const std::vector<std::string>& vocab, bool lowercase,
                                    uint64_t seed);

struct CrossEncoderTrainJob {
  std::string init_from;   // cross-encoder directory: config.json, model.safetensors, vocab.txt
  std::string run_dir;     // train_log.jsonl
  std::string export_dir;  // the trained model in HF layout; empty = <run_dir>/model
  std::string device = "cpu";

  uint64_t seed = 13;
  int negatives = 7;
  int64_t max_length = 0;     // tokens per pair, specials included; 0 = max_position_embeddings
  int64_t global_batch = 16;  // groups per update over all ranks
  int64_t micro_batch = 0;    // groups per forward/backward on a rank; 0 = global_batch / ranks
  int64_t max_steps = 0;      // 0 = epochs x groups / global_batch
  int epochs = 1;
  double lr = 5e-5;
  int64_t warmup_steps = 0;
  std::string decay = "linear";
  double end_lr = 0;
  double weight_decay = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double adam_eps = 1e-8;
  double clip_norm = 1.0;  // 0 = off
  double dropout = -1;     // < 0: the model config's
  int64_t log_every = 10;
  // Groups scored before and after training (rank 0; the first groups, with negatives drawn
  // from a stream of their own) for the pairwise ranking accuracy of the report; 0 = none.
  int64_t eval_groups = 64;
  double bucket_mb = 25;
  bool overlap = true;
  int zero_stage = 0;  // 1: AdamW state sharded over the ranks (ShardedAdamW)
  double progress_interval_s = 30;
  int64_t checkpoint_every = 1000;
  int keep_last = 3;
  bool resume = true;
  std::string config_yaml;  // resolved config, stored in checkpoints
  std::string config_hash;
};

struct CrossEncoderTrainReport {
  int64_t first_step = 0;  // > 0 when resumed
  int64_t steps = 0;
  double first_loss = 0;      // mean group loss of the first step of this run
  double final_loss = 0;      // mean group loss of the last step
  double first_accuracy = 0;  // fraction of groups whose positive has the top logit, first step
  double final_accuracy = 0;  // the same, last step
  double seconds = 0;
  double groups_per_second = 0;
  double exposed_comm_fraction = 0;
  int64_t optimizer_state_bytes = 0;  // AdamW moments held by rank 0
  // Fraction of (positive, negative) pairs of the evaluated groups where the positive scores
  // higher (ties count half), with the initial and with the trained weights.
  int64_t eval_groups = 0;
  double initial_pair_accuracy = 0;
  double final_pair_accuracy = 0;
  std::string export_dir;
};

// Checks the job's numbers against the world size. ConfigError naming the teacher.train key.
void check_cross_encoder_job(const CrossEncoderTrainJob& job, int world_size);

// Collective over `comm` (gradients; its backend) and `control` (scalars of a step, host memory;
// may be `comm` itself when that is MPI). Rank 0 writes train_log.jsonl and the exported model.
// Every rank must pass the same corpus and groups; a group's passages are scored as
// "title: text" (the text alone without a title), as CrossEncoderTeacher reads them. Throws
// ConfigError / DataError / IoError.
CrossEncoderTrainReport train_cross_encoder(Communicator& comm, Communicator& control,
                                            const data::Corpus& corpus,
                                            const std::vector<CrossEncoderGroup>& groups,
                                            const CrossEncoderTrainJob& job);

// The same over `mpi`, with a communicator of `backend` ("mpi" or "nccl").
CrossEncoderTrainReport train_cross_encoder(MpiContext& mpi, const std::string& backend,
                                            const data::Corpus& corpus,
                                            const std::vector<CrossEncoderGroup>& groups,
                                            const CrossEncoderTrainJob& job);

}  // namespace dgr::distributed
