// BM25 with Lucene's conventions: scores worked out by hand on a four-passage corpus, Lucene's
// one-byte length encoding, stop words and stemming in queries, tie order, the teacher interface
// and its errors, and the batch and threaded paths against one-query-at-a-time search.
#include "teacher/bm25.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "data/dataset.h"

namespace dgr::teacher {
namespace {

namespace fs = std::filesystem;

data::Corpus make_corpus(const std::vector<data::Passage>& passages) {
  data::Corpus corpus;
  for (const data::Passage& passage : passages)
    corpus.add(passage);
  return corpus;
}

// Analysed: d1 = cat chase mice (3 terms), d2 = cat sat mat anoth cat (5), d3 = dog chase cat
// cat chase dog (6), d4 = bird sing (2). N = 4, avgdl = 16 / 4 = 4.
data::Corpus toy_corpus() {
  return make_corpus({{"d1", "", "Cats chase mice."},
                      {"d2", "", "The cat sat on the mat with another cat."},
                      {"d3", "", "Dogs chase cats and cats chase dogs"},
                      {"d4", "", "Birds sing"}});
}

// BM25 of one term from hand-counted statistics.
double bm25(double tf, double df, double n, double dl, double avgdl, double k1 = 0.9,
            double b = 0.4) {
  const double idf = std::log(1 + (n - df + 0.5) / (df + 0.5));
  return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl));
}

std::vector<std::string> ids_of(const Bm25Index& index, const std::vector<Bm25Hit>& hits) {
  std::vector<std::string> ids;
  for (const Bm25Hit& hit : hits)
    ids.push_back(index.passage_id(hit.passage));
  return ids;
}

// "cat tok1 ... tokN": 1 + N terms.
std::string cat_and_fillers(int fillers) {
  std::string text = "cat";
  for (int i = 1; i <= fillers; ++i)
    text += " tok" + std::to_string(i);
  return text;
}

TEST(LuceneLength, EncodesLikeSmallFloatIntToByte4) {
  for (uint32_t n = 0; n < 40; ++n) {
    EXPECT_EQ(decode_length(encode_length(n)), n) << n;  // exact below 40
  }
  EXPECT_EQ(encode_length(23), 23);
  EXPECT_EQ(encode_length(24), 24);
  EXPECT_EQ(encode_length(40), 40);
  EXPECT_EQ(encode_length(41), 40);  // 4 significant bits from here on, rounded down
  EXPECT_EQ(decode_length(40), 40u);
  EXPECT_EQ(decode_length(encode_length(42)), 42u);
  EXPECT_EQ(decode_length(encode_length(47)), 46u);
  EXPECT_EQ(decode_length(encode_length(100)), 96u);
  EXPECT_EQ(encode_length(std::numeric_limits<int32_t>::max()), 255);
  EXPECT_EQ(decode_length(255), 2013265944u);
  EXPECT_EQ(encode_length(std::numeric_limits<uint32_t>::max()), 255);
  // Monotone, never above the length, and every byte is the code of its own decoding.
  uint8_t previous = 0;
  for (uint32_t n = 0; n < 200000; ++n) {
    const uint8_t code = encode_length(n);
    EXPECT_GE(code, previous);
    EXPECT_LE(decode_length(code), n);
    previous = code;
  }
  for (int code = 0; code < 256; ++code) {
    EXPECT_EQ(encode_length(decode_length(static_cast<uint8_t>(code))), code) << code;
  }
}

TEST(Bm25Index, CollectsTermStatistics) {
  const Bm25Index index = Bm25Index::build(toy_corpus(), {});
  EXPECT_EQ(index.num_passages(), 4u);
  EXPECT_EQ(index.passages_with_terms(), 4u);
  EXPECT_EQ(index.total_terms(), 16u);
  EXPECT_DOUBLE_EQ(index.average_length(), 4.0);
  EXPECT_EQ(index.length(1), 5u);
  EXPECT_EQ(index.document_frequency("cat"), 3u);
  EXPECT_EQ(index.document_frequency("chase"), 2u);
  EXPECT_EQ(index.document_frequency("the"), 0u);   // a stop word
  EXPECT_EQ(index.document_frequency("cats"), 0u);  // indexed as its stem
  EXPECT_EQ(index.term_frequency("cat", 1), 2u);
  EXPECT_EQ(index.term_frequency("cat", 3), 0u);
  EXPECT_EQ(index.term_frequency("anoth", 1), 1u);
  EXPECT_DOUBLE_EQ(index.idf(3), std::log(10.0 / 7.0));
  EXPECT_EQ(index.find("d3"), 2u);
  EXPECT_FALSE(index.find("d9").has_value());
}

