// Beam search against brute force, with fake models whose next-token distribution is a fixed
// function of (query, decoder tokens): every key occurs in the corpus after its view's prefix and
// carries the model's summed log-probability; a beam wider than the corpus's n-gram set returns
// exactly that set; without a constraint and with a prefix-independent model the final beams are
// the exhaustive top-k; end markers finish hypotheses; batching, sharding and ties do not change
// the result; the model protocol (one start, a restart per later view, the decoder start token
// first) is kept.
#include "core/search/beam_search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/index/sharded_index.h"
#include "core/search/fm_index_constraint.h"
#include "core/search/token_constraint.h"
#include "core/util/error.h"
#include "tests/common/search_results.h"
#include "tests/index/fm_brute_force.h"

namespace dgr::search {
namespace {

using index::FmIndex;
using index::PassageSegments;
using index::ShardedIndex;
using Tokens = std::vector<TokenId>;
using Corpus = std::vector<PassageSegments>;

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 29;
  return h;
}

uint64_t hash_tokens(uint64_t seed, const Tokens& tokens) {
  uint64_t h = mix(seed, tokens.size());
  for (TokenId t : tokens)
    h = mix(h, static_cast<uint64_t>(t) + 1);
  return h;
}

// Logits of the next token given the query and the decoder tokens so far (start token, prefix,
// generated tokens).
using LogitsFn =
    std::function<void(const Tokens& query, const Tokens& decoder, std::vector<double>& logits)>;

// Random logits in [-4, 4] seeded by a hash: continuous, so ties have probability 0.
void random_logits(uint64_t seed, std::vector<double>& logits) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(-4.0, 4.0);
  for (double& x : logits)
    x = uniform(rng);
}

// Depends on the query and the decoder position only (a table [query][position][token]).
LogitsFn position_model(uint64_t seed) {
  return [seed](const Tokens& query, const Tokens& decoder, std::vector<double>& logits) {
    random_logits(mix(hash_tokens(seed, query), decoder.size()), logits);
  };
}

// Depends on the query and the last decoder token (a table [query][last token][token]).
LogitsFn last_token_model(uint64_t seed) {
  return [seed](const Tokens& query, const Tokens& decoder, std::vector<double>& logits) {
    random_logits(mix(hash_tokens(seed, query), static_cast<uint64_t>(decoder.back()) + 7), logits);
  };
}

// Depends on the query and the whole decoder sequence.
LogitsFn random_model(uint64_t seed) {
  return [seed](const Tokens& query, const Tokens& decoder, std::vector<double>& logits) {
    random_logits(mix(hash_tokens(seed, query), hash_tokens(seed + 1, decoder)), logits);
  };
}

LogitsFn uniform_model() {
  return [](const Tokens&, const Tokens&, std::vector<double>& logits) {
    std::fill(logits.begin(), logits.end(), 0.0);
  };
}

// A StepModel over a LogitsFn that checks the protocol beam search must follow and counts calls.
class FakeModel : public StepModel {
 public:
  FakeModel(int64_t vocab, TokenId start_token, LogitsFn logits)
      : vocab_(vocab), start_token_(start_token), logits_fn_(std::move(logits)) {}

  int64_t vocab_size() const override { return vocab_; }
  TokenId decoder_start_token() const override { return start_token_; }

