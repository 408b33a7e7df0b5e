// The copy warm start of stage 1: examples whose source is a random token sequence and whose
// target is the same sequence. A seq2seq model trained from scratch on natural-text targets can
// collapse into a language model that ignores its source (docs/results.md); a few hundred copy
// steps first teach the encoder to carry every token and the decoder to read it through
// cross-attention, which the identifier targets then build on.
//
// Example `row` of step `step` depends on (seed, step, row) only, so any rank can make any row
// and a global batch is the same for every number of ranks. No torch here.
#pragma once

#include <cstdint>
#include <vector>

#include "data/stage1_examples.h"

namespace dgr::data {

struct CopyTaskOptions {
  int length = 16;  // tokens of the longest sequence; lengths are uniform in [length/2, length]
  int32_t first_id = 4;           // token ids are drawn from [first_id, vocab_size) ...
  int32_t vocab_size = 0;         // ... without `excluded`
  std::vector<int32_t> excluded;  // special tokens (bos, eos, pad, decoder start)
  uint64_t seed = 13;
};

// The copy examples of one configuration; the drawable ids are listed once, here, not at every
// step.
class CopyTask {
 public:
  // ConfigError when no token can be drawn or length < 1.
  explicit CopyTask(const CopyTaskOptions& options);

  // Rows [first_row, first_row + count) of step `step`: body-view examples with an empty prompt,
  // source == target, source_id "copy:<step>:<row>".
  std::vector<Stage1Example> examples(uint64_t step, uint64_t first_row, uint64_t count) const;

 private:
  CopyTaskOptions options_;
  std::vector<int32_t> ids_;  // the drawable ids in increasing order
};

}  // namespace dgr::data