TEST(Bm25Index, ScoresMatchHandComputedValues) {
  const Bm25Index index = Bm25Index::build(toy_corpus(), {});
  Bm25Searcher searcher(index);
  // "cat": df 3 of N 4, idf = ln(1 + 1.5 / 3.5). d1: tf 1, dl 3; d2: tf 2, dl 5; d3: tf 2, dl 6.
  const std::vector<double> cat = searcher.score("cat", {0, 1, 2, 3});
  EXPECT_NEAR(cat[0], 0.37441016214563066, 1e-12);
  EXPECT_NEAR(cat[1], 0.4532992598552451, 1e-12);
  EXPECT_NEAR(cat[2], 0.4400535022620724, 1e-12);
  EXPECT_EQ(cat[3], 0.0);  // no query term
  EXPECT_NEAR(cat[0], bm25(1, 3, 4, 3, 4), 1e-12);
  // Two terms add: d3 has chase (df 2) twice and cat twice.
  const std::vector<double> both = searcher.score("chase cat", {2});
  EXPECT_NEAR(both[0], 1.2952350886671997, 1e-12);
  EXPECT_NEAR(both[0], bm25(2, 3, 4, 6, 4) + bm25(2, 2, 4, 6, 4), 1e-12);

  const std::vector<Bm25Hit> hits = searcher.search("cat", 10);
  EXPECT_EQ(ids_of(index, hits), (std::vector<std::string>{"d2", "d3", "d1"}));
  EXPECT_DOUBLE_EQ(hits[0].score, cat[1]);
}

TEST(Bm25Index, OtherK1AndBChangeTheScores) {
  Bm25Options options;
  options.k1 = 1.2;
  options.b = 0.75;
  const Bm25Index index = Bm25Index::build(toy_corpus(), options);
  const std::vector<double> cat = Bm25Searcher(index).score("cat", {0, 1});
  EXPECT_NEAR(cat[0], bm25(1, 3, 4, 3, 4, 1.2, 0.75), 1e-12);
  EXPECT_NEAR(cat[1], bm25(2, 3, 4, 5, 4, 1.2, 0.75), 1e-12);
  options.b = 0;  // no length normalisation: equal tf, equal score
  const Bm25Index flat = Bm25Index::build(toy_corpus(), options);
  const std::vector<double> flat_cat = Bm25Searcher(flat).score("cat", {1, 2});
  EXPECT_DOUBLE_EQ(flat_cat[0], flat_cat[1]);
}

TEST(Bm25Index, QuantisedLengthsScoreWithLucenesDecodedLength) {
  // "long" has 41 terms: Lucene stores 41 as the byte of 40. avgdl = (2 + 41) / 2 from the exact
  // lengths in both modes.
  const data::Corpus corpus =
      make_corpus({{"short", "", "cat dog"}, {"long", "", cat_and_fillers(40)}});
  Bm25Options quantised;
  Bm25Options exact;
  exact.quantize_lengths = false;
  const Bm25Index q = Bm25Index::build(corpus, quantised);
  const Bm25Index e = Bm25Index::build(corpus, exact);
  EXPECT_EQ(q.length(1), 41u);
  EXPECT_EQ(q.scoring_length(1), 40u);
  EXPECT_EQ(e.scoring_length(1), 41u);
  EXPECT_DOUBLE_EQ(q.average_length(), 21.5);
  EXPECT_DOUBLE_EQ(e.average_length(), 21.5);
  const double with_quantisation = Bm25Searcher(q).score("cat", {1})[0];
  const double without = Bm25Searcher(e).score("cat", {1})[0];
  EXPECT_NEAR(with_quantisation, 0.1567635359931182, 1e-12);
  EXPECT_NEAR(with_quantisation, bm25(1, 2, 2, 40, 21.5), 1e-12);
  EXPECT_NEAR(without, 0.15558461656638908, 1e-12);
  EXPECT_NEAR(without, bm25(1, 2, 2, 41, 21.5), 1e-12);
  // The short passage's length is exact either way.
  EXPECT_DOUBLE_EQ(Bm25Searcher(q).score("cat", {0})[0], Bm25Searcher(e).score("cat", {0})[0]);
}