  void start(const std::vector<Tokens>& queries) override {
    ++starts;
    queries_ = queries;
    fresh_rows();
  }
  void restart() override {
    if (starts == 0) throw std::logic_error("restart before start");
    ++restarts;
    fresh_rows();
  }
  void reorder(const std::vector<int64_t>& parents) override {
    if (fresh_) throw std::logic_error("reorder before the first step");
    std::vector<Row> rows;
    for (int64_t p : parents) {
      if (p < 0 || static_cast<size_t>(p) >= rows_.size()) throw std::logic_error("bad parent");
      rows.push_back(rows_[static_cast<size_t>(p)]);
    }
    rows_ = std::move(rows);
  }
  LogProbs step(const Tokens& tokens, int64_t tokens_per_row) override {
    const size_t n = static_cast<size_t>(tokens_per_row);
    if (tokens_per_row < 1 || tokens.size() != rows_.size() * n) {
      throw std::logic_error("step: " + std::to_string(tokens.size()) + " tokens for " +
                             std::to_string(rows_.size()) + " rows of " + std::to_string(n));
    }
    if (!fresh_ && n != 1) throw std::logic_error("step: several tokens after the first step");
    out_.resize(rows_.size() * static_cast<size_t>(vocab_));
    for (size_t r = 0; r < rows_.size(); ++r) {
      if (fresh_ && tokens[r * n] != start_token_) {
        throw std::logic_error("first step does not begin with the decoder start token");
      }
      rows_[r].decoder.insert(rows_[r].decoder.end(), tokens.begin() + static_cast<long>(r * n),
                              tokens.begin() + static_cast<long>((r + 1) * n));
      const std::vector<float> lp = log_softmax(queries_[rows_[r].query], rows_[r].decoder);
      std::copy(lp.begin(), lp.end(), out_.begin() + static_cast<long>(r * lp.size()));
    }
    fresh_ = false;
    ++steps;
    rows_seen += rows_.size();
    return LogProbs{out_.data(), static_cast<int64_t>(rows_.size()), vocab_};
  }

  // log p(token | query, decoder), exactly as step() returns it.
  std::vector<float> log_softmax(const Tokens& query, const Tokens& decoder) const {
    std::vector<double> logits(static_cast<size_t>(vocab_));
    logits_fn_(query, decoder, logits);
    const double top = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (double x : logits)
      sum += std::exp(x - top);
    const double log_z = top + std::log(sum);
    std::vector<float> out(logits.size());
    for (size_t i = 0; i < logits.size(); ++i)
      out[i] = static_cast<float>(logits[i] - log_z);
    return out;
  }

  // Σ log p of `tokens` after [start] + prefix, summed in generation order as beam search does.
  double sequence_log_prob(const Tokens& query, const Tokens& prefix, const Tokens& tokens) const {
    Tokens decoder = {start_token_};
    decoder.insert(decoder.end(), prefix.begin(), prefix.end());
    double total = 0;
    for (TokenId t : tokens) {
      total += static_cast<double>(log_softmax(query, decoder)[static_cast<size_t>(t)]);
      decoder.push_back(t);
    }
    return total;
  }

  int starts = 0;
  int restarts = 0;
  int steps = 0;
  size_t rows_seen = 0;

 private:
  struct Row {
    size_t query;
    Tokens decoder;
  };
  void fresh_rows() {
    rows_.clear();
    for (size_t q = 0; q < queries_.size(); ++q)
      rows_.push_back(Row{q, {}});
    fresh_ = true;
  }

  int64_t vocab_;
  TokenId start_token_;
  LogitsFn logits_fn_;
  std::vector<Tokens> queries_;
  std::vector<Row> rows_;
  bool fresh_ = true;
  std::vector<float> out_;
};

// `num_shards` contiguous shards of near-equal passage counts (some may be empty).
ShardedIndex make_index(const Corpus& corpus, size_t num_shards) {
  std::vector<std::shared_ptr<const FmIndex>> shards;
  std::vector<uint32_t> first;
  for (size_t s = 0; s < num_shards; ++s) {
    const size_t begin = corpus.size() * s / num_shards;
    const size_t end = corpus.size() * (s + 1) / num_shards;
    Corpus part(corpus.begin() + static_cast<long>(begin), corpus.begin() + static_cast<long>(end));
    shards.push_back(std::make_shared<const FmIndex>(FmIndex::build(part)));
    first.push_back(static_cast<uint32_t>(begin));
  }
  return ShardedIndex(std::move(shards), std::move(first));
}

