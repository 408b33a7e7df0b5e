// FM-index over the token ids of a corpus's identifier views: the structure that constrained
// decoding asks "which tokens may follow this prefix?" and scoring asks "how often, and in which
// passages, does this n-gram occur?" and "what are this passage's tokens?" (the index holds the
// corpus's token ids in full: no separate copy of the passages is needed).
//
// Layout (SEAL's, with one change): each passage contributes one or more segments (its views,
// see views.h); every segment is written REVERSED and followed by a separator, and the segments
// of all passages are concatenated in passage order. A token id t is written as 2 + its rank
// among the distinct ids of the corpus (0 is sdsl's terminator, 1 the separator), so n-grams never
// cross a segment; ranks keep id order, and keep the wavelet tree's per-symbol tables as small as
// the corpus's vocabulary whatever the ids are. Because the text is reversed, extending a prefix
// by one token on the right is one backward-search step: `extend(range(p), t) == range(p + t)`.
// Callers keep each beam's range and extend it instead of searching the whole prefix again at
// every step.
//
// Ranges are half-open suffix-array intervals [begin, end); the empty prefix has the full range,
// every suffix of the text, separators included: count({}) is the text length and passages({})
// every passage with at least one segment. An empty range is always {0, 0}.
// All calls are const and thread-safe. No torch here.
#pragma once

#include <cstdint>
#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace dgr::index {

using TokenId = int32_t;

// A suffix-array interval [begin, end): the occurrences of one token sequence.
struct SaRange {
  uint64_t begin = 0;
  uint64_t end = 0;
  bool empty() const { return end <= begin; }
  uint64_t count() const { return empty() ? 0 : end - begin; }
  bool operator==(const SaRange& o) const { return begin == o.begin && end == o.end; }
};

// One passage's segments (token id sequences, in natural order), as given to the builder.
using PassageSegments = std::vector<std::vector<TokenId>>;

class FmIndex {
 public:
  FmIndex();  // the index of an empty corpus
  ~FmIndex();
  FmIndex(FmIndex&&) noexcept;
  FmIndex& operator=(FmIndex&&) noexcept;

  // Builds over `passages` (passage i gets local index i). Token ids must be in [0, 2^31 - 3].
  // O(n log σ) space during construction, dominated by suffix sorting. Builds in one process
  // run one at a time (sdsl's construction names its temporary in-memory files non-atomically).
  static FmIndex build(const std::vector<PassageSegments>& passages);

  // The range of the empty prefix (every suffix). O(1)
  SaRange full_range() const;
  // The range of prefix + token, from the range of prefix. O(H0 + log σ): one rank per level of
  // the entropy-shaped wavelet tree, plus the id's rank in the alphabet.
  SaRange extend(SaRange range, TokenId token) const;
  // The range of a whole n-gram (natural order). O(|ngram| log σ)
  SaRange find(const std::vector<TokenId>& ngram) const;
  // The distinct tokens that follow the prefix of `range` inside a segment, ascending, with the
  // number of occurrences of each (separator and terminator excluded). O(k log σ), k successors.
  void next_tokens(SaRange range, std::vector<TokenId>& tokens,
                   std::vector<uint64_t>& counts) const;
  // Occurrences of an n-gram in the indexed text. O(|ngram| log σ)
  uint64_t count(const std::vector<TokenId>& ngram) const;
  // Distinct local passage indices containing the n-gram, ascending, at most `limit` of them
  // (the first `limit` in ascending order). O(occ · (locate + log n)) for occ occurrences.
  std::vector<uint32_t> passages(const std::vector<TokenId>& ngram, size_t limit) const;
  std::vector<uint32_t> passages(SaRange range, size_t limit) const;
  // The segments of a local passage, in natural order, exactly as given to build (a passage
  // built with no segments gives none; an empty segment comes back empty). Read back from the
  // index by an LF walk over the passage's text: O(ℓ·H0 + s·H0), ℓ the passage's tokens and
  // separators, s ≤ 32 the steps to the nearest inverse-SA sample. `local_passage` must be
  // < num_passages() (CHECK).
  PassageSegments passage_segments(uint32_t local_passage) const;

  uint32_t num_passages() const;
  uint64_t num_tokens() const;  // indexed tokens, separators excluded
  uint64_t size_in_bytes() const;

  // Binary serialisation (sdsl structures + boundaries), deterministic: the same input gives
  // the same bytes. `load` throws DataError naming `source` on a truncated or corrupt stream
  // (checked against a SHA-256 of the bytes before sdsl parses them); it reads exactly what
  // `save` wrote, so several indexes can follow each other in one stream.
  void save(std::ostream& out) const;
  static FmIndex load(std::istream& in, const std::string& source);

 private:
  struct Impl;
  explicit FmIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dgr::index
