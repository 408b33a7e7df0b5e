// Beam search over identifier views (SEAL/MINDER decoding): for a batch of queries and a list of
// view prompts, generates the keys that intersective scoring ranks passages by.
//
// Per view, every query starts from one row fed [decoder start] + prefix; each step scores every
// allowed next token of every live beam (the constraint's allowed tokens, or all tokens), and keeps
// the beam_size best per query by Σ raw log-probabilities (no length penalty, no renormalisation
// over the allowed tokens), ties broken by lower parent row, then lower token id, so results are
// deterministic. A beam ending with the view's end marker is finished: it becomes a key and is
// not extended. A query whose beams all finished or found no allowed token leaves the batch while
// the others go on; rows are only the live beams. All index calls of a step are made through one
// constraint.allowed() call.
//
// Keys: with keep_history (SEAL's), every hypothesis that was ever in a beam, at each length;
// otherwise the final beams (finished ones and those alive after max_length steps). Keys are
// deduplicated by (view, tokens), keeping the best log-prob, and sorted by log-prob descending,
// then view, then tokens. A beam with no allowed continuation before max_length (the end of a
// segment) is a key only with keep_history; a token of log-prob -inf (or NaN) never enters a beam.
// No torch here: the model enters through StepModel.
#pragma once

#include <vector>

#include "core/search/identifiers.h"
#include "core/search/step_model.h"
#include "core/search/token_constraint.h"

namespace dgr::search {

struct BeamSearchOptions {
  int beam_size = 15;        // live beams kept per query and view
  bool keep_history = true;  // every partial hypothesis is a key (SEAL), not only final beams
  int unigram_top = 0;       // > 0: also return the first body step's top tokens (SEAL uses 5000)
};

// A token of the first decoding step of the body view (empty prefix) with its log-probability:
// the unigram evidence of intersective scoring.
struct Unigram {
  TokenId token = 0;
  double log_prob = 0;
};

// The result for one query.
struct SearchResult {
  std::vector<GeneratedKey> keys;  // sorted by log_prob descending, then view, then tokens
  std::vector<Unigram> unigrams;   // allowed tokens, log_prob descending then token; at most
                                   // unigram_top, empty without a body view with empty prefix
};

// Runs the views of `views` in order over `queries` (token ids without special tokens): calls
// model.start(queries) once and model.restart() before each later view. Returns one result per
// query. Throws ConfigError for beam_size < 1, unigram_top < 0 or a view with max_length < 1,
// and DataError when the constraint allows a token outside the model's vocabulary (an index built
// with another tokenizer).
// O(Σ_views max_length · (model step + R·a + R log R)) for R live rows and a allowed tokens per row
// (a = V without constraint); the top-k per query is a heap of beam_size, never a sort of V.
std::vector<SearchResult> beam_search(StepModel& model, TokenConstraint& constraint,
                                      const std::vector<std::vector<TokenId>>& queries,
                                      const std::vector<ViewPrompt>& views,
                                      const BeamSearchOptions& options);

}  // namespace dgr::search