Tokens concat(const Tokens& a, const Tokens& b) {
  Tokens out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

bool ends_with(const Tokens& tokens, const Tokens& end) {
  return !end.empty() && tokens.size() >= end.size() &&
         std::equal(end.begin(), end.end(), tokens.end() - static_cast<long>(end.size()));
}

// Every continuation s (1 <= |s| <= max_length) with prefix + s inside one segment, not extended
// past the end marker.
std::set<Tokens> exhaustive_continuations(const Corpus& corpus, const Tokens& prefix,
                                          const Tokens& end, size_t max_length) {
  std::set<Tokens> out;
  for (const auto& passage : corpus) {
    for (const auto& segment : passage) {
      for (size_t i = 0; i + prefix.size() <= segment.size(); ++i) {
        if (!index::testing::occurs_at(segment, i, prefix)) continue;
        Tokens s;
        for (size_t j = i + prefix.size(); j < segment.size() && s.size() < max_length; ++j) {
          s.push_back(segment[j]);
          out.insert(s);
          if (ends_with(s, end)) break;
        }
      }
    }
  }
  return out;
}

std::map<Tokens, const GeneratedKey*> keys_of_view(const SearchResult& result, View view) {
  std::map<Tokens, const GeneratedKey*> out;
  for (const GeneratedKey& key : result.keys) {
    if (key.view == view) out[key.tokens] = &key;
  }
  return out;
}

// Keys sorted by log_prob descending, then view, then tokens, with no (view, tokens) twice.
void expect_sorted_unique(const SearchResult& result) {
  std::set<std::pair<View, Tokens>> seen;
  for (size_t i = 0; i < result.keys.size(); ++i) {
    const GeneratedKey& key = result.keys[i];
    EXPECT_TRUE(seen.insert({key.view, key.tokens}).second) << "duplicate key";
    if (i == 0) continue;
    const GeneratedKey& prev = result.keys[i - 1];
    const bool ordered =
        prev.log_prob > key.log_prob ||
        (prev.log_prob == key.log_prob &&
         (prev.view < key.view || (prev.view == key.view && prev.tokens < key.tokens)));
    EXPECT_TRUE(ordered) << "keys out of order at " << i;
  }
  for (size_t i = 1; i < result.unigrams.size(); ++i) {
    const Unigram& a = result.unigrams[i - 1];
    const Unigram& b = result.unigrams[i];
    EXPECT_TRUE(a.log_prob > b.log_prob || (a.log_prob == b.log_prob && a.token < b.token));
  }
}

using testing::expect_same_results;

// Passages shaped like dgr's views: a title segment `S title E1 E2 body...` (title tokens never
// form the end marker, but may hold E1 alone) and pseudo-query segments `P pq E1 E2`.
constexpr TokenId kTitleStart = 0;
constexpr TokenId kEnd1 = 1;
constexpr TokenId kEnd2 = 2;
constexpr TokenId kPqStart = 3;
constexpr TokenId kFirstWord = 4;

Corpus view_corpus(uint32_t sigma, size_t passages, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto word = [&]() { return static_cast<TokenId>(kFirstWord + rng() % (sigma - kFirstWord)); };
  Corpus corpus;
  for (size_t p = 0; p < passages; ++p) {
    PassageSegments passage;
    Tokens segment;
    if (rng() % 5 != 0) {  // most passages have a title
      segment.push_back(kTitleStart);
      const size_t title_length = 1 + rng() % 5;
      for (size_t i = 0; i < title_length; ++i)
        segment.push_back(rng() % 6 == 0 ? kEnd1 : word());
      segment.push_back(kEnd1);
      segment.push_back(kEnd2);
    }
    const size_t body_length = rng() % 12;
    for (size_t i = 0; i < body_length; ++i)
      segment.push_back(rng() % 8 == 0 ? kEnd1 : word());
    passage.push_back(segment);
    if (rng() % 2 == 0) {
      Tokens pq = {kPqStart};
      const size_t pq_length = 1 + rng() % 4;
      for (size_t i = 0; i < pq_length; ++i)
        pq.push_back(word());
      pq.push_back(kEnd1);
      pq.push_back(kEnd2);
      passage.push_back(pq);
    }
    corpus.push_back(passage);
  }
  return corpus;
}

std::vector<ViewPrompt> all_views(int title_length, int body_length, int pq_length) {
  ViewPrompt title{View::kTitle, {kTitleStart}, {kEnd1, kEnd2}, title_length};
  ViewPrompt body{View::kBody, {}, {}, body_length};
  ViewPrompt pq{View::kPseudoQuery, {kPqStart}, {kEnd1, kEnd2}, pq_length};
  return {title, body, pq};
}

std::vector<Tokens> random_queries(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Tokens> queries(n);
  for (size_t q = 0; q < n; ++q) {
    queries[q].push_back(static_cast<TokenId>(q));  // distinct queries
    const size_t length = rng() % 4;
    for (size_t i = 0; i < length; ++i)
      queries[q].push_back(static_cast<TokenId>(rng() % 50));
  }
  return queries;
}

const ViewPrompt& prompt_of(const std::vector<ViewPrompt>& views, View view) {
  for (const ViewPrompt& p : views) {
    if (p.view == view) return p;
  }
  throw std::logic_error("no such view");
}

TEST(BeamSearch, EveryKeyOccursInTheCorpusAfterItsPrefix) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const uint32_t sigma = 8 + static_cast<uint32_t>(seed % 3) * 5;
    const Corpus corpus = view_corpus(sigma, 25, seed);
    const std::vector<ViewPrompt> views = all_views(6, 4, 5);
    const std::vector<Tokens> queries = random_queries(3, seed);
    for (size_t num_shards : {size_t{1}, size_t{2}}) {
      const ShardedIndex index = make_index(corpus, num_shards);
      for (int beam : {1, 3, 8}) {
        for (bool keep_history : {true, false}) {
          SCOPED_TRACE("seed " + std::to_string(seed) + " shards " + std::to_string(num_shards) +
                       " beam " + std::to_string(beam) + " history " +
                       std::to_string(keep_history));
          FakeModel model(sigma + 2, static_cast<TokenId>(sigma + 1),
                          seed % 2 ? random_model(seed) : last_token_model(seed));
          FmIndexConstraint constraint(index);
          BeamSearchOptions options;
          options.beam_size = beam;
          options.keep_history = keep_history;
          const auto results = beam_search(model, constraint, queries, views, options);
          ASSERT_EQ(results.size(), queries.size());
          for (size_t q = 0; q < queries.size(); ++q) {
            expect_sorted_unique(results[q]);
            EXPECT_FALSE(results[q].keys.empty());
            for (const GeneratedKey& key : results[q].keys) {
              const ViewPrompt& prompt = prompt_of(views, key.view);
              const Tokens full = concat(prompt.prefix, key.tokens);
              ASSERT_FALSE(key.tokens.empty());
              EXPECT_LE(key.tokens.size(), static_cast<size_t>(prompt.max_length));
              const uint64_t naive = index::testing::naive_count(corpus, full);
              EXPECT_GT(naive, 0u) << ::testing::PrintToString(full);
              EXPECT_EQ(index.count(full), naive);
              EXPECT_EQ(key.finished, ends_with(key.tokens, prompt.end));
              EXPECT_NEAR(key.log_prob,
                          model.sequence_log_prob(queries[q], prompt.prefix, key.tokens), 1e-9);
              if (!keep_history) {  // a final beam: finished or of full length
                EXPECT_TRUE(key.finished ||
                            key.tokens.size() == static_cast<size_t>(prompt.max_length));
              }
            }
          }
        }
      }
    }
  }
}

