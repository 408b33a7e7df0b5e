// Synthetic training queries made from a corpus, for collections that come with judged test
// queries only (TREC DL19): each query is cut from one passage, and that passage is its single
// positive (grade 1). Two kinds:
//
// - "terms": a keyword query, the N most distinctive words of the passage. Words are maximal runs
//   of Unicode letters and digits of the title and the text, ASCII-lowercased; stop words (a
//   short English list) and single letters are not used. A word's distinctiveness is its idf over
//   the whole corpus (fewer passages holding it: higher idf; any idf monotone in the document
//   frequency ranks alike), ties broken by first position; the N chosen words are written once
//   each, in the order they first appear in the passage (title words come before text words).
// - "span": N contiguous words of one sentence of the passage text (not the title), in their
//   original case, as the substring of the text from the first word to the last, so punctuation
//   inside the span is kept and punctuation at its ends is trimmed. Words are the
//   whitespace-separated pieces holding a letter or digit; a sentence ends at a piece ending in
//   '.', '!' or '?' (closing quotes and brackets after it allowed). Abbreviations ("U.S.") also end
//   sentences: a shorter sentence is the only harm. A span needs one word that "terms" could use
//   (not only stop words), else it is drawn again.
//
// N is drawn in [min_words, max_words] and capped by the words available (all usable words of
// the passage for "terms", the sentence for "span"); a passage (or, for "span", every sentence of
// it) with fewer than min_words usable words gives no query of that kind.
//
// Guarantees: the output depends only on the corpus (its passages in index order) and the
// options; every random choice comes from SplitMix64 streams keyed by (seed, passage index, query
// slot), so it is the same on every platform and a passage's queries do not depend on which other
// passages were sampled. Queries come in passage index order, then slot order; ids are
// "<id_prefix>-<passage id>-<k>" where k is the query's slot and slot k has kind
// kinds[k % kinds.size()] (a skipped slot leaves a gap in k). No two queries of one passage have
// the same text, ignoring ASCII case: a slot whose draw repeats an earlier query redraws a few
// times, then stays empty. No torch here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/util/options.h"
#include "data/corpus.h"

namespace dgr::data {

// What the configuration sets.
struct SyntheticQuerySettings {
  int passages = 0;             // passages sampled without replacement, by seed (0: all)
  int queries_per_passage = 2;  // query slots per passage; slot k has kind kinds[k % size]
  std::vector<std::string> kinds{"terms", "span"};
  int min_words = 3;
  int max_words = 8;
};

template <class V>
void visit(V& v, SyntheticQuerySettings& o) {
  v.field("passages", o.passages,
          "Passages that get synthetic queries, drawn by the run's seed without replacement; "
          "0 = all.");
  v.field("queries_per_passage", o.queries_per_passage,
          "Queries made from each drawn passage, cycling through `kinds`.");
  v.field("kinds", o.kinds,
          "terms: the passage's N highest-idf words in their order; span: N consecutive words of "
          "one sentence.");
  v.field("min_words", o.min_words, "Fewest words of a synthetic query.");
  v.field("max_words", o.max_words, "Most words of a synthetic query.");
}

// The settings with what the run adds.
struct SyntheticQueryOptions : SyntheticQuerySettings {
  uint64_t seed = 13;
  std::string id_prefix = "syn";  // non-empty, no whitespace (ids go into TREC run files)
};

// One judgment of a synthetic query: its passage, grade 1.
struct SyntheticQrel {
  std::string query_id;
  std::string passage_id;
  int grade = 1;
};

// Queries and their qrels, in the same order (one qrel per query).
struct SyntheticQueries {
  std::vector<Query> queries;
  std::vector<SyntheticQrel> qrels;
};

// The names `kinds` accepts: "terms", "span".
const std::vector<std::string>& synthetic_query_kinds();

// Throws ConfigError naming the option when one is out of range (passages < 0,
// queries_per_passage < 1, min_words < 1, max_words < min_words, no kinds or an unknown kind, an
// empty id_prefix or one with whitespace).
void check_synthetic_query_options(const SyntheticQueryOptions& options);

// The queries of `corpus` under `options` (checked first). O(total text) time; memory holds the
// corpus vocabulary with its document frequencies. DataError when no passage gives a query.
SyntheticQueries make_synthetic_queries(const Corpus& corpus, const SyntheticQueryOptions& options);

// Writes `dir`/queries.jsonl (one {"_id", "text"} per line) and `dir`/qrels/train.tsv (the BEIR
// header "query-id<TAB>corpus-id<TAB>score", then one row per qrel), each atomically; `dir` and
// `dir`/qrels are created when missing. Both read back with load_queries / read_qrels. IoError
// naming the path when a file cannot be written; DataError naming the query when its text is not
// valid UTF-8.
void write_synthetic_queries(const std::string& dir, const SyntheticQueries& queries);

}  // namespace dgr::data
