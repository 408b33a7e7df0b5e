// Synthetic training queries: "terms" queries are the highest-idf words in passage order, "span"
// queries are trimmed word runs of one sentence, ids and positives, short passages skipped, no
// repeated text per passage, seeded determinism and sampling, option checks, the written files
// read back by the ordinary readers, and coverage on the real DL19 corpus.
#include "data/synthetic_queries.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "data/dataset.h"
#include "tests/data/test_files.h"

namespace dgr::data {
namespace {

Corpus make_corpus(const std::vector<Passage>& passages) {
  Corpus corpus;
  for (const Passage& passage : passages)
    corpus.add(passage);
  return corpus;
}

SyntheticQueryOptions terms_only(int words) {
  SyntheticQueryOptions options;
  options.kinds = {"terms"};
  options.queries_per_passage = 1;
  options.min_words = words;
  options.max_words = words;
  return options;
}

SyntheticQueryOptions spans_only(int min_words, int max_words, uint64_t seed) {
  SyntheticQueryOptions options;
  options.kinds = {"span"};
  options.queries_per_passage = 1;
  options.min_words = min_words;
  options.max_words = max_words;
  options.seed = seed;
  return options;
}

// query id -> text.
std::map<std::string, std::string> by_id(const SyntheticQueries& queries) {
  std::map<std::string, std::string> out;
  for (const Query& query : queries.queries)
    out[query.id] = query.text;
  return out;
}

// Whitespace-separated pieces holding a letter or digit (the words a span counts).
size_t count_words(const std::string& text) {
  size_t words = 0;
  bool in_piece = false;
  bool has_alnum = false;
  for (size_t i = 0; i <= text.size(); ++i) {
    const bool space = i == text.size() || std::isspace(static_cast<unsigned char>(text[i]));
    if (space) {
      if (in_piece && has_alnum) ++words;
      in_piece = has_alnum = false;
    } else {
      in_piece = true;
      has_alnum = has_alnum || std::isalnum(static_cast<unsigned char>(text[i]));
    }
  }
  return words;
}

// A corpus of passages with several long sentences each, so draws have room to differ.
Corpus long_corpus(size_t passages) {
  std::vector<Passage> out;
  for (size_t p = 0; p < passages; ++p) {
    std::string text;
    for (int s = 0; s < 4; ++s) {
      for (int w = 0; w < 12; ++w)
        text += "w" + std::to_string((p * 7 + static_cast<size_t>(s) * 13 + w * 3) % 97) + "x ";
      text.back() = '.';
      text += ' ';
    }
    out.push_back({"d" + std::to_string(p), "Title " + std::to_string(p), text});
  }
  return make_corpus(out);
}

// Three passages whose document frequencies are known: alpha, delta, epsilon, rho, zeta, eta,
// theta, iota, kappa, lambda, mu occur in one passage, beta in two, gamma in all three.
Corpus greek_corpus() {
  return make_corpus({
      {"p0", "", "Alpha beta gamma delta. Beta gamma epsilon."},
      {"p1", "Gamma Rho", "Beta gamma zeta eta theta."},
      {"p2", "", "The Gamma of iota kappa, lambda mu!"},
  });
}

TEST(SyntheticQueries, TermsAreTheHighestIdfWordsInPassageOrder) {
  const Corpus corpus = greek_corpus();
  const auto three = by_id(make_synthetic_queries(corpus, terms_only(3)));
  ASSERT_EQ(three.size(), 3u);
  // p0: the df-1 words alpha, delta, epsilon; beta (df 2) and gamma (df 3) lose.
  EXPECT_EQ(three.at("syn-p0-0"), "alpha delta epsilon");
  // p1: title words come first; rho, zeta, eta win the tie among df-1 words by position.
  EXPECT_EQ(three.at("syn-p1-0"), "rho zeta eta");
  // p2: stop words (the, of) never count; lowercased.
  EXPECT_EQ(three.at("syn-p2-0"), "iota kappa lambda");

  const auto four = by_id(make_synthetic_queries(corpus, terms_only(4)));
  EXPECT_EQ(four.at("syn-p0-0"), "alpha beta delta epsilon");  // beta next, kept in its place
  EXPECT_EQ(four.at("syn-p1-0"), "rho zeta eta theta");
  EXPECT_EQ(four.at("syn-p2-0"), "iota kappa lambda mu");

  // More words wanted than a passage has: all its usable words, once each.
  const auto five = by_id(make_synthetic_queries(corpus, terms_only(5)));
  EXPECT_EQ(five.at("syn-p0-0"), "alpha beta gamma delta epsilon");
  SyntheticQueryOptions wide = terms_only(3);
  wide.max_words = 9;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    wide.seed = seed;
    const auto queries = by_id(make_synthetic_queries(corpus, wide));
    EXPECT_EQ(queries.at("syn-p2-0").find("the"), std::string::npos);
    EXPECT_EQ(queries.at("syn-p2-0").find("gamma of"), std::string::npos);
  }
}

TEST(SyntheticQueries, SpansAreTrimmedWordRunsOfOneSentence) {
  const Corpus exact = make_corpus({{"a", "", "One two three four five."},
                                    {"b", "", "Hello, (big) world!"},
                                    {"c", "", "\"Quoted words here,\" she said."}});
  const auto spans = by_id(make_synthetic_queries(exact, spans_only(3, 5, 1)));
  EXPECT_EQ(spans.at("syn-b-0"), "Hello, (big) world");
  const auto five = by_id(make_synthetic_queries(exact, spans_only(5, 5, 1)));
  EXPECT_EQ(five.at("syn-a-0"), "One two three four five");
  EXPECT_EQ(five.at("syn-c-0"), "Quoted words here,\" she said");

  // The first sentence is too short: every span comes from the second, contiguous, cased.
  const Corpus two = make_corpus({{"x", "Ignored Title Words", "Aa bb. Cc dd ee ff gg."}});
  const std::set<std::string> allowed = {"Cc dd ee", "dd ee ff", "ee ff gg"};
  std::set<std::string> seen;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    const SyntheticQueries queries = make_synthetic_queries(two, spans_only(3, 3, seed));
    ASSERT_EQ(queries.queries.size(), 1u);
    EXPECT_TRUE(allowed.count(queries.queries[0].text)) << queries.queries[0].text;
    seen.insert(queries.queries[0].text);
  }
  EXPECT_EQ(seen, allowed);  // the start is drawn, not fixed

