// The cross-encoder teacher: a BERT sequence classifier (core/model/bert.h) that reads
// `[CLS] query [SEP] passage [SEP]` and scores the pair, loaded from a Hugging Face checkpoint
// directory (`config.json`, `model.safetensors`, `vocab.txt`, optional `tokenizer_config.json`)
// such as `cross-encoder/ms-marco-MiniLM-L-6-v2`, unchanged.
//
// A passage is scored as "title: text" (DESIGN.md, "Candidate retrieval and teacher"), or as its
// text alone when it has no title. The score of a pair is the classifier's logit: logit 0 for a
// one-label model (the ms-marco cross-encoders), the logit of label 1 ("relevant") otherwise.
// Pairs are cut to max_length tokens by HF's longest_first rule and batched by length, each
// batch padded to its longest pair; padding does not change a pair's score.
//
// This header does not include torch (the model lives behind a pointer), so launch code that
// builds a teacher does not compile torch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/util/options.h"
#include "data/corpus.h"
#include "teacher/teacher_ranker.h"

namespace dgr::teacher {

// The teacher's options as the configuration holds them (its checkpoint is the caller's). Torch
// and BLAS threads are the process's (model::configure_threads, once per rank).
struct CrossEncoderOptions {
  int batch_size = 32;
  int max_length = 0;
  bool lowercase = true;
  std::string device = "cpu";
};

template <class V>
void visit(V& v, CrossEncoderOptions& o) {
  v.field("batch_size", o.batch_size, "(query, passage) pairs per forward pass.");
  v.field("max_length", o.max_length,
          "Tokens per pair, specials included; 0 = the model's limit (max_position_embeddings, "
          "or tokenizer_config.json's model_max_length when smaller).");
  v.field("lowercase", o.lowercase,
          "Lowercase and strip accents when tokenizer_config.json does not say (do_lower_case).");
  v.field("device", o.device, "Where the cross-encoder runs: cpu, cuda or cuda:N.");
}

class CrossEncoderTeacher : public TeacherRanker {
 public:
  // Loads the checkpoint in `checkpoint_dir`; passage ids are resolved in `corpus`, which must
  // outlive the teacher. IoError naming a missing file; ConfigError for a config, device or
  // option it cannot use (a batch size < 1, max_length beyond the model's positions, a model
  // with one token type); DataError for bad weights, or a vocab.txt that lacks a special token
  // or has more tokens than the model's embedding table.
  CrossEncoderTeacher(const std::string& checkpoint_dir, const data::Corpus& corpus,
                      CrossEncoderOptions options = {});
  ~CrossEncoderTeacher() override;
  CrossEncoderTeacher(const CrossEncoderTeacher&) = delete;
  CrossEncoderTeacher& operator=(const CrossEncoderTeacher&) = delete;

  // "cross-encoder:<checkpoint_dir>".
  std::string name() const override;

  // One score per passage id, in order. DataError for an id the corpus does not have and for
  // text that is not valid UTF-8 (naming the query or passage).
  std::vector<float> score(const std::string& query_id, const std::string& query_text,
                           const std::vector<std::string>& passage_ids) override;

  // The same for passage texts given directly (used as they are, no title added).
  std::vector<float> score_texts(const std::string& query_text,
                                 const std::vector<std::string>& passage_texts);

  // The text a passage is scored as: "title: text", or the text alone without a title.
  static std::string passage_text(const data::Passage& passage);

  // Tokens per pair after truncation (specials included), and the classifier's outputs.
  int64_t max_length() const;
  int64_t num_labels() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dgr::teacher
