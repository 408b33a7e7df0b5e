#include "core/search/search_options.h"

#include <cmath>

namespace dgr::search {
namespace {

using config::option_key;
using config::OptionError;

template <class Options>
void at_least(const Options& owner, const int& value, int low) {
  if (value < low) {
    throw OptionError(
        "{} must be at least " + std::to_string(low) + ", got " + std::to_string(value),
        {option_key(owner, value)});
  }
}

}  // namespace

void check_search_options(const SearchOptions& o) {
  for (const int* value : {&o.beam_size, &o.title_max_length, &o.body_max_length, &o.pq_max_length,
                           &o.batch_size, &o.max_query_length})
    at_least(o, *value, 1);
}

void check_scoring_options(const ScoringOptions& o) {
  auto positive = [&](const double& value) {
    if (!(std::isfinite(value) && value > 0)) {
      throw OptionError("{} must be positive, got " + std::to_string(value),
                        {option_key(o, value)});
    }
  };
  positive(o.alpha);
  positive(o.smoothing);
  if (!(o.beta >= 0 && o.beta <= 1)) {
    throw OptionError("{} must be in [0, 1], got " + std::to_string(o.beta),
                      {option_key(o, o.beta)});
  }
  at_least(o, o.max_hits, 1);
  at_least(o, o.fully_score, 1);
  at_least(o, o.unigram_top, 0);
  at_least(o, o.depth, 1);
}

}  // namespace dgr::search