TEST(BeamSearch, WideBeamReturnsEveryCorpusNgramWithItsLogProb) {
  for (uint64_t seed = 11; seed <= 16; ++seed) {
    const uint32_t sigma = 8 + static_cast<uint32_t>(seed % 4) * 4;
    index::testing::CorpusShape shape;
    shape.sigma = sigma;
    shape.passages = 12;
    shape.max_segments = 3;
    shape.max_length = 12;
    const Corpus random_corpus = index::testing::random_corpus(shape, seed);
    const Corpus structured = view_corpus(sigma, 15, seed);
    for (const Corpus* corpus : {&random_corpus, &structured}) {
      const ShardedIndex index = make_index(*corpus, 1 + seed % 2);
      std::vector<ViewPrompt> views = all_views(5, 4, 4);
      if (corpus == &random_corpus) {  // a body view and a view with a random one-token prefix
        views = {ViewPrompt{View::kBody, {}, {}, 4},
                 ViewPrompt{View::kTitle, {static_cast<TokenId>(seed % sigma)}, {1}, 3}};
      }
      size_t widest = 1;
      std::map<View, std::set<Tokens>> expected;
      for (const ViewPrompt& view : views) {
        expected[view.view] = exhaustive_continuations(*corpus, view.prefix, view.end,
                                                       static_cast<size_t>(view.max_length));
        widest = std::max(widest, expected[view.view].size());
      }
      const std::vector<Tokens> queries = random_queries(2, seed);
      FakeModel model(sigma + 1, static_cast<TokenId>(sigma), random_model(seed));
      FmIndexConstraint constraint(index);
      BeamSearchOptions options;
      options.beam_size = static_cast<int>(widest);
      const auto results = beam_search(model, constraint, queries, views, options);
      for (size_t q = 0; q < queries.size(); ++q) {
        expect_sorted_unique(results[q]);
        for (const ViewPrompt& view : views) {
          SCOPED_TRACE(std::string("seed ") + std::to_string(seed) + " view " +
                       view_name(view.view));
          const auto got = keys_of_view(results[q], view.view);
          std::set<Tokens> got_tokens;
          for (const auto& [tokens, key] : got)
            got_tokens.insert(tokens);
          EXPECT_EQ(got_tokens, expected[view.view]);
          for (const auto& [tokens, key] : got) {
            EXPECT_NEAR(key->log_prob, model.sequence_log_prob(queries[q], view.prefix, tokens),
                        1e-6);
            EXPECT_EQ(key->finished, ends_with(tokens, view.end));
          }
        }
      }
    }
  }
}

