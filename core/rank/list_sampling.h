// Which candidates of a distillation-set query a step trains on (DGR stage 2). Per query and
// step: the `top_positives` first positives and `random_positives` more drawn at random, the
// `top_negatives` first negatives and `random_negatives` more drawn at random from the other
// negatives. "First" is in retrieval order by default (the candidates' stored order: the rank
// the candidate generator, usually the student itself, gave them), so the top negative is the
// student's hardest, as in the DGR reference; `top_by: teacher` takes them in teacher order
// instead. Every sampled positive heads one list: the positive, then all the sampled negatives
// in teacher order. With the defaults (1 + 1 positives, 1 + 3 negatives) a query with two or
// more positives gives two lists of m = 5. No torch here.
//
// Teacher order: teacher score descending, ties by candidate index ascending (the stored order,
// i.e. the candidate generator's). Draws come from a generator seeded by the caller (mix_seed of
// the run's seed, the epoch and the row), so a query's lists depend on nothing else — not on the
// rank that reads it — and every platform draws the same lists.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/util/options.h"

namespace dgr::rank {

struct ListSamplingOptions {
  int top_positives = 1;             // the teacher's best positives, each heading a list
  int random_positives = 1;          // more positives, uniformly from the remaining ones
  int top_negatives = 1;             // the teacher's best negatives
  int random_negatives = 3;          // more negatives, uniformly from the remaining ones
  std::string top_by = "retrieval";  // the order the top ones are taken in: retrieval | teacher
};

template <class V>
void visit(V& v, ListSamplingOptions& o) {
  v.field("top_positives", o.top_positives,
          "Per query and step: the first positives (in top_by order), each heading a list.");
  v.field("random_positives", o.random_positives,
          "Per query and step: more positives drawn at random, each heading a list.");
  v.field("top_negatives", o.top_negatives,
          "Per query and step: the first negatives (in top_by order), in every list.");
  v.field("random_negatives", o.random_negatives,
          "Per query and step: more negatives drawn at random, in every list.");
  v.field("top_by", config::Choice{o.top_by, {"retrieval", "teacher"}},
          "The order the top positives and negatives are taken in: retrieval (the candidates' "
          "stored order, the candidate generator's ranking: its hardest negatives, as the DGR "
          "reference does) or teacher (the teacher's scores).");
}

// OptionError for a negative count, or no positive or no negative to draw.
void check_list_sampling(const ListSamplingOptions& options);

// A seed for one (run seed, a, b): splitmix64 of the three, so nearby inputs give unrelated
// seeds.
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b);

// Candidate indices in teacher order (see the file comment). NaN scores are not accepted
// (DataError naming the candidate index).
std::vector<uint32_t> teacher_order(const std::vector<float>& teacher);

// The lists of one query: candidate indices, each list a positive followed by the sampled
// negatives in teacher order. `positive[i]` says whether candidate i is a positive (label at or
// above the relevance threshold); every other candidate is a negative. Positives come in this
// order: the first `top_positives` in top_by order, then the random ones in draw order. No list
// when there is no positive or no negative. ConfigError for a negative count or top_positives +
// random_positives < 1, or top_negatives + random_negatives < 1; DataError when the two vectors
// differ in length.
std::vector<std::vector<uint32_t>> sample_lists(const std::vector<float>& teacher,
                                                const std::vector<bool>& positive,
                                                const ListSamplingOptions& options, uint64_t seed);

}  // namespace dgr::rank