  // A span of stop words alone is drawn again.
  const Corpus stop =
      make_corpus({{"s", "", "It was in the city of Rome."}, {"t", "", "Alpha beta gamma."}});
  size_t made = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    const auto queries = by_id(make_synthetic_queries(stop, spans_only(3, 3, seed)));
    if (queries.count("syn-s-0") == 0) continue;  // 8 draws of stop words alone: rare
    EXPECT_NE(queries.at("syn-s-0"), "It was in");
    EXPECT_NE(queries.at("syn-s-0"), "was in the");
    ++made;
  }
  EXPECT_GE(made, 38u);

  // On longer text: substrings of the passage within one sentence, [min, max] words.
  const Corpus corpus = long_corpus(10);
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const SyntheticQueries queries = make_synthetic_queries(corpus, spans_only(2, 6, seed));
    ASSERT_EQ(queries.queries.size(), corpus.size());
    for (size_t i = 0; i < queries.queries.size(); ++i) {
      const std::string& text = queries.queries[i].text;
      const Passage& passage = corpus[*corpus.find(queries.qrels[i].passage_id)];
      EXPECT_NE(passage.text.find(text), std::string::npos) << text;
      EXPECT_EQ(text.find('.'), std::string::npos) << text;
      EXPECT_GE(count_words(text), 2u);
      EXPECT_LE(count_words(text), 6u);
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(text.front())));
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(text.back())));
    }
  }
}