// With a model whose distribution ignores the generated tokens, sequence scores are sums of
// independent per-position terms, so beam search is exact: the final beams are the top-k of all
// V^L sequences.
TEST(BeamSearch, UnconstrainedFinalBeamsAreTheExhaustiveTopK) {
  struct Case {
    int64_t vocab;
    int length;
    size_t prefix;
  };
  for (const Case c : {Case{7, 3, 0}, Case{5, 4, 2}, Case{60, 2, 0}, Case{3, 5, 1}}) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      const TokenId start = static_cast<TokenId>(c.vocab - 1);
      FakeModel model(c.vocab, start, position_model(seed));
      const Tokens prefix(c.prefix, 1);
      const std::vector<Tokens> queries = random_queries(2, seed);
      // Every sequence of length L, scored by brute force.
      std::vector<std::vector<std::pair<double, Tokens>>> all(queries.size());
      size_t total = 1;
      for (int i = 0; i < c.length; ++i)
        total *= static_cast<size_t>(c.vocab);
      for (size_t q = 0; q < queries.size(); ++q) {
        for (size_t code = 0; code < total; ++code) {
          Tokens s;
          for (size_t x = code, i = 0; i < static_cast<size_t>(c.length); ++i) {
            s.insert(s.begin(), static_cast<TokenId>(x % static_cast<size_t>(c.vocab)));
            x /= static_cast<size_t>(c.vocab);
          }
          all[q].emplace_back(model.sequence_log_prob(queries[q], prefix, s), s);
        }
        std::sort(all[q].begin(), all[q].end(),
                  [](const auto& a, const auto& b) { return a.first > b.first; });
      }
      for (int beam : {1, 4, 10}) {
        SCOPED_TRACE("vocab " + std::to_string(c.vocab) + " length " + std::to_string(c.length) +
                     " seed " + std::to_string(seed) + " beam " + std::to_string(beam));
        NoConstraint none;
        BeamSearchOptions options;
        options.beam_size = beam;
        options.keep_history = false;
        const ViewPrompt view{View::kBody, prefix, {}, c.length};
        const auto results = beam_search(model, none, queries, {view}, options);
        for (size_t q = 0; q < queries.size(); ++q) {
          ASSERT_EQ(results[q].keys.size(), static_cast<size_t>(beam));
          for (size_t i = 0; i < results[q].keys.size(); ++i) {
            EXPECT_EQ(results[q].keys[i].tokens, all[q][i].second) << i;
            EXPECT_NEAR(results[q].keys[i].log_prob, all[q][i].first, 1e-6);
          }
        }
        // With history, the full-length keys are the same top-k.
        options.keep_history = true;
        const auto history = beam_search(model, none, queries, {view}, options);
        for (size_t q = 0; q < queries.size(); ++q) {
          std::vector<Tokens> full;
          for (const GeneratedKey& key : history[q].keys) {
            if (key.tokens.size() == static_cast<size_t>(c.length)) full.push_back(key.tokens);
          }
          ASSERT_EQ(full.size(), static_cast<size_t>(beam));
          for (size_t i = 0; i < full.size(); ++i)
            EXPECT_EQ(full[i], all[q][i].second);
        }
      }
    }
  }
}

