#include "core/search/beam_search.h"

#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

#include "core/util/error.h"

namespace dgr::search {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// One extension of one live row (its parent): parent row + token, with the hypothesis's total
// log-prob, in the beam order of step_model.h's better().
using Candidate = Extension;

// The k best candidates offered, in a heap whose front is the worst kept: O(log k) per candidate
// that enters, one comparison against threshold() for one that does not.
class TopK {
 public:
  void reset(size_t k) {
    k_ = k;
    heap_.clear();
    threshold_ = kNegInf;
  }
  // A candidate scoring below this cannot enter (-inf until k are kept).
  double threshold() const { return threshold_; }
  void offer(const Candidate& c) {
    if (!(c.score > kNegInf)) return;  // probability 0 (or NaN): never a hypothesis
    if (heap_.size() < k_) {
      heap_.push_back(c);
      std::push_heap(heap_.begin(), heap_.end(), better);
      if (heap_.size() == k_) threshold_ = heap_.front().score;
      return;
    }
    if (!better(c, heap_.front())) return;
    std::pop_heap(heap_.begin(), heap_.end(), better);
    heap_.back() = c;
    std::push_heap(heap_.begin(), heap_.end(), better);
    threshold_ = heap_.front().score;
  }
  // Best first. Leaves the object to be reset.
  const std::vector<Candidate>& sorted() {
    std::sort_heap(heap_.begin(), heap_.end(), better);
    return heap_;
  }

 private:
  size_t k_ = 0;
  double threshold_ = kNegInf;
  std::vector<Candidate> heap_;
};

// A float bound below which no log-prob can reach `threshold` from `base`: the exact test in
// double, loosened to cover the float rounding, so the scan over V compares floats only.
inline float float_cut(double threshold, double base) {
  const double cut = threshold - base;
  if (!(cut > kNegInf)) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(cut - 1e-6 * (1.0 + std::abs(cut)));
}

// Offers every allowed token of one row (every token when `allowed` is null).
inline void offer_row(TopK& top, int64_t row, double base, const float* log_probs, int64_t vocab,
                      const std::vector<TokenId>* allowed) {
  if (allowed != nullptr) {
    for (const TokenId token : *allowed) {
      const double score = base + static_cast<double>(log_probs[token]);
      if (score >= top.threshold()) top.offer(Candidate{score, row, token});
    }
    return;
  }
  float cut = float_cut(top.threshold(), base);
  for (int64_t token = 0; token < vocab; ++token) {
    if (log_probs[token] < cut) continue;
    const double score = base + static_cast<double>(log_probs[token]);
    if (score >= top.threshold()) {
      top.offer(Candidate{score, row, static_cast<TokenId>(token)});
      cut = float_cut(top.threshold(), base);
    }
  }
}

// StepModel::select_extensions's choice made on the host, by a scan of step()'s log-probabilities:
// per group of `request`, its best request.k in the beam order.
std::vector<std::vector<Extension>> select_on_host(TopK& top, const LogProbs& log_probs,
                                                   const ExtensionRequest& request) {
  std::vector<std::vector<Extension>> chosen(request.begin.size() - 1);
  for (size_t g = 0; g < chosen.size(); ++g) {
    top.reset(request.k);
    for (size_t r = request.begin[g]; r < request.begin[g + 1]; ++r) {
      offer_row(top, static_cast<int64_t>(r), request.base[r],
                log_probs.row(static_cast<int64_t>(r)), log_probs.vocab,
                request.allowed != nullptr ? &(*request.allowed)[r] : nullptr);
    }
    chosen[g] = top.sorted();
  }
  return chosen;
}

// Keys of all queries, tokens in one pool, deduplicated and sorted once at the end.
class KeyStore {
 public:
  void add(uint32_t query, View view, const TokenId* tokens, size_t length, double log_prob,
           bool finished) {
    records_.push_back(Record{query, view, finished, pool_.size(), length, log_prob});
    pool_.insert(pool_.end(), tokens, tokens + length);
  }

