// What beam search needs from a seq2seq model: log-probabilities of the next token for a batch
// of hypotheses, with the model's decoder state (KV cache) kept and reordered by the model.
// No torch here: the BART implementation (core/model/bart_generator.h) exposes its log-softmax
// output in place, and tests implement this with fixed tables.
#pragma once

#include <cstdint>
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
};

}  // namespace dgr::search