TEST(SyntheticQueries, IdsAndPositivesFollowTheSlots) {
  const Corpus corpus = long_corpus(6);
  SyntheticQueryOptions options;  // terms, span alternate
  options.queries_per_passage = 4;
  options.id_prefix = "gen";
  const SyntheticQueries queries = make_synthetic_queries(corpus, options);
  ASSERT_EQ(queries.queries.size(), 24u);
  ASSERT_EQ(queries.qrels.size(), 24u);
  for (size_t i = 0; i < queries.queries.size(); ++i) {
    const size_t passage = i / 4;
    const size_t slot = i % 4;
    const std::string& pid = corpus[passage].id;
    EXPECT_EQ(queries.queries[i].id, "gen-" + pid + "-" + std::to_string(slot));
    EXPECT_EQ(queries.qrels[i].query_id, queries.queries[i].id);
    EXPECT_EQ(queries.qrels[i].passage_id, pid);
    EXPECT_EQ(queries.qrels[i].grade, 1);
    const std::string& text = queries.queries[i].text;
    if (slot % 2 == 0) {
      EXPECT_EQ(text.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ.,"), std::string::npos) << text;
    } else {
      EXPECT_NE(corpus[passage].text.find(text), std::string::npos) << text;
    }
  }
}

TEST(SyntheticQueries, NoRepeatedTextForAPassage) {
  // One possible terms query per passage: the extra slots stay empty.
  SyntheticQueryOptions fixed = terms_only(3);
  fixed.queries_per_passage = 5;
  const SyntheticQueries once = make_synthetic_queries(greek_corpus(), fixed);
  ASSERT_EQ(once.queries.size(), 3u);
  EXPECT_EQ(once.queries[0].id, "syn-p0-0");

  // Case-insensitive: a span equal to the terms query is dropped.
  SyntheticQueryOptions both = terms_only(3);
  both.kinds = {"terms", "span"};
  both.queries_per_passage = 2;
  const auto same =
      by_id(make_synthetic_queries(make_corpus({{"q", "", "Red green blue."}}), both));
  EXPECT_EQ(same.size(), 1u);
  EXPECT_EQ(same.at("syn-q-0"), "red green blue");

  SyntheticQueryOptions many;
  many.queries_per_passage = 10;
  const SyntheticQueries queries = make_synthetic_queries(long_corpus(8), many);
  std::map<std::string, std::set<std::string>> texts;
  for (size_t i = 0; i < queries.queries.size(); ++i) {
    std::string key = queries.queries[i].text;
    for (char& c : key)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_TRUE(texts[queries.qrels[i].passage_id].insert(key).second) << key;
  }
}

TEST(SyntheticQueries, ShortPassagesGiveNoQueryOfThatKind) {
  const Corpus corpus = make_corpus({
      {"short", "", "Hi there, it is."},       // one usable term, sentence of 4 words
      {"titled", "Solar Wind", "Ions flow."},  // 4 terms with the title, 2-word text
      {"long", "", "Plasma streams outward from stars."},
      {"empty", "", ""},
  });
  SyntheticQueryOptions options;
  options.min_words = 3;
  options.max_words = 3;
  const auto queries = by_id(make_synthetic_queries(corpus, options));
  EXPECT_EQ(queries.count("syn-short-0"), 0u);  // terms: "hi" only
  const std::set<std::string> short_spans = {"Hi there, it", "there, it is"};
  EXPECT_TRUE(short_spans.count(queries.at("syn-short-1"))) << queries.at("syn-short-1");
  EXPECT_EQ(queries.at("syn-titled-0"), "solar wind ions");
  EXPECT_EQ(queries.count("syn-titled-1"), 0u);  // the title is not a sentence of the body
  EXPECT_EQ(queries.count("syn-long-0"), 1u);
  EXPECT_EQ(queries.count("syn-long-1"), 1u);
  EXPECT_EQ(queries.count("syn-empty-0") + queries.count("syn-empty-1"), 0u);
  EXPECT_EQ(queries.size(), 4u);

  test::expect_error<DataError>(
      [] {
        make_synthetic_queries(make_corpus({{"a", "", "Too short."}}), SyntheticQueryOptions{});
      },
      {"no synthetic query", "min_words (3)"});
}

TEST(SyntheticQueries, SameSeedSameQueriesOtherSeedOthers) {
  const Corpus corpus = long_corpus(20);
  SyntheticQueryOptions options;
  options.max_words = 10;
  const SyntheticQueries a = make_synthetic_queries(corpus, options);
  const SyntheticQueries b = make_synthetic_queries(corpus, options);
  ASSERT_EQ(a.queries.size(), b.queries.size());
  for (size_t i = 0; i < a.queries.size(); ++i) {
    EXPECT_EQ(a.queries[i].id, b.queries[i].id);
    EXPECT_EQ(a.queries[i].text, b.queries[i].text);
  }
  options.seed = 14;
  const SyntheticQueries c = make_synthetic_queries(corpus, options);
  EXPECT_NE(by_id(a), by_id(c));
}

TEST(SyntheticQueries, SamplingPicksPassagesBySeedWithoutChangingTheirQueries) {
  const Corpus corpus = long_corpus(30);
  SyntheticQueryOptions all;
  const auto full = by_id(make_synthetic_queries(corpus, all));
  std::set<std::set<std::string>> picks;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    SyntheticQueryOptions options;
    options.passages = 7;
    options.seed = seed;
    all.seed = seed;
    const auto full_seeded = by_id(make_synthetic_queries(corpus, all));
    const SyntheticQueries sampled = make_synthetic_queries(corpus, options);
    std::set<std::string> passages;
    for (const SyntheticQrel& qrel : sampled.qrels)
      passages.insert(qrel.passage_id);
    EXPECT_EQ(passages.size(), 7u);
    for (const Query& query : sampled.queries)
      EXPECT_EQ(query.text, full_seeded.at(query.id));
    picks.insert(passages);
  }
  EXPECT_GT(picks.size(), 1u);

  SyntheticQueryOptions more;
  more.passages = 100;  // more than the corpus: all of it
  EXPECT_EQ(by_id(make_synthetic_queries(corpus, more)), full);
}

