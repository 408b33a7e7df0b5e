// BM25 over a corpus with its own inverted index, scored as Lucene's BM25Similarity scores it, so
// that a run of ours ranks like an Anserini run over the same passages:
//
//   score(q, d) = Σ_{t ∈ q} idf(t) · tf·(k1 + 1) / (tf + k1·(1 − b + b·dl/avgdl))
//   idf(t)      = ln(1 + (N − df + 0.5) / (df + 0.5))
//
// over the analysed terms of teacher/analyzer.h (defaults k1 = 0.9, b = 0.4, as Anserini's). Every
// analysed query token counts, so a query term written twice adds its score twice (Lucene's
// BooleanQuery of SHOULD clauses). N is the number of passages with at least one term and avgdl
// their mean length in terms (Lucene's docCount and sumTotalTermFreq / docCount). Lucene stores
// a document's length in one byte (SmallFloat.intToByte4: exact up to 39, then 4 significant
// bits, rounded down) and scores with the decoded length; `quantize_lengths` (default on) does
// the same, so scores and ties match Anserini's; off uses the exact length. Lucene 8 and later
// drop the constant factor (k1 + 1), which scales every score alike and changes no ranking.
//
// The passage text is "title text" (the title, a space, the text; the text alone when the title
// is empty), as Anserini indexes BEIR's "contents" field. Rankings put higher scores first and
// break ties by passage id, ascending in byte order (Anserini's order; trec_eval re-sorts ties
// itself when it evaluates, see core/eval/metrics.h).
//
// Bm25Index is immutable once built and safe to share between threads; a Bm25Searcher holds the
// per-thread state (an analyzer and a score accumulator), so use one per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/util/options.h"
#include "data/corpus.h"
#include "teacher/analyzer.h"
#include "teacher/teacher_ranker.h"

namespace dgr::teacher {

// BM25's options as the configuration holds them (Anserini's defaults).
struct Bm25Options {
  double k1 = 0.9;
  double b = 0.4;
  bool quantize_lengths = true;  // score with Lucene's one-byte document lengths
  std::string stemmer = "porter";
  bool stop_words = true;

  // The analysis chain these options ask for (ConfigError for an unknown stemmer).
  AnalyzerOptions analyzer() const;
};

template <class V>
void visit(V& v, Bm25Options& o) {
  v.field("k1", o.k1, "BM25 term-frequency saturation k1 (Anserini's default 0.9).");
  v.field("b", o.b, "BM25 length normalisation b in [0, 1] (Anserini's default 0.4).");
  v.field("quantize_lengths", o.quantize_lengths,
          "Score with Lucene's one-byte passage lengths (exact below 40, then 4 significant "
          "bits), as Anserini does; false uses exact lengths.");
  v.field("stemmer", config::Choice{o.stemmer, {"porter", "english", "none"}},
          "Stemmer of the analyzer: porter (Lucene's PorterStemFilter, Anserini's default), "
          "english (Snowball Porter2) or none.");
  v.field("stop_words", o.stop_words, "Drop Lucene's 33 English stop words.");
}

// OptionError unless k1 >= 0 and 0 <= b <= 1 (both finite); ConfigError for an unknown stemmer.
void validate(const Bm25Options& options);

// Lucene's SmallFloat.intToByte4 and byte4ToInt: a length in one byte, exact below 40, then a
// float with 4 significant bits, rounded down. decode(encode(n)) <= n.
uint8_t encode_length(uint32_t length);
uint32_t decode_length(uint8_t byte);

// The text BM25 indexes for a passage: "title text", or the text alone when there is no title.
std::string bm25_contents(const data::Passage& passage);

// One ranked passage: internal index (position in the corpus) and score.
struct Bm25Hit {
  uint32_t passage = 0;
  double score = 0.0;
};

class Bm25Index {
 public:
  // Indexes `corpus` with `threads` analysing threads (the index is the same for any number).
  // `source` names the corpus in messages (e.g. its path).
  static Bm25Index build(const data::Corpus& corpus, const Bm25Options& options, int threads = 1,
                         std::string source = "");
  // Indexes the corpus file at `path` (data/dataset.h formats) while streaming it, without
  // holding its text. Duplicate ids are a DataError naming both lines.
  static Bm25Index build(const std::string& path, const std::string& format,
                         const Bm25Options& options, int threads = 1);

  const Bm25Options& options() const { return options_; }
  const std::string& source() const { return source_; }

  size_t num_passages() const { return ids_.size(); }
  const std::string& passage_id(uint32_t passage) const { return ids_[passage]; }
  std::optional<uint32_t> find(const std::string& passage_id) const;
  // Throws DataError "<source>: unknown passage id 'X' (<context>)".
  uint32_t index_of(const std::string& passage_id, const std::string& context) const;