  void emit(std::vector<SearchResult>& results) {
    std::vector<size_t> order(records_.size());
    std::iota(order.begin(), order.end(), size_t{0});
    // Group by (query, view, tokens), best log-prob first, and keep the first of each group.
    std::sort(order.begin(), order.end(), [this](size_t a, size_t b) {
      const Record& x = records_[a];
      const Record& y = records_[b];
      if (x.query != y.query) return x.query < y.query;
      if (x.view != y.view) return x.view < y.view;
      const int c = compare_tokens(x, y);
      if (c != 0) return c < 0;
      if (x.log_prob != y.log_prob) return x.log_prob > y.log_prob;
      return a < b;
    });
    std::vector<size_t> kept;
    kept.reserve(order.size());
    for (size_t i = 0; i < order.size(); ++i) {
      const Record& x = records_[order[i]];
      if (!kept.empty()) {
        const Record& y = records_[kept.back()];
        if (x.query == y.query && x.view == y.view && compare_tokens(x, y) == 0) continue;
      }
      kept.push_back(order[i]);
    }
    std::sort(kept.begin(), kept.end(), [this](size_t a, size_t b) {
      const Record& x = records_[a];
      const Record& y = records_[b];
      if (x.query != y.query) return x.query < y.query;
      if (x.log_prob != y.log_prob) return x.log_prob > y.log_prob;
      if (x.view != y.view) return x.view < y.view;
      return compare_tokens(x, y) < 0;
    });
    for (const size_t k : kept) {
      const Record& x = records_[k];
      GeneratedKey key;
      key.view = x.view;
      key.tokens.assign(pool_.begin() + static_cast<std::ptrdiff_t>(x.offset),
                        pool_.begin() + static_cast<std::ptrdiff_t>(x.offset + x.length));
      key.log_prob = x.log_prob;
      key.finished = x.finished;
      results[x.query].keys.push_back(std::move(key));
    }
  }

 private:
  struct Record {
    uint32_t query;
    View view;
    bool finished;
    size_t offset;  // into pool_
    size_t length;
    double log_prob;
  };

  int compare_tokens(const Record& x, const Record& y) const {
    const TokenId* a = pool_.data() + x.offset;
    const TokenId* b = pool_.data() + y.offset;
    const size_t n = std::min(x.length, y.length);
    for (size_t i = 0; i < n; ++i) {
      if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    }
    return x.length < y.length ? -1 : (x.length > y.length ? 1 : 0);
  }

  std::vector<Record> records_;
  std::vector<TokenId> pool_;
};

bool ends_with(const TokenId* tokens, size_t length, const std::vector<TokenId>& end) {
  if (end.empty() || length < end.size()) return false;
  return std::equal(end.begin(), end.end(), tokens + (length - end.size()));
}

void check_options(const BeamSearchOptions& options, const std::vector<ViewPrompt>& views) {
  if (options.beam_size < 1) {
    throw ConfigError("beam search: beam_size must be at least 1, got " +
                      std::to_string(options.beam_size));
  }
  if (options.unigram_top < 0) {
    throw ConfigError("beam search: unigram_top must be 0 (off) or positive, got " +
                      std::to_string(options.unigram_top));
  }
  for (const ViewPrompt& view : views) {
    if (view.max_length < 1) {
      throw ConfigError(std::string("beam search: view ") + view_name(view.view) +
                        " has max_length " + std::to_string(view.max_length) +
                        "; it must be at least 1");
    }
  }
}

// The constraint's lists are ascending, so their ends bound every id.
void check_vocabulary(const std::vector<TokenId>& allowed, int64_t vocab) {
  if (allowed.empty()) return;
  if (allowed.front() < 0 || allowed.back() >= vocab) {
    const TokenId bad = allowed.front() < 0 ? allowed.front() : allowed.back();
    throw DataError("beam search: the constraint allows token id " + std::to_string(bad) +
                    ", outside the model's vocabulary of " + std::to_string(vocab) +
                    " (index built with another tokenizer?)");
  }
}

}  // namespace