TEST(BeamSearch, TitleViewStopsAtTheEndMarker) {
  for (uint64_t seed = 21; seed <= 26; ++seed) {
    const uint32_t sigma = 12;
    const Corpus corpus = view_corpus(sigma, 30, seed);
    const ShardedIndex index = make_index(corpus, 1);
    const ViewPrompt title{View::kTitle, {kTitleStart}, {kEnd1, kEnd2}, 8};
    const std::vector<Tokens> queries = random_queries(2, seed);
    for (bool keep_history : {true, false}) {
      FakeModel model(sigma + 1, static_cast<TokenId>(sigma), random_model(seed));
      FmIndexConstraint constraint(index);
      BeamSearchOptions options;
      options.beam_size = 4;
      options.keep_history = keep_history;
      const auto results = beam_search(model, constraint, queries, {title}, options);
      size_t finished = 0;
      for (size_t q = 0; q < queries.size(); ++q) {
        for (const GeneratedKey& key : results[q].keys) {
          EXPECT_EQ(key.view, View::kTitle);
          EXPECT_GT(index::testing::naive_count(corpus, concat(title.prefix, key.tokens)), 0u);
          EXPECT_EQ(key.finished, ends_with(key.tokens, title.end));
          // The end marker appears only at the end: nothing was generated after it.
          for (size_t i = 0; i + 2 < key.tokens.size(); ++i)
            EXPECT_FALSE(key.tokens[i] == kEnd1 && key.tokens[i + 1] == kEnd2);
          // Titles are 1-5 words long, so every final beam finished before max_length.
          if (!keep_history) {
            EXPECT_TRUE(key.finished);
          }
          finished += key.finished;
        }
      }
      EXPECT_GT(finished, 0u);
    }
  }
}

TEST(BeamSearch, QueryWhoseBeamsAllFinishLeavesTheOthersRunning) {
  // Query A's title is "5", query B's "6 7 8"; end marker 1.
  const Corpus corpus = {{{kTitleStart, 5, 1, 9}}, {{kTitleStart, 6, 7, 8, 1}}};
  const ShardedIndex index = make_index(corpus, 1);
  auto prefers = [](const Tokens& query, const Tokens&, std::vector<double>& logits) {
    std::fill(logits.begin(), logits.end(), 0.0);
    for (TokenId t : query)
      logits[static_cast<size_t>(t)] = 10.0;
  };
  FakeModel model(12, 11, prefers);
  FmIndexConstraint constraint(index);
  BeamSearchOptions options;
  options.beam_size = 1;
  const ViewPrompt title{View::kTitle, {kTitleStart}, {1}, 6};
  const auto results = beam_search(model, constraint, {{5, 1}, {6, 7, 8, 1}}, {title}, options);
  auto tokens_of = [](const SearchResult& r) {
    std::set<Tokens> out;
    for (const GeneratedKey& key : r.keys)
      out.insert(key.tokens);
    return out;
  };
  EXPECT_EQ(tokens_of(results[0]), (std::set<Tokens>{{5}, {5, 1}}));
  EXPECT_EQ(tokens_of(results[1]), (std::set<Tokens>{{6}, {6, 7}, {6, 7, 8}, {6, 7, 8, 1}}));
  // Query A left after 2 steps: the model saw 2 + 2 + 1 + 1 rows over the 4 steps of B.
  EXPECT_EQ(model.steps, 4);
  EXPECT_EQ(model.rows_seen, 6u);
}

