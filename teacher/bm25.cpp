#include "teacher/bm25.h"

#include <glog/logging.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <climits>
#include <cmath>
#include <exception>
#include <mutex>
#include <numeric>
#include <thread>
#include <utility>

#include "core/util/error.h"
#include "data/dataset.h"

namespace dgr::teacher {
namespace {

// Calls fn(worker, i) for i in [0, n) on `threads` threads (worker in [0, threads)), handing out
// indices one at a time. The first exception thrown by any call is rethrown after all threads
// have stopped; the remaining indices are then skipped.
template <class Fn>
void parallel_for(size_t n, int threads, Fn&& fn) {
  const size_t workers = std::min(static_cast<size_t>(std::max(1, threads)), n);
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i)
      fn(size_t{0}, i);
    return;
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&](size_t worker) {
    for (size_t i = next++; i < n && !failed; i = next++) {
      try {
        fn(worker, i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (size_t w = 1; w < workers; ++w)
    pool.emplace_back(work, w);
  work(0);
  for (std::thread& thread : pool)
    thread.join();
  if (error) std::rethrow_exception(error);
}

std::string format_number(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

// SmallFloat.longToInt4: 4 significant bits (the leading one implicit) and a 4-bit exponent;
// values below 8 are stored as they are.
uint32_t long_to_int4(uint32_t value) {
  uint32_t bits = 0;
  for (uint32_t v = value; v != 0; v >>= 1)
    ++bits;
  if (bits < 4) return value;
  const uint32_t shift = bits - 4;
  return ((value >> shift) & 0x07u) | ((shift + 1) << 3);
}

uint32_t int4_to_long(uint32_t encoded) {
  const uint32_t bits = encoded & 0x07u;
  const uint32_t shift = encoded >> 3;
  if (shift == 0) return bits;
  return (bits | 0x08u) << (shift - 1);
}

// 255 minus the code of INT32_MAX: the byte values that store a length as it is.
constexpr uint32_t kExactLengths = 24;

}  // namespace

AnalyzerOptions Bm25Options::analyzer() const {
  AnalyzerOptions options;
  options.stemmer = parse_stemmer(stemmer);
  options.remove_stop_words = stop_words;
  return options;
}

void validate(const Bm25Options& options) {
  if (!std::isfinite(options.k1) || options.k1 < 0) {
    throw config::OptionError(
        "BM25 {} must be a finite number >= 0, got " + format_number(options.k1),
        {config::option_key(options, options.k1)});
  }
  if (!std::isfinite(options.b) || options.b < 0 || options.b > 1) {
    throw config::OptionError("BM25 {} must be in [0, 1], got " + format_number(options.b),
                              {config::option_key(options, options.b)});
  }
  (void)options.analyzer();  // refuses an unknown stemmer
}

uint8_t encode_length(uint32_t length) {
  // Lucene's lengths are Java ints; longer ones (never seen in practice) take the largest code.
  length = std::min<uint32_t>(length, INT32_MAX);
  if (length < kExactLengths) return static_cast<uint8_t>(length);
  return static_cast<uint8_t>(kExactLengths + long_to_int4(length - kExactLengths));
}

uint32_t decode_length(uint8_t byte) {
  if (byte < kExactLengths) return byte;
  return kExactLengths + int4_to_long(byte - kExactLengths);
}

std::string bm25_contents(const data::Passage& passage) {
  if (passage.title.empty()) return passage.text;
  return passage.title + " " + passage.text;
}

// Collects passages, analyses them in batches on several threads and appends their postings in
// passage order, so the index does not depend on the number of threads.
class Bm25IndexBuilder {
 public:
  Bm25IndexBuilder(const Bm25Options& options, int threads, std::string source)
      : threads_(std::max(1, threads)) {
    validate(options);
    index_.options_ = options;
    index_.source_ = std::move(source);
    for (int t = 0; t < threads_; ++t)
      analyzers_.emplace_back(options.analyzer());
  }

  // Adds the passage `id` with BM25 text `contents`, read at source:line (for the duplicate-id
  // message; line 0 when not from a file).
  void add(std::string id, std::string contents, int64_t line) {
    const size_t passage = index_.ids_.size();
    if (passage >= UINT32_MAX) {
      throw DataError(index_.source_ + ": more than 2^32 - 1 passages, too many for BM25");
    }
    index_.id_index_.add(id, passage, index_.source_, line);
    index_.ids_.push_back(std::move(id));
    pending_.push_back(std::move(contents));
    if (pending_.size() >= kBatch) flush();
  }

  Bm25Index finish() {
    flush();
    index_.finish();
    return std::move(index_);
  }

 private:
  static constexpr size_t kBatch = 4096;

  // A passage's distinct terms with their frequencies, in byte order of the term.
  struct Analysed {
    std::vector<std::pair<std::string, uint32_t>> terms;
    uint32_t length = 0;
  };

  void flush() {
    std::vector<Analysed> analysed(pending_.size());
    parallel_for(pending_.size(), threads_, [&](size_t worker, size_t i) {
      std::vector<std::string> terms = analyzers_[worker].analyze(pending_[i]);
      std::sort(terms.begin(), terms.end());
      Analysed& out = analysed[i];
      out.length = static_cast<uint32_t>(terms.size());
      for (std::string& term : terms) {
        if (!out.terms.empty() && out.terms.back().first == term) {
          ++out.terms.back().second;
        } else {
          out.terms.emplace_back(std::move(term), 1);
        }
      }
    });
    const size_t first = index_.lengths_.size();
    for (size_t i = 0; i < analysed.size(); ++i) {
      const auto passage = static_cast<uint32_t>(first + i);
      index_.lengths_.push_back(analysed[i].length);
      for (auto& [term, tf] : analysed[i].terms) {
        auto [it, added] = index_.term_ids_.try_emplace(
            std::move(term), static_cast<uint32_t>(index_.postings_.size()));
        if (added) index_.postings_.emplace_back();
        index_.postings_[it->second].push_back({passage, tf});
      }
    }
    pending_.clear();
  }

  Bm25Index index_;
  int threads_;
  std::vector<EnglishAnalyzer> analyzers_;  // one per thread: a stemmer is not thread-safe
  std::vector<std::string> pending_;        // contents of passages not analysed yet
};

Bm25Index Bm25Index::build(const data::Corpus& corpus, const Bm25Options& options, int threads,
                           std::string source) {
  Bm25IndexBuilder builder(options, threads, std::move(source));
  for (const data::Passage& passage : corpus)
    builder.add(passage.id, bm25_contents(passage), 0);
  return builder.finish();
}

Bm25Index Bm25Index::build(const std::string& path, const std::string& format,
                           const Bm25Options& options, int threads) {
  Bm25IndexBuilder builder(options, threads, path);
  data::for_each_passage(path, format, [&builder](data::Passage&& passage, int64_t line) {
    std::string contents = bm25_contents(passage);
    builder.add(std::move(passage.id), std::move(contents), line);
  });
  return builder.finish();
}

void Bm25Index::finish() {
  const size_t n = ids_.size();
  total_terms_ = 0;
  passages_with_terms_ = 0;
  for (uint32_t length : lengths_) {
    total_terms_ += length;
    if (length > 0) ++passages_with_terms_;
  }
  average_length_ = passages_with_terms_ == 0 ? 0.0
                                              : static_cast<double>(total_terms_) /
                                                    static_cast<double>(passages_with_terms_);
  const double k1 = options_.k1;
  const double b = options_.b;
  length_norm_.resize(n);
  for (size_t p = 0; p < n; ++p) {
    const double dl = scoring_length(static_cast<uint32_t>(p));
    const double relative = average_length_ > 0 ? dl / average_length_ : 0.0;
    length_norm_[p] = k1 * ((1 - b) + b * relative);
  }
  id_order_.resize(n);
  std::vector<uint32_t> by_id(n);
  std::iota(by_id.begin(), by_id.end(), 0u);
  std::sort(by_id.begin(), by_id.end(),
            [this](uint32_t a, uint32_t b) { return ids_[a] < ids_[b]; });
  for (size_t rank = 0; rank < n; ++rank)
    id_order_[by_id[rank]] = static_cast<uint32_t>(rank);
  for (std::vector<Posting>& list : postings_)
    list.shrink_to_fit();
}

std::optional<uint32_t> Bm25Index::find(const std::string& passage_id) const {
  const std::optional<size_t> index = id_index_.find(passage_id);
  if (!index) return std::nullopt;
  return static_cast<uint32_t>(*index);
}

uint32_t Bm25Index::index_of(const std::string& passage_id, const std::string& context) const {
  const std::optional<uint32_t> index = find(passage_id);
  if (!index) {
    throw DataError((source_.empty() ? std::string("BM25 index") : source_) +
                    ": unknown passage id '" + passage_id + "' (" + context + ")");
  }
  return *index;
}

uint32_t Bm25Index::scoring_length(uint32_t passage) const {
  const uint32_t length = lengths_[passage];
  return options_.quantize_lengths ? decode_length(encode_length(length)) : length;
}

uint32_t Bm25Index::document_frequency(std::string_view term) const {
  auto it = term_ids_.find(std::string(term));
  return it == term_ids_.end() ? 0 : static_cast<uint32_t>(postings_[it->second].size());
}

uint32_t Bm25Index::term_frequency(std::string_view term, uint32_t passage) const {
  auto it = term_ids_.find(std::string(term));
  if (it == term_ids_.end()) return 0;
  const std::vector<Posting>& list = postings_[it->second];
  auto hit = std::lower_bound(list.begin(), list.end(), passage,
                              [](const Posting& p, uint32_t value) { return p.passage < value; });
  return hit != list.end() && hit->passage == passage ? hit->tf : 0;
}

double Bm25Index::idf(uint32_t df) const {
  const auto n = static_cast<double>(passages_with_terms_);
  const double d = df;
  return std::log(1.0 + (n - d + 0.5) / (d + 0.5));
}

std::vector<Bm25Index::QueryTerm> Bm25Index::query_terms(
    const std::vector<std::string>& terms) const {
  std::vector<QueryTerm> out;
  for (const std::string& term : terms) {
    auto it = term_ids_.find(term);
    if (it == term_ids_.end()) continue;
    auto same = std::find_if(out.begin(), out.end(),
                             [&](const QueryTerm& q) { return q.term == it->second; });
    if (same != out.end()) {
      ++same->count;
    } else {
      out.push_back({it->second, 1, 0.0});
    }
  }
  for (QueryTerm& q : out) {
    const auto df = static_cast<uint32_t>(postings_[q.term].size());
    q.weight = q.count * idf(df) * (options_.k1 + 1);
  }
  return out;
}

std::vector<double> Bm25Index::score(const std::vector<std::string>& terms,
                                     const std::vector<uint32_t>& passages) const {
  const std::vector<QueryTerm> query = query_terms(terms);
  std::vector<double> scores(passages.size(), 0.0);
  for (size_t i = 0; i < passages.size(); ++i) {
    const uint32_t passage = passages[i];
    CHECK_LT(passage, ids_.size()) << "passage index out of range";
    double sum = 0.0;
    for (const QueryTerm& term : query) {
      const std::vector<Posting>& list = postings_[term.term];
      auto hit =
          std::lower_bound(list.begin(), list.end(), passage,
                           [](const Posting& p, uint32_t value) { return p.passage < value; });
      if (hit != list.end() && hit->passage == passage) sum += term_score(term, *hit);
    }
    scores[i] = sum;
  }
  return scores;
}

Bm25Searcher::Bm25Searcher(const Bm25Index& index)
    : index_(index), analyzer_(index.options().analyzer()) {}

std::vector<std::string> Bm25Searcher::analyze(std::string_view query) {
  return analyzer_.analyze(query);
}

std::vector<Bm25Hit> Bm25Searcher::search(std::string_view query, size_t k) {
  const std::vector<Bm25Index::QueryTerm> terms = index_.query_terms(analyzer_.analyze(query));
  if (accumulator_.size() != index_.num_passages()) {
    accumulator_.assign(index_.num_passages(), 0.0);
  }
  // Term at a time into a dense accumulator. Every contribution is positive (idf > 0, tf > 0),
  // so a zero entry means "not touched yet".
  for (const Bm25Index::QueryTerm& term : terms) {
    for (const Bm25Index::Posting& posting : index_.postings_[term.term]) {
      double& sum = accumulator_[posting.passage];
      if (sum == 0.0) touched_.push_back(posting.passage);
      sum += index_.term_score(term, posting);
    }
  }
  auto better = [this](const Bm25Hit& a, const Bm25Hit& b) {
    if (a.score != b.score) return a.score > b.score;
    return index_.id_before(a.passage, b.passage);
  };
  const size_t keep = k == 0 ? touched_.size() : std::min(k, touched_.size());
  std::vector<Bm25Hit> heap;  // the best `keep` so far; the front is the worst of them
  heap.reserve(keep);
  for (uint32_t passage : touched_) {
    const Bm25Hit hit{passage, accumulator_[passage]};
    accumulator_[passage] = 0.0;
    if (keep == 0) continue;
    if (heap.size() < keep) {
      heap.push_back(hit);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (better(hit, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = hit;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
  touched_.clear();
  std::sort_heap(heap.begin(), heap.end(), better);
  return heap;
}

std::vector<double> Bm25Searcher::score(std::string_view query,
                                        const std::vector<uint32_t>& passages) {
  return index_.score(analyzer_.analyze(query), passages);
}

std::vector<std::vector<Bm25Hit>> search_batch(const Bm25Index& index,
                                               const std::vector<std::string>& queries, size_t k,
                                               int threads) {
  std::vector<std::vector<Bm25Hit>> results(queries.size());
  const size_t workers = std::min(static_cast<size_t>(std::max(1, threads)), queries.size());
  std::vector<Bm25Searcher> searchers;
  searchers.reserve(workers);
  for (size_t w = 0; w < workers; ++w)
    searchers.emplace_back(index);
  parallel_for(queries.size(), static_cast<int>(workers), [&](size_t worker, size_t q) {
    results[q] = searchers[worker].search(queries[q], k);
  });
  return results;
}

Bm25Ranker::Bm25Ranker(std::shared_ptr<const Bm25Index> index, int threads)
    : index_(std::move(index)), threads_(std::max(1, threads)) {
  CHECK(index_ != nullptr);
}

std::string Bm25Ranker::name() const {
  const Bm25Options& o = index_->options();
  std::string name = "bm25:k1=" + format_number(o.k1) + ",b=" + format_number(o.b);
  if (!o.quantize_lengths) name += ",exact-lengths";
  const AnalyzerOptions analyzer = o.analyzer();
  if (analyzer.stemmer != Stemmer::kPorter) {
    name += std::string(",stemmer=") + stemmer_name(analyzer.stemmer);
  }
  if (!analyzer.remove_stop_words) name += ",stop-words-kept";
  return name;
}

std::vector<uint32_t> Bm25Ranker::passages_of(const TeacherQuery& query) const {
  std::vector<uint32_t> passages;
  passages.reserve(query.passage_ids.size());
  for (const std::string& id : query.passage_ids) {
    passages.push_back(index_->index_of(id, "BM25 teacher, query '" + query.query_id + "'"));
  }
  return passages;
}

std::vector<float> Bm25Ranker::score(const std::string& query_id, const std::string& query_text,
                                     const std::vector<std::string>& passage_ids) {
  return score_batch({TeacherQuery{query_id, query_text, passage_ids}}).front();
}

std::vector<std::vector<float>> Bm25Ranker::score_batch(const std::vector<TeacherQuery>& queries) {
  // Resolve every id first, so that a bad id fails before any work.
  std::vector<std::vector<uint32_t>> passages;
  passages.reserve(queries.size());
  for (const TeacherQuery& query : queries)
    passages.push_back(passages_of(query));

  std::vector<std::vector<float>> scores(queries.size());
  const size_t workers = std::min(static_cast<size_t>(threads_), queries.size());
  std::vector<Bm25Searcher> searchers;
  searchers.reserve(workers);
  for (size_t w = 0; w < workers; ++w)
    searchers.emplace_back(*index_);
  parallel_for(queries.size(), static_cast<int>(workers), [&](size_t worker, size_t q) {
    const std::vector<double> exact = searchers[worker].score(queries[q].query_text, passages[q]);
    scores[q].assign(exact.begin(), exact.end());
  });
  return scores;
}

}  // namespace dgr::teacher