std::vector<SearchResult> beam_search(StepModel& model, TokenConstraint& constraint,
                                      const std::vector<std::vector<TokenId>>& queries,
                                      const std::vector<ViewPrompt>& views,
                                      const BeamSearchOptions& options) {
  check_options(options, views);
  const size_t num_queries = queries.size();
  std::vector<SearchResult> results(num_queries);
  if (num_queries == 0 || views.empty()) return results;
  const int64_t vocab = model.vocab_size();
  const size_t beam = static_cast<size_t>(options.beam_size);

  // Live rows, grouped by query in query order and, within a query, in beam order. Every live
  // row of a step has generated the same number of tokens, so hypotheses are one flat array.
  std::vector<uint32_t> row_query, next_row_query;
  std::vector<double> row_score, next_row_score;
  std::vector<TokenId> hypotheses, next_hypotheses;  // [rows × t]
  std::vector<int64_t> parents;
  std::vector<TokenId> step_tokens;
  std::vector<std::vector<TokenId>> allowed;
  TopK top;
  KeyStore keys;
  bool unigrams_done = false;

  model.start(queries);
  for (size_t v = 0; v < views.size(); ++v) {
    const ViewPrompt& view = views[v];
    const size_t max_length = static_cast<size_t>(view.max_length);
    if (v > 0) model.restart();

    size_t rows = num_queries;
    row_query.resize(rows);
    std::iota(row_query.begin(), row_query.end(), 0u);
    row_score.assign(rows, 0.0);
    hypotheses.clear();
    step_tokens.clear();
    for (size_t r = 0; r < rows; ++r) {
      step_tokens.push_back(model.decoder_start_token());
      step_tokens.insert(step_tokens.end(), view.prefix.begin(), view.prefix.end());
    }
    LogProbs log_probs;  // [rows × V] on the host, unless the model selects on its device
    const bool on_device = model.selects_on_device();
    auto advance = [&](int64_t tokens_per_row) {
      if (on_device) {
        model.step_on_device(step_tokens, tokens_per_row);
      } else {
        log_probs = model.step(step_tokens, tokens_per_row);
      }
    };
    // The best extensions of each group of rows, chosen where the log-probabilities are.
    auto select = [&](const ExtensionRequest& request) {
      std::vector<std::vector<Extension>> chosen =
          on_device ? model.select_extensions(request) : select_on_host(top, log_probs, request);
      CHECK_EQ(chosen.size() + 1, request.begin.size()) << "extensions chosen for other groups";
      return chosen;
    };
    advance(static_cast<int64_t>(1 + view.prefix.size()));
    constraint.start(rows, view.prefix);
    const bool want_unigrams = options.unigram_top > 0 && !unigrams_done &&
                               view.view == View::kBody && view.prefix.empty();

    for (size_t length = 1;; ++length) {  // the live rows have length - 1 tokens
      if (!on_device) {
        CHECK_EQ(log_probs.rows, static_cast<int64_t>(rows)) << "model returned another row count";
        CHECK_EQ(log_probs.vocab, vocab) << "model returned another vocabulary size";
      }
      const bool constrained = constraint.allowed(allowed);
      if (constrained) {
        CHECK_GE(allowed.size(), rows) << "constraint has fewer rows than the model";
        for (size_t r = 0; r < rows; ++r)
          check_vocabulary(allowed[r], vocab);
      }

      if (want_unigrams && length == 1) {  // one row per query, each its own group
        ExtensionRequest request;
        for (size_t q = 0; q <= num_queries; ++q)
          request.begin.push_back(q);
        request.base.assign(num_queries, 0.0);
        request.allowed = constrained ? &allowed : nullptr;
        request.k = static_cast<size_t>(options.unigram_top);
        const std::vector<std::vector<Extension>> chosen = select(request);
        for (size_t q = 0; q < num_queries; ++q) {
          for (const Extension& c : chosen[q])
            results[q].unigrams.push_back(Unigram{c.token, c.score});
        }
        unigrams_done = true;
      }

      // Top beam_size extensions per query; finished ones become keys, the others live rows.
      parents.clear();
      step_tokens.clear();
      next_row_query.clear();
      next_row_score.clear();
      next_hypotheses.clear();
      const size_t parent_length = length - 1;
      // The groups: each query's consecutive live rows.
      ExtensionRequest request;
      for (size_t r = 0; r < rows; ++r) {
        if (r == 0 || row_query[r] != row_query[r - 1]) request.begin.push_back(r);
      }
      request.begin.push_back(rows);
      request.base = row_score;
      request.allowed = constrained ? &allowed : nullptr;
      request.k = beam;
      const std::vector<std::vector<Extension>> chosen = select(request);
      for (size_t g = 0; g < chosen.size(); ++g) {
        const uint32_t query = row_query[request.begin[g]];
        for (const Candidate& c : chosen[g]) {
          const size_t at = next_hypotheses.size();
          const auto parent = hypotheses.begin() + static_cast<std::ptrdiff_t>(
                                                       static_cast<size_t>(c.row) * parent_length);
          next_hypotheses.insert(next_hypotheses.end(), parent,
                                 parent + static_cast<std::ptrdiff_t>(parent_length));
          next_hypotheses.push_back(c.token);
          const TokenId* tokens = next_hypotheses.data() + at;
          const bool finished = ends_with(tokens, length, view.end);
          if (finished || options.keep_history) {
            keys.add(query, view.view, tokens, length, c.score, finished);
          }
          if (finished) {
            next_hypotheses.resize(at);
            continue;
          }
          parents.push_back(c.row);
          step_tokens.push_back(c.token);
          next_row_query.push_back(query);
          next_row_score.push_back(c.score);
        }
      }

      const size_t next_rows = parents.size();
      if (length == max_length) {
        if (!options.keep_history) {
          for (size_t r = 0; r < next_rows; ++r) {
            keys.add(next_row_query[r], view.view, next_hypotheses.data() + r * length, length,
                     next_row_score[r], false);
          }
        }
        break;
      }
      if (next_rows == 0) break;

      model.reorder(parents);
      constraint.advance(parents, step_tokens);
      advance(1);
      row_query.swap(next_row_query);
      row_score.swap(next_row_score);
      hypotheses.swap(next_hypotheses);
      rows = next_rows;
    }
  }
  keys.emit(results);
  return results;
}

}  // namespace dgr::search