TEST(Bm25Index, QuantisationMakesTiesThatBreakByIdAscending) {
  // 41 and 40 terms share a length byte: equal scores, so "a41" comes first by id. With exact
  // lengths the shorter "b40" scores higher.
  const data::Corpus corpus = make_corpus(
      {{"b40", "", cat_and_fillers(39)}, {"a41", "", cat_and_fillers(40)}, {"z", "", "dog"}});
  Bm25Options exact;
  exact.quantize_lengths = false;
  const Bm25Index q = Bm25Index::build(corpus, {});
  const Bm25Index e = Bm25Index::build(corpus, exact);
  const std::vector<Bm25Hit> tied = Bm25Searcher(q).search("cat", 10);
  ASSERT_EQ(tied.size(), 2u);
  EXPECT_EQ(tied[0].score, tied[1].score);
  EXPECT_EQ(ids_of(q, tied), (std::vector<std::string>{"a41", "b40"}));
  EXPECT_EQ(ids_of(e, Bm25Searcher(e).search("cat", 10)), (std::vector<std::string>{"b40", "a41"}));
}

TEST(Bm25Index, TiesBreakByIdInByteOrderAndTopKCuts) {
  const data::Corpus corpus = make_corpus({{"b", "", "same words"},
                                           {"9", "", "same words"},
                                           {"a", "", "same words"},
                                           {"10", "", "same words"},
                                           {"c", "", "other text"}});
  const Bm25Index index = Bm25Index::build(corpus, {});
  Bm25Searcher searcher(index);
  EXPECT_EQ(ids_of(index, searcher.search("same", 10)),
            (std::vector<std::string>{"10", "9", "a", "b"}));
  EXPECT_EQ(ids_of(index, searcher.search("words same", 2)), (std::vector<std::string>{"10", "9"}));
  // k = 0: every passage with a query term.
  EXPECT_EQ(searcher.search("same", 0).size(), 4u);
  EXPECT_TRUE(searcher.search("absent", 10).empty());
  EXPECT_TRUE(searcher.search("", 10).empty());
}

TEST(Bm25Index, QueriesAreAnalysedLikePassages) {
  const Bm25Index index = Bm25Index::build(toy_corpus(), {});
  Bm25Searcher searcher(index);
  const std::vector<uint32_t> all{0, 1, 2, 3};
  const std::vector<double> cat = searcher.score("cat", all);
  // Stop words add nothing; plural and case reach the stem.
  EXPECT_EQ(searcher.score("The CATS of the", all), cat);
  EXPECT_EQ(searcher.analyze("The CATS of the"), std::vector<std::string>{"cat"});
  // A term written twice counts twice (Lucene's SHOULD clauses add).
  const std::vector<double> twice = searcher.score("cat cats", all);
  for (size_t i = 0; i < all.size(); ++i)
    EXPECT_DOUBLE_EQ(twice[i], 2 * cat[i]);
  // A term the corpus does not have changes nothing.
  EXPECT_EQ(searcher.score("cat zebra", all), cat);
}

TEST(Bm25Index, IndexesTitleAndTextAndSkipsEmptyPassagesInN) {
  const data::Corpus corpus =
      make_corpus({{"t", "Feline", "cat"}, {"u", "", "dog cat"}, {"empty", "", "the and of"}});
  const Bm25Index index = Bm25Index::build(corpus, {});
  EXPECT_EQ(bm25_contents(corpus[0]), "Feline cat");
  EXPECT_EQ(bm25_contents(corpus[1]), "dog cat");
  EXPECT_EQ(index.length(0), 2u);
  EXPECT_EQ(index.term_frequency("felin", 0), 1u);
  EXPECT_EQ(index.length(2), 0u);
  EXPECT_EQ(index.passages_with_terms(), 2u);  // Lucene's docCount: passages with a term
  EXPECT_DOUBLE_EQ(index.average_length(), 2.0);
  EXPECT_DOUBLE_EQ(index.idf(1), std::log(1 + 1.5 / 1.5));
}

TEST(Bm25Index, BuildsTheSameIndexFromAFileAndWithThreads) {
  const fs::path dir = fs::path(DGR_TEST_TMP_DIR) / "teacher" / "bm25-file";
  fs::create_directories(dir);
  const std::string path = (dir / "corpus.jsonl").string();
  {
    std::ofstream out(path);
    out << R"({"_id": "d1", "title": "Cats", "text": "Cats chase mice."})"
        << "\n"
        << R"({"_id": "d2", "title": "", "text": "The cat sat on the mat with another cat."})"
        << "\n"
        << R"({"_id": "d3", "text": "Dogs chase cats and cats chase dogs"})"
        << "\n";
  }
  const Bm25Index from_file = Bm25Index::build(path, "auto", {}, 1);
  const Bm25Index from_corpus = Bm25Index::build(data::load_corpus(path), {}, 3, path);
  EXPECT_EQ(from_file.source(), path);
  EXPECT_EQ(from_file.num_passages(), 3u);
  EXPECT_EQ(from_file.length(0), 4u);  // cat chase mice + the title's cat
  Bm25Searcher a(from_file);
  Bm25Searcher b(from_corpus);
  EXPECT_EQ(a.score("cat chase", {0, 1, 2}), b.score("cat chase", {0, 1, 2}));
}