TEST(BeamSearch, BatchGivesEachQueryItsOwnKeys) {
  for (uint64_t seed = 31; seed <= 34; ++seed) {
    const uint32_t sigma = 10;
    const Corpus corpus = view_corpus(sigma, 25, seed);
    const ShardedIndex index = make_index(corpus, 2);
    const std::vector<ViewPrompt> views = all_views(6, 4, 5);
    const std::vector<Tokens> queries = random_queries(5, seed);
    BeamSearchOptions options;
    options.beam_size = 3;
    options.unigram_top = 4;
    FakeModel model(sigma + 1, static_cast<TokenId>(sigma), random_model(seed));
    FmIndexConstraint constraint(index);  // one object: its caches serve every call
    const auto batch = beam_search(model, constraint, queries, views, options);
    for (size_t q = 0; q < queries.size(); ++q) {
      SCOPED_TRACE("seed " + std::to_string(seed) + " query " + std::to_string(q));
      const auto alone = beam_search(model, constraint, {queries[q]}, views, options);
      expect_same_results(batch[q], alone[0]);
      EXPECT_EQ(batch[q].unigrams.size(), 4u);
    }
    // Unconstrained too.
    NoConstraint none;
    const auto free_batch = beam_search(model, none, queries, views, options);
    for (size_t q = 0; q < queries.size(); ++q) {
      const auto alone = beam_search(model, none, {queries[q]}, views, options);
      expect_same_results(free_batch[q], alone[0]);
    }
  }
}

TEST(BeamSearch, ShardedIndexGivesTheSameKeys) {
  for (uint64_t seed = 41; seed <= 43; ++seed) {
    const uint32_t sigma = 14;
    const Corpus corpus = view_corpus(sigma, 40, seed);
    const std::vector<ViewPrompt> views = all_views(6, 5, 5);
    const std::vector<Tokens> queries = random_queries(3, seed);
    BeamSearchOptions options;
    options.beam_size = 5;
    options.unigram_top = 6;
    std::vector<std::vector<SearchResult>> results;
    for (size_t num_shards : {size_t{1}, size_t{2}, size_t{3}}) {
      const ShardedIndex index = make_index(corpus, num_shards);
      FakeModel model(sigma + 1, static_cast<TokenId>(sigma), random_model(seed));
      FmIndexConstraint constraint(index);
      results.push_back(beam_search(model, constraint, queries, views, options));
    }
    for (size_t i = 1; i < results.size(); ++i) {
      for (size_t q = 0; q < queries.size(); ++q)
        expect_same_results(results[0][q], results[i][q]);
    }
  }
}

TEST(BeamSearch, TiesGoToTheLowerParentRowThenTheLowerToken) {
  // Uniform model: every candidate ties.
  FakeModel model(5, 4, uniform_model());
  NoConstraint none;
  BeamSearchOptions options;
  options.beam_size = 3;
  options.keep_history = false;
  const ViewPrompt body{View::kBody, {}, {}, 2};
  const auto results = beam_search(model, none, {{1}}, {body}, options);
  std::vector<Tokens> got;
  for (const GeneratedKey& key : results[0].keys)
    got.push_back(key.tokens);
  // Step 1 keeps tokens 0, 1, 2; step 2 fills the beam from parent row 0 (token 0) first.
  EXPECT_EQ(got, (std::vector<Tokens>{{0, 0}, {0, 1}, {0, 2}}));

  // Constrained: after step 1 keeps {2}, {3} (0 and 1 are absent), row 0 ({2}) has successors
  // {3, 4} and row 1 ({3}) has {2}; all tie, so both of row 0's win.
  const Corpus corpus = {{{2, 4}, {3, 2, 3}}};
  const ShardedIndex index = make_index(corpus, 1);
  FmIndexConstraint constraint(index);
  options.beam_size = 2;
  const auto constrained = beam_search(model, constraint, {{1}}, {body}, options);
  got.clear();
  for (const GeneratedKey& key : constrained[0].keys)
    got.push_back(key.tokens);
  EXPECT_EQ(got, (std::vector<Tokens>{{2, 3}, {2, 4}}));

  // Keys of equal log-prob are listed by view, then tokens; repeated runs agree.
  options.keep_history = true;
  const auto first = beam_search(model, constraint, {{1}}, all_views(3, 3, 3), options);
  const auto second = beam_search(model, constraint, {{1}}, all_views(3, 3, 3), options);
  expect_same_results(first[0], second[0]);
  expect_sorted_unique(first[0]);
}

