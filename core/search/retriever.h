// Retrieval of one batch of queries: constrained beam search over every view, optional
// rescoring of the keys by teacher forcing, then SEAL intersective scoring of passages. This is
// the whole inference path of a generative retriever; `dgr retrieve` shards queries over ranks
// and calls it batch by batch, and candidate retrieval for distillation reuses it.
// No torch here: the model enters through StepModel and a rescoring callback.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/index/sharded_index.h"
#include "core/index/views.h"
#include "core/search/beam_search.h"
#include "core/search/identifiers.h"
#include "core/search/intersective_scoring.h"
#include "core/search/step_model.h"
#include "core/search/token_constraint.h"

namespace dgr::search {

// The prompts of the views search.views names ("title", "body", "pseudo_queries"; empty = every
// view of `indexed`), with its maximum lengths. OptionError naming the views option for an
// unknown or repeated view or one the index lacks; ConfigError for a length below 1.
std::vector<ViewPrompt> view_prompts(const index::ViewOptions& indexed,
                                     const index::ViewMarkers& markers,
                                     const SearchOptions& search);

// Fills every key's log_prob again by teacher forcing (same query, the key's view prompt).
using KeyRescorer =
    std::function<void(const std::vector<TokenId>& query, const std::vector<ViewPrompt>& views,
                       std::vector<GeneratedKey>& keys)>;

struct RetrieverOptions {
  BeamSearchOptions beam;
  ScoringOptions scoring;
};

// One query's result: its keys as scored (count, weight) and its ranked passages, whose `keys`
// index into `keys`.
struct QueryRetrieval {
  std::vector<ScoredKey> keys;
  std::vector<ScoredPassage> passages;
};

// Retrieves for `queries` (token ids). `rescorer` may be empty (keys keep their beam
// log-probabilities, which equal teacher forcing up to float rounding).
std::vector<QueryRetrieval> retrieve(StepModel& model, TokenConstraint& constraint,
                                     const index::ShardedIndex& index,
                                     const std::vector<std::vector<TokenId>>& queries,
                                     const std::vector<ViewPrompt>& views,
                                     const RetrieverOptions& options,
                                     const KeyRescorer& rescorer = {});

}  // namespace dgr::search