TEST(Bm25Index, DuplicateIdsInTheFileAreADataErrorNamingBothLines) {
  const fs::path dir = fs::path(DGR_TEST_TMP_DIR) / "teacher" / "bm25-duplicate";
  fs::create_directories(dir);
  const std::string path = (dir / "corpus.jsonl").string();
  std::ofstream(path) << R"({"_id": "x", "text": "one"})"
                      << "\n"
                      << R"({"_id": "y", "text": "two"})"
                      << "\n"
                      << R"({"_id": "x", "text": "three"})"
                      << "\n";
  try {
    Bm25Index::build(path, "auto", {});
    FAIL() << "no error";
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path + ":3"), std::string::npos) << message;
    EXPECT_NE(message.find("line 1"), std::string::npos) << message;
    EXPECT_NE(message.find("'x'"), std::string::npos) << message;
  }
}

TEST(Bm25Options, BadK1OrBIsAConfigError) {
  Bm25Options options;
  options.k1 = -0.1;
  EXPECT_THROW(validate(options), ConfigError);
  EXPECT_THROW(Bm25Index::build(toy_corpus(), options), ConfigError);
  options.k1 = std::nan("");
  EXPECT_THROW(validate(options), ConfigError);
  options.k1 = 0.9;
  options.b = 1.5;
  EXPECT_THROW(validate(options), ConfigError);
  options.b = 1.0;
  EXPECT_NO_THROW(validate(options));
}

TEST(Bm25Ranker, ScoresCandidatesInRequestOrder) {
  auto index = std::make_shared<const Bm25Index>(Bm25Index::build(toy_corpus(), {}, 1, "toy"));
  Bm25Ranker ranker(index);
  EXPECT_EQ(ranker.name(), "bm25:k1=0.9,b=0.4");
  const std::vector<float> scores = ranker.score("q1", "cat", {"d3", "d4", "d1"});
  ASSERT_EQ(scores.size(), 3u);
  EXPECT_FLOAT_EQ(scores[0], 0.4400535022620724f);
  EXPECT_EQ(scores[1], 0.0f);
  EXPECT_FLOAT_EQ(scores[2], 0.37441016214563066f);
  EXPECT_TRUE(ranker.score("q1", "cat", {}).empty());

  Bm25Options exact;
  exact.quantize_lengths = false;
  exact.stemmer = "english";
  Bm25Ranker other(std::make_shared<const Bm25Index>(Bm25Index::build(toy_corpus(), exact)));
  EXPECT_EQ(other.name(), "bm25:k1=0.9,b=0.4,exact-lengths,stemmer=english");
}

TEST(Bm25Ranker, UnknownPassageIdIsADataErrorNamingIt) {
  auto index = std::make_shared<const Bm25Index>(Bm25Index::build(toy_corpus(), {}, 1, "toy"));
  Bm25Ranker ranker(index);
  try {
    ranker.score("q7", "cat", {"d1", "nope"});
    FAIL() << "no error";
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'nope'"), std::string::npos) << message;
    EXPECT_NE(message.find("q7"), std::string::npos) << message;
    EXPECT_NE(message.find("toy"), std::string::npos) << message;
  }
  EXPECT_THROW(ranker.score_batch({{"q1", "cat", {"d1"}}, {"q2", "dog", {"d0"}}}), DataError);
}

// A random corpus over a small vocabulary, so that queries match many passages with many ties.
struct RandomCase {
  data::Corpus corpus;
  std::vector<std::string> queries;
};