TEST(BeamSearch, UnigramsAreTheFirstBodyStepsTopAllowedTokens) {
  const uint32_t sigma = 12;
  const Corpus corpus = view_corpus(sigma, 20, 51);
  const ShardedIndex index = make_index(corpus, 1);
  std::set<TokenId> corpus_tokens;
  for (const auto& passage : corpus) {
    for (const auto& segment : passage)
      corpus_tokens.insert(segment.begin(), segment.end());
  }
  const std::vector<Tokens> queries = random_queries(3, 51);
  for (bool constrained : {true, false}) {
    FakeModel model(sigma + 4, static_cast<TokenId>(sigma + 3), random_model(51));
    FmIndexConstraint fm(index);
    NoConstraint none;
    TokenConstraint& constraint = constrained ? static_cast<TokenConstraint&>(fm) : none;
    BeamSearchOptions options;
    options.beam_size = 2;
    options.unigram_top = 5;
    const auto results = beam_search(model, constraint, queries, all_views(4, 3, 4), options);
    for (size_t q = 0; q < queries.size(); ++q) {
      // Brute force: the first step after </s> over the allowed tokens.
      const std::vector<float> lp =
          model.log_softmax(queries[q], {static_cast<TokenId>(sigma + 3)});
      std::vector<std::pair<double, TokenId>> expected;
      for (TokenId t = 0; t < static_cast<TokenId>(lp.size()); ++t) {
        if (!constrained || corpus_tokens.count(t))
          expected.emplace_back(lp[static_cast<size_t>(t)], t);
      }
      std::sort(expected.begin(), expected.end(),
                [](const auto& a, const auto& b) { return a.first > b.first; });
      ASSERT_EQ(results[q].unigrams.size(), 5u);
      for (size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(results[q].unigrams[i].token, expected[i].second);
        EXPECT_EQ(results[q].unigrams[i].log_prob, expected[i].first);
      }
    }
    // No body view with an empty prefix: no unigrams.
    const auto titles =
        beam_search(model, constraint, queries,
                    {ViewPrompt{View::kTitle, {kTitleStart}, {kEnd1, kEnd2}, 4}}, options);
    for (const SearchResult& r : titles)
      EXPECT_TRUE(r.unigrams.empty());
  }
}

TEST(BeamSearch, StartsTheModelOnceAndRestartsItPerLaterView) {
  FakeModel model(10, 9, random_model(3));
  NoConstraint none;
  BeamSearchOptions options;
  options.beam_size = 2;
  const auto results = beam_search(model, none, random_queries(2, 3), all_views(2, 3, 2), options);
  EXPECT_EQ(model.starts, 1);
  EXPECT_EQ(model.restarts, 2);
  EXPECT_EQ(model.steps, 2 + 3 + 2);  // no step after the last token of a view
  // Without queries or views: nothing is asked of the model.
  FakeModel idle(10, 9, random_model(3));
  EXPECT_TRUE(beam_search(idle, none, {}, all_views(2, 3, 2), options).empty());
  EXPECT_EQ(beam_search(idle, none, {{1}}, {}, options).size(), 1u);
  EXPECT_EQ(idle.starts, 0);
}

TEST(BeamSearch, RejectsBadOptionsAndTokensOutsideTheVocabulary) {
  FakeModel model(10, 9, random_model(3));
  NoConstraint none;
  BeamSearchOptions options;
  options.beam_size = 0;
  EXPECT_THROW(beam_search(model, none, {{1}}, all_views(2, 2, 2), options), ConfigError);
  options.beam_size = 2;
  options.unigram_top = -1;
  EXPECT_THROW(beam_search(model, none, {{1}}, all_views(2, 2, 2), options), ConfigError);
  options.unigram_top = 0;
  EXPECT_THROW(beam_search(model, none, {{1}}, all_views(2, 0, 2), options), ConfigError);
  // An index whose ids exceed the model's vocabulary (another tokenizer).
  const ShardedIndex index = make_index({{{3, 12, 4}}}, 1);
  FmIndexConstraint constraint(index);
  EXPECT_THROW(beam_search(model, constraint, {{1}}, {ViewPrompt{}}, options), DataError);
}

}  // namespace
}  // namespace dgr::search
