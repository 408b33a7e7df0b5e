// `dgr teacher train`: a BERT cross-encoder (core/model/bert.h) fine-tuned on training judgments,
// as an objective of the data-parallel loop (distributed/data_parallel_trainer.h), so that a
// teacher can be made where no checkpoint exists.
//
// A group is (training query, one judged positive, `negatives` passages drawn without replacement
// from BM25's top negative_depth with every judged-relevant passage removed, topped up from the
// corpus), drawn per (seed, epoch, group) so that no draw depends on the rank. The loss is
// localised contrastive estimation: the softmax cross-entropy of the group's 1 + n logits with the
// positive as the target, summed over the groups and divided by the global batch. No torch here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "distributed/mpi_context.h"
#include "distributed/training_options.h"
#include "teacher/train_options.h"

namespace dgr::distributed {
class Communicator;
}  // namespace dgr::distributed

namespace dgr::teacher {

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

// Checks the options against the world size: OptionError naming the option.
void check_teacher_train(const TeacherTrainOptions& options, int world_size);

// Trains run.init_from (a cross-encoder directory: config.json, model.safetensors, vocab.txt).
// Collective over `comm` (gradients; its backend) and `control` (scalars of a step, host memory;
// may be `comm` itself when that is MPI). Rank 0 writes train_log.jsonl and the exported model.
// Every rank must pass the same corpus and groups; a group's passages are scored as
// "title: text" (the text alone without a title), as CrossEncoderTeacher reads them. Throws
// ConfigError / DataError / IoError.
CrossEncoderTrainReport train_cross_encoder(distributed::Communicator& comm,
                                            distributed::Communicator& control,
                                            const data::Corpus& corpus,
                                            const std::vector<CrossEncoderGroup>& groups,
                                            const distributed::TrainingRun& run,
                                            const TeacherTrainOptions& options);

// The same over `mpi`, with communicators of options.backend.
CrossEncoderTrainReport train_cross_encoder(distributed::MpiContext& mpi,
                                            const data::Corpus& corpus,
                                            const std::vector<CrossEncoderGroup>& groups,
                                            const distributed::TrainingRun& run,
                                            const TeacherTrainOptions& options);

}  // namespace dgr::teacher