RandomCase random_case(unsigned seed) {
  const std::vector<std::string> vocabulary = {
      "river", "bank",  "money", "loan",   "water", "fish",   "boat",  "stream",  "credit",
      "rate",  "flood", "the",   "and",    "of",    "rivers", "banks", "loans",   "fishing",
      "bird",  "tree",  "leaf",  "forest", "green", "deep",   "blue",  "running", "ran"};
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> word(0, vocabulary.size() - 1);
  std::uniform_int_distribution<int> length(0, 60);
  std::uniform_int_distribution<int> query_length(1, 4);
  RandomCase out;
  for (int p = 0; p < 400; ++p) {
    std::string text;
    for (int i = length(rng); i > 0; --i)
      text += vocabulary[word(rng)] + " ";
    out.corpus.add({"p" + std::to_string(p * 7919 % 1000), "", text});
  }
  for (int q = 0; q < 60; ++q) {
    std::string text;
    for (int i = query_length(rng); i > 0; --i)
      text += vocabulary[word(rng)] + " ";
    out.queries.push_back(text);
  }
  return out;
}

TEST(Bm25Search, TopKEqualsSortingEveryPassageScore) {
  const RandomCase c = random_case(11);
  const Bm25Index index = Bm25Index::build(c.corpus, {}, 2);
  Bm25Searcher searcher(index);
  std::vector<uint32_t> all(index.num_passages());
  for (uint32_t p = 0; p < all.size(); ++p)
    all[p] = p;
  size_t ties_at_cut = 0;
  for (const std::string& query : c.queries) {
    const std::vector<double> scores = searcher.score(query, all);
    std::vector<Bm25Hit> expected;
    for (uint32_t p : all)
      if (scores[p] > 0) expected.push_back({p, scores[p]});
    std::sort(expected.begin(), expected.end(), [&](const Bm25Hit& a, const Bm25Hit& b) {
      if (a.score != b.score) return a.score > b.score;
      return index.passage_id(a.passage) < index.passage_id(b.passage);
    });
    for (size_t k : {size_t{1}, size_t{10}, size_t{50}, size_t{0}}) {
      const std::vector<Bm25Hit> hits = searcher.search(query, k);
      const size_t n = k == 0 ? expected.size() : std::min(k, expected.size());
      ASSERT_EQ(hits.size(), n) << query;
      for (size_t i = 0; i < n; ++i) {
        EXPECT_EQ(hits[i].passage, expected[i].passage) << query << " k " << k << " rank " << i;
        EXPECT_EQ(hits[i].score, expected[i].score);  // bit-identical to score()
      }
      if (k > 0 && k < expected.size() && expected[k - 1].score == expected[k].score) {
        ++ties_at_cut;
      }
    }
  }
  EXPECT_GT(ties_at_cut, 0u) << "the case should exercise ties at the cut-off";
}

TEST(Bm25Search, BatchOnThreadsEqualsOneQueryAtATime) {
  const RandomCase c = random_case(5);
  const Bm25Index one_thread = Bm25Index::build(c.corpus, {}, 1);
  const Bm25Index three_threads = Bm25Index::build(c.corpus, {}, 3);
  const std::vector<std::vector<Bm25Hit>> batch = search_batch(three_threads, c.queries, 20, 3);
  ASSERT_EQ(batch.size(), c.queries.size());
  Bm25Searcher searcher(one_thread);
  for (size_t q = 0; q < c.queries.size(); ++q) {
    const std::vector<Bm25Hit> single = searcher.search(c.queries[q], 20);
    ASSERT_EQ(batch[q].size(), single.size()) << c.queries[q];
    for (size_t i = 0; i < single.size(); ++i) {
      EXPECT_EQ(batch[q][i].passage, single[i].passage);
      EXPECT_EQ(batch[q][i].score, single[i].score);
    }
  }
  EXPECT_TRUE(search_batch(one_thread, {}, 20, 4).empty());
}

TEST(Bm25Ranker, ScoreBatchEqualsOneScoreCallPerQuery) {
  const RandomCase c = random_case(8);
  auto index = std::make_shared<const Bm25Index>(Bm25Index::build(c.corpus, {}));
  Bm25Ranker ranker(index, 3);
  std::vector<TeacherQuery> queries;
  for (size_t q = 0; q < c.queries.size(); ++q) {
    TeacherQuery query{"q" + std::to_string(q), c.queries[q], {}};
    for (size_t p = q; p < index->num_passages(); p += 13)
      query.passage_ids.push_back(index->passage_id(static_cast<uint32_t>(p)));
    queries.push_back(query);
  }
  const std::vector<std::vector<float>> batch = ranker.score_batch(queries);
  ASSERT_EQ(batch.size(), queries.size());
  for (size_t q = 0; q < queries.size(); ++q) {
    EXPECT_EQ(batch[q],
              ranker.score(queries[q].query_id, queries[q].query_text, queries[q].passage_ids));
  }
}

}  // namespace
}  // namespace dgr::teacher
