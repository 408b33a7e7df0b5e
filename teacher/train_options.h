// The options of `dgr teacher init` and `dgr teacher train` (teacher/cross_encoder_trainer.h):
// the cross-encoder made from training judgments, its groups of sampled negatives, and the
// data-parallel training it shares with the student (distributed/training_options.h), with
// defaults of its own. No torch in this header.
#pragma once

#include <string>

#include "core/util/options.h"
#include "distributed/training_options.h"

namespace dgr::teacher {

struct TeacherTrainOptions : distributed::TrainingOptions {
  TeacherTrainOptions() {
    global_batch = 16;
    lr = 1e-4;
    warmup_steps = 0;
    clip_norm = 1.0;
  }
  std::string arch = "tiny";
  std::string vocab;
  int vocab_size = 8000;
  int vocab_min_frequency = 2;
  bool lowercase = true;
  int negatives = 7;
  int negative_depth = 100;
  int relevance_threshold = 1;
  int max_length = 0;
  int eval_groups = 64;
};

template <class V>
void visit(V& v, TeacherTrainOptions& o) {
  v.field("arch", config::Choice{o.arch, {"tiny", "minilm-l6", "bert-base"}},
          "BERT size made by `dgr teacher init`: tiny (tests), minilm-l6 or bert-base.");
  v.field("vocab", o.vocab,
          "`dgr teacher init`: an existing WordPiece vocab.txt to use; empty = build one from the "
          "corpus and the training queries.");
  v.field("vocab_size", o.vocab_size,
          "`dgr teacher init`: size of the built vocabulary (specials and characters included).");
  v.field("vocab_min_frequency", o.vocab_min_frequency,
          "`dgr teacher init`: whole words seen fewer times stay out of the built vocabulary.");
  v.field("lowercase", o.lowercase,
          "`dgr teacher init`: lowercase and strip accents (tokenizer_config.json do_lower_case).");
  v.field("negatives", o.negatives, "Sampled negatives per (query, positive) group.");
  v.field("negative_depth", o.negative_depth,
          "Negatives are drawn from BM25's top passages of the query, judged-relevant ones "
          "removed.");
  v.field("relevance_threshold", o.relevance_threshold,
          "Smallest grade of a training judgment that makes a positive.");
  v.field("max_length", o.max_length,
          "Tokens per (query, passage) pair, specials included; 0 = max_position_embeddings.");
  visit(v, static_cast<distributed::TrainingOptions&>(o));
  v.field("eval_groups", o.eval_groups,
          "Training groups scored before and after training for the pairwise ranking accuracy "
          "of the report; 0 = none.");
}

}  // namespace dgr::teacher
