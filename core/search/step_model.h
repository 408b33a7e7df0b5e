// What beam search needs from a seq2seq model: log-probabilities of the next token for a batch
// of hypotheses, with the model's decoder state (KV cache) kept and reordered by the model.
// No torch here: the BART implementation (core/model/bart_generator.h) exposes its log-softmax
// output in place, and tests implement this with fixed tables.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "core/index/fm_index.h"

namespace dgr::search {

using index::TokenId;

// A row-major [rows × vocab] matrix of log-probabilities owned by the model; valid until the
// model's next call.
struct LogProbs {
  const float* data = nullptr;
  int64_t rows = 0;
  int64_t vocab = 0;
  const float* row(int64_t r) const { return data + r * vocab; }
};

// One extension of a live row: the row, the next token, and the hypothesis's total log-prob.
struct Extension {
  double score = 0;
  int64_t row = 0;
  TokenId token = 0;
};

// The beam order: higher score, then lower row, then lower token id.
inline bool better(const Extension& a, const Extension& b) {
  if (a.score != b.score) return a.score > b.score;
  if (a.row != b.row) return a.row < b.row;
  return a.token < b.token;
}

// What select_extensions() chooses among: groups of consecutive rows (a query's live rows),
// group g being rows [begin[g], begin[g + 1]) (begin ends with the row count); the score of a
// token after row r is base[r] + log p(token | row r); `allowed` (null: every token) lists each
// row's allowed tokens.
struct ExtensionRequest {
  std::vector<size_t> begin;
  std::vector<double> base;
  const std::vector<std::vector<TokenId>>* allowed = nullptr;
  size_t k = 0;
};

class StepModel {
 public:
  virtual ~StepModel() = default;

  virtual int64_t vocab_size() const = 0;
  virtual TokenId decoder_start_token() const = 0;
  // Encodes `queries` (token ids, without special tokens) and makes one decoder row per query
  // with an empty cache. Rows are numbered as the queries.
  virtual void start(const std::vector<std::vector<TokenId>>& queries) = 0;
  // Back to one row per query of the last start() with an empty decoder cache, keeping the
  // encoder output: the next view of the same queries costs no second encoding.
  virtual void restart() = 0;
  // Keeps rows `parents` of the current state, in this order (repeats allowed): new row i is a
  // copy of old row parents[i]. Cheap (an index-select on the cache).
  virtual void reorder(const std::vector<int64_t>& parents) = 0;
  // Appends `tokens` ([rows × n], row-major, the same n for every row) to every row and returns
  // the log-probabilities of the token after the last one, per row. The first call after start
  // must begin with the decoder start token.
  virtual LogProbs step(const std::vector<TokenId>& tokens, int64_t tokens_per_row) = 0;

  // A model whose log-probabilities live on a GPU selects the best extensions there and copies
  // back only those: rows x vocabulary floats per step would cost more than the step. Beam search
  // then calls step_on_device() instead of step() and select_extensions() to choose.
  virtual bool selects_on_device() const { return false; }
  // As step(), keeping the log-probabilities where they were computed.
  virtual void step_on_device(const std::vector<TokenId>& /*tokens*/, int64_t /*tokens_per_row*/) {
    throw std::logic_error("StepModel::step_on_device on a model that selects on the host");
  }
  // Per group of `request`, its best request.k extensions with a finite score, in the beam order
  // (better()): exactly the extensions a scan of step()'s log-probabilities would choose, ties
  // included.
  virtual std::vector<std::vector<Extension>> select_extensions(
      const ExtensionRequest& /*request*/) {
    throw std::logic_error("StepModel::select_extensions on a model that selects on the host");
  }
};

}  // namespace dgr::search