  // Terms of a passage after analysis (its exact length) and the length BM25 uses.
  uint32_t length(uint32_t passage) const { return lengths_[passage]; }
  uint32_t scoring_length(uint32_t passage) const;

  size_t num_terms() const { return postings_.size(); }
  uint64_t total_terms() const { return total_terms_; }
  // N of the idf: passages with at least one term.
  size_t passages_with_terms() const { return passages_with_terms_; }
  double average_length() const { return average_length_; }

  // Passages containing `term` (an analysed term), 0 when it does not occur.
  uint32_t document_frequency(std::string_view term) const;
  // Occurrences of `term` in `passage`.
  uint32_t term_frequency(std::string_view term, uint32_t passage) const;
  // idf of a term occurring in `df` passages.
  double idf(uint32_t df) const;

  // BM25 of `passages` for the analysed query `terms` (0 for a passage with no query term).
  // O(|distinct terms| · |passages| · log df).
  std::vector<double> score(const std::vector<std::string>& terms,
                            const std::vector<uint32_t>& passages) const;

  // Whether `a` ranks above `b` at equal scores (passage id order).
  bool id_before(uint32_t a, uint32_t b) const { return id_order_[a] < id_order_[b]; }

 private:
  friend class Bm25Searcher;
  friend class Bm25IndexBuilder;
  struct Posting {
    uint32_t passage;
    uint32_t tf;
  };
  // A query term present in the index, with its multiplicity in the query.
  struct QueryTerm {
    uint32_t term;
    uint32_t count;
    double weight;  // count · idf · (k1 + 1)
  };
  std::vector<QueryTerm> query_terms(const std::vector<std::string>& terms) const;
  // One term's contribution for a passage's posting; the same expression everywhere, so that
  // search() and score() give bit-identical sums.
  double term_score(const QueryTerm& term, const Posting& posting) const {
    const double tf = posting.tf;
    return term.weight * tf / (tf + length_norm_[posting.passage]);
  }
  void finish();

  Bm25Options options_;
  std::string source_;
  std::vector<std::string> ids_;
  data::IdIndex id_index_{"passage"};
  std::vector<uint32_t> id_order_;  // rank of each passage's id in byte order
  std::vector<uint32_t> lengths_;
  std::vector<double> length_norm_;  // k1 · (1 − b + b · dl / avgdl) per passage
  std::unordered_map<std::string, uint32_t> term_ids_;
  std::vector<std::vector<Posting>> postings_;  // by term id, passages ascending
  uint64_t total_terms_ = 0;
  size_t passages_with_terms_ = 0;
  double average_length_ = 0.0;
};

// Queries against a shared index. Not thread-safe (it owns an analyzer and an accumulator of one
// double per passage, allocated on the first search); the index is only read.
class Bm25Searcher {
 public:
  explicit Bm25Searcher(const Bm25Index& index);

  // The analysed terms of a query.
  std::vector<std::string> analyze(std::string_view query);
  // The `k` best passages for `query`, best first (k = 0: every passage with a query term).
  // Passages without any query term are never returned. O(Σ df of the query terms + m log k)
  // for m matching passages.
  std::vector<Bm25Hit> search(std::string_view query, size_t k);
  // BM25 of `passages` for `query`, in order (see Bm25Index::score).
  std::vector<double> score(std::string_view query, const std::vector<uint32_t>& passages);

 private:
  const Bm25Index& index_;
  EnglishAnalyzer analyzer_;
  std::vector<double> accumulator_;
  std::vector<uint32_t> touched_;
};

// search() for every query, on `threads` threads (one searcher each); results in query order,
// identical for any number of threads.
std::vector<std::vector<Bm25Hit>> search_batch(const Bm25Index& index,
                                               const std::vector<std::string>& queries, size_t k,
                                               int threads = 1);

// The BM25 teacher: scores (query, passage) pairs with a shared index. score() is thread-safe.
class Bm25Ranker : public TeacherRanker {
 public:
  explicit Bm25Ranker(std::shared_ptr<const Bm25Index> index, int threads = 1);

  // "bm25:k1=0.9,b=0.4" (plus ",exact-lengths" / ",stemmer=..." when not the defaults).
  std::string name() const override;
  // An id that is not in the index is a DataError naming it, the query and the corpus.
  std::vector<float> score(const std::string& query_id, const std::string& query_text,
                           const std::vector<std::string>& passage_ids) override;
  // The queries spread over the ranker's threads.
  std::vector<std::vector<float>> score_batch(const std::vector<TeacherQuery>& queries) override;

  const Bm25Index& index() const { return *index_; }

 private:
  std::vector<uint32_t> passages_of(const TeacherQuery& query) const;

  std::shared_ptr<const Bm25Index> index_;
  int threads_;
};

}  // namespace dgr::teacher
