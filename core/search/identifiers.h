// Generated identifiers ("keys"): what constrained beam search produces for a query and what
// intersective scoring ranks passages by. No torch here.
//
// A view is generated from a prompt: the decoder always starts from the model's decoder start
// token, then the view's prefix tokens are forced, then identifier tokens are generated:
//
//   view            decoder input                      FM-index prefix   ends
//   title           </s> + title_start + tokens        title_start       at title_end (" @@")
//   body            </s> + tokens                      (none)            after max_length tokens
//   pseudo_queries  </s> + pq_start + tokens           pq_start          at pq_end (" @@")
//
// A key's `tokens` exclude the prefix; its occurrences in the index are those of
// `prefix + tokens` (so a title key only matches titles). Stage-1 training uses the same prompts
// as targets, so what the model learns is what beam search asks it for.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/index/fm_index.h"

namespace dgr::search {

using index::TokenId;

enum class View : uint8_t { kTitle = 0, kBody = 1, kPseudoQuery = 2 };
const char* view_name(View view);  // "title", "body", "pseudo_queries"

// How one view is generated.
struct ViewPrompt {
  View view = View::kBody;
  std::vector<TokenId> prefix;  // forced after the decoder start token; also the index prefix
  std::vector<TokenId> end;     // generation of a hypothesis stops once it ends with these
  int max_length = 10;          // generated tokens (prefix excluded, end marker included)
};

// One generated identifier of one query.
struct GeneratedKey {
  View view = View::kBody;
  std::vector<TokenId> tokens;  // generated tokens, prefix excluded
  double log_prob = 0;          // Σ log p(token | query, prompt, earlier tokens)
  bool finished = false;        // ended with the view's end marker
};

}  // namespace dgr::search