TEST(SyntheticQueries, BadOptionsAreConfigErrors) {
  const Corpus corpus = greek_corpus();
  auto expect_bad = [&](SyntheticQueryOptions options, const std::string& part) {
    test::expect_error<ConfigError>([&] { make_synthetic_queries(corpus, options); }, {part});
  };
  SyntheticQueryOptions o;
  o.kinds = {"terms", "question"};
  expect_bad(o, "unknown kind 'question'");
  o = {};
  o.kinds = {};
  expect_bad(o, "kinds");
  o = {};
  o.max_words = 2;
  expect_bad(o, "max_words");
  o = {};
  o.min_words = 0;
  expect_bad(o, "min_words");
  o = {};
  o.queries_per_passage = 0;
  expect_bad(o, "queries_per_passage");
  o = {};
  o.passages = -1;
  expect_bad(o, "passages");
  o = {};
  o.id_prefix = "a b";
  expect_bad(o, "id_prefix");
}

TEST(SyntheticQueries, WrittenFilesReadBackWithTheReaders) {
  const Corpus corpus = make_corpus({
      {"m1", "", "He said \"stop\" twice. Caf\xC3\xA9 prices rose \\ fell in Z\xC3\xBCrich today."},
      {"m2", "Tab\tTitle", "Line one words here.\nLine two words there."},
  });
  SyntheticQueryOptions options;
  options.queries_per_passage = 4;
  options.max_words = 4;
  const SyntheticQueries queries = make_synthetic_queries(corpus, options);
  const std::string dir = test::test_dir() + "/run/queries";
  std::filesystem::remove_all(test::test_dir() + "/run");
  write_synthetic_queries(dir, queries);

  const Queries read = load_queries(dir + "/queries.jsonl");
  ASSERT_EQ(read.size(), queries.queries.size());
  for (size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].id, queries.queries[i].id);
    EXPECT_EQ(read[i].text, queries.queries[i].text);
  }
  const eval::Qrels qrels = read_qrels(dir + "/qrels/train.tsv");
  EXPECT_EQ(qrels.size(), queries.qrels.size());
  for (const SyntheticQrel& qrel : queries.qrels)
    EXPECT_EQ(qrels.grade(qrel.query_id, qrel.passage_id, -1), 1);
  EXPECT_EQ(qrels.by_query.size(), queries.queries.size());
}

std::string dl19_corpus() {
  for (const char* variable : {"DGR_DATA", "DGR_SHARED_DATA"}) {
    const char* value = std::getenv(variable);
    if (value != nullptr && *value != '\0') {
      const std::string path = std::string(value) + "/msmarco-dl19/corpus.jsonl";
      if (std::filesystem::exists(path)) return path;
    }
  }
  return std::string(DGR_SHARED_DATA_DIR) + "/msmarco-dl19/corpus.jsonl";
}

TEST(SyntheticQueries, Dl19CorpusGivesQueriesForNearlyEveryPassage) {
  const std::string path = dl19_corpus();
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "DL19 corpus not found at " << path;
  const Corpus corpus = load_corpus(path);
  SyntheticQueryOptions options;
  options.queries_per_passage = 1;
  const SyntheticQueries one = make_synthetic_queries(corpus, options);
  EXPECT_GE(one.queries.size() * 100, corpus.size() * 99)
      << one.queries.size() << " of " << corpus.size();

  // The default two kinds: span queries for most passages too, every id distinct.
  const SyntheticQueries two = make_synthetic_queries(corpus, SyntheticQueryOptions{});
  std::set<std::string> ids;
  size_t spans = 0;
  for (const Query& query : two.queries) {
    EXPECT_TRUE(ids.insert(query.id).second) << query.id;
    if (query.id.size() > 2 && query.id.compare(query.id.size() - 2, 2, "-1") == 0) ++spans;
  }
  EXPECT_GE(spans * 100, corpus.size() * 95) << spans << " of " << corpus.size();
}

}  // namespace
}  // namespace dgr::data
