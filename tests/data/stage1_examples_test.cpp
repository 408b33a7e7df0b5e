// Stage-1 example generation: determinism, counts per view, where spans start (supervised: at
// passage words matching the query's content words, ranked by overlap; unsupervised: at content
// words, independently of the source), titles and pseudo-queries exactly as the index holds them
// (every example occurs in an FM-index built from the same passages), skipped queries and unknown
// passages counted, option checks, and the real Cranfield training split (counts, span starts, a
// store round trip).
#include "data/stage1_examples.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/index/fm_index.h"
#include "core/index/views.h"
#include "core/text/bpe_tokenizer.h"
#include "core/text/stop_words.h"
#include "core/text/token_words.h"
#include "core/util/error.h"
#include "data/dataset.h"
#include "tests/data/test_files.h"

namespace dgr::data {
namespace {

using text::TokenId;

std::string shared(const std::string& relative) {
  return std::string(DGR_SHARED_DATA_DIR) + "/" + relative;
}

std::string describe(const std::vector<int32_t>& tokens) {
  std::ostringstream out;
  for (size_t i = 0; i < tokens.size(); ++i)
    out << (i ? " " : "") << tokens[i];
  return out.str();
}

std::string describe(const Stage1Example& e) {
  return e.source_id + " " + search::view_name(e.view) + (e.supervised ? " sup" : " unsup") + " [" +
         describe(e.source) + "] [" + describe(e.prompt) + "] [" + describe(e.target) + "]";
}

std::vector<std::string> describe(const std::vector<Stage1Example>& examples) {
  std::vector<std::string> out;
  for (const Stage1Example& e : examples)
    out.push_back(describe(e));
  return out;
}

bool contains(const std::vector<TokenId>& haystack, const std::vector<TokenId>& needle,
              size_t* at = nullptr) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end());
  if (at != nullptr) *at = static_cast<size_t>(it - haystack.begin());
  return it != haystack.end();
}

class Stage1Examples : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::filesystem::exists(shared("tokenizer/bart/vocab.json"))) {
      tokenizer_ =
          std::make_unique<text::BpeTokenizer>(text::BpeTokenizer::load(shared("tokenizer/bart")));
    }
  }
  static void TearDownTestSuite() { tokenizer_.reset(); }

  void SetUp() override {
    if (!tokenizer_) GTEST_SKIP() << "BART tokenizer not found under " << DGR_SHARED_DATA_DIR;
    corpus_.add({"d1", "Solar panels",
                 "Solar panels convert sunlight into electricity using photovoltaic cells made "
                 "of silicon. Modern panels reach efficiencies above twenty percent, and prices "
                 "fell sharply over the last decade."});
    corpus_.add({"d2", "Wind turbines",
                 "A wind turbine turns the kinetic energy of moving air into electrical energy. "
                 "Large offshore turbines have blades longer than eighty metres."});
    corpus_.add({"d3", "",
                 "Rivers carry water from mountains to the sea, shaping valleys and deltas along "
                 "the way; many lakes are fed by rivers."});
    corpus_.add({"d4", "Empty passage", ""});
    queries_.add({"q1", "how do solar panels make electricity"});
    queries_.add({"q2", "wind energy"});
    queries_.add({"q3", "a query of another split"});
    queries_.add({"q4", "judged but nothing relevant"});
    qrels_.by_query["q1"] = {{"d1", 2}, {"d3", 0}, {"missing-doc", 1}};
    qrels_.by_query["q2"] = {{"d3", 1}, {"d2", 1}};
    qrels_.by_query["q4"] = {{"d1", 0}};
    qrels_.by_query["q-unknown"] = {{"d1", 1}};
    pseudo_queries_["d1"] = {"what converts sunlight", "silicon cells efficiency", ""};
    pseudo_queries_["d2"] = {"wind power"};
    views_.pseudo_queries = true;
  }

  Stage1Inputs inputs() const {
    Stage1Inputs in;
    in.corpus = &corpus_;
    in.queries = &queries_;
    in.qrels = &qrels_;
    in.pseudo_queries = &pseudo_queries_;
    in.tokenizer = tokenizer_.get();
    in.views = views_;
    return in;
  }

  index::ViewMarkers markers() const { return index::encode_markers(*tokenizer_, views_); }

  index::PassageSegments segments(const Passage& p) const {
    auto it = pseudo_queries_.find(p.id);
    static const std::vector<std::string> kNone;
    return index::passage_segments(*tokenizer_, views_, markers(), p.title, p.text,
                                   it == pseudo_queries_.end() ? kNone : it->second);
  }

  index::FmIndex build_index() const {
    std::vector<index::PassageSegments> passages;
    for (const Passage& p : corpus_)
      passages.push_back(segments(p));
    return index::FmIndex::build(passages);
  }

  std::vector<TokenId> encode(const std::string& text) const { return tokenizer_->encode(text); }

  static std::unique_ptr<text::BpeTokenizer> tokenizer_;
  Corpus corpus_;
  Queries queries_;
  eval::Qrels qrels_;
  PseudoQueries pseudo_queries_;
  index::ViewOptions views_;
};

std::unique_ptr<text::BpeTokenizer> Stage1Examples::tokenizer_;

TEST_F(Stage1Examples, SameInputsGiveIdenticalExamplesAndAnotherSeedOtherSpans) {
  const Stage1Options options;
  const auto first = make_stage1_examples(inputs(), options);
  const auto second = make_stage1_examples(inputs(), options);
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(describe(first), describe(second));

  Stage1Inputs reseeded = inputs();
  reseeded.seed += 1;
  const auto third = make_stage1_examples(reseeded, options);
  ASSERT_EQ(first.size(), third.size());  // the seed changes choices, not counts
  size_t differing_body = 0;
  for (size_t i = 0; i < first.size(); ++i) {
    if (first[i].view == search::View::kBody && describe(first[i]) != describe(third[i])) {
      ++differing_body;
    }
    if (first[i].view == search::View::kTitle) {
      EXPECT_EQ(describe(first[i]), describe(third[i]));
    }
  }
  EXPECT_GT(differing_body, 0u);
}

TEST_F(Stage1Examples, CountsPerViewMatchTheOptions) {
  Stage1Stats stats;
  const auto examples = make_stage1_examples(inputs(), Stage1Options{}, &stats);
  // Supervised: q1 -> d1 (title, body, 2 pseudo-queries): 3 + 10 + 5; q2 -> d2 (title, body,
  // 1 pseudo-query): 3 + 10 + 5, d3 (no title): 10. Unsupervised: d1, d2: 1 + 3 + 2; d3: 3;
  // d4 has no text.
  EXPECT_EQ(stats.supervised, 46u);
  EXPECT_EQ(stats.unsupervised, 15u);
  EXPECT_EQ(examples.size(), 61u);
  EXPECT_EQ(stats.per_view.at("title"), 3u + 3u + 1u + 1u);
  EXPECT_EQ(stats.per_view.at("body"), 10u + 10u + 10u + 3u + 3u + 3u);
  EXPECT_EQ(stats.per_view.at("pseudo_queries"), 5u + 5u + 2u + 2u);
  EXPECT_EQ(stats.passages_without_source, 1u);

  // Per (query, view) and per (passage, view), recounted from the examples.
  std::map<std::string, size_t> count;
  for (const Stage1Example& e : examples)
    ++count[e.source_id + "/" + search::view_name(e.view)];
  EXPECT_EQ(count["q1/title"], 3u);
  EXPECT_EQ(count["q1/body"], 10u);
  EXPECT_EQ(count["q1/pseudo_queries"], 5u);
  EXPECT_EQ(count["q2/title"], 3u);
  EXPECT_EQ(count["q2/body"], 20u);
  EXPECT_EQ(count["d1/title"], 1u);
  EXPECT_EQ(count["d1/body"], 3u);
  EXPECT_EQ(count["d1/pseudo_queries"], 2u);
  EXPECT_EQ(count["d3/body"], 3u);
  EXPECT_EQ(count["d4/title"], 0u);

  Stage1Options other;
  other.titles_per_query = 2;
  other.spans_per_query = 4;
  other.pseudo_queries_per_query = 1;
  other.unsupervised = false;
  const auto fewer = make_stage1_examples(inputs(), other, &stats);
  EXPECT_EQ(fewer.size(), (2u + 4u + 1u) + (2u + 4u + 1u) + 4u);
  EXPECT_EQ(stats.unsupervised, 0u);
  EXPECT_EQ(stats.per_view.at("title"), 4u);
  EXPECT_EQ(stats.per_view.at("body"), 12u);
  EXPECT_EQ(stats.per_view.at("pseudo_queries"), 2u);
}

TEST_F(Stage1Examples, OrderIsQueriesThenPositivesThenViewsThenCorpus) {
  const auto examples = make_stage1_examples(inputs(), Stage1Options{});
  std::vector<std::string> order;
  for (const Stage1Example& e : examples) {
    const std::string key = e.source_id + (e.supervised ? "" : "*");
    if (order.empty() || order.back() != key) order.push_back(key);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"q1", "q2", "d1*", "d2*", "d3*"}));
  // Within q2: d2 (index 1) before d3 (index 2): d2's title comes first, d3 has none.
  std::vector<search::View> q2;
  for (const Stage1Example& e : examples)
    if (e.source_id == "q2") q2.push_back(e.view);
  ASSERT_EQ(q2.size(), 28u);
  EXPECT_EQ(q2[0], search::View::kTitle);
  EXPECT_EQ(q2[3], search::View::kBody);
  EXPECT_EQ(q2[13], search::View::kPseudoQuery);
  EXPECT_EQ(q2[18], search::View::kBody);
}

TEST_F(Stage1Examples, QueriesWithoutPositivesAreSkippedAndCounted) {
  Stage1Stats stats;
  const auto examples = make_stage1_examples(inputs(), Stage1Options{}, &stats);
  EXPECT_EQ(stats.queries_used, 2u);
  EXPECT_EQ(stats.queries_without_positive, 1u);  // q4: only a grade-0 judgment
  EXPECT_EQ(stats.queries_not_in_qrels, 1u);      // q3
  EXPECT_EQ(stats.unknown_queries, 1u);           // q-unknown
  EXPECT_EQ(stats.unknown_passages, 1u);          // q1 -> missing-doc
  for (const Stage1Example& e : examples) {
    EXPECT_NE(e.source_id, "q3");
    EXPECT_NE(e.source_id, "q4");
    EXPECT_NE(e.source_id, "q-unknown");
  }
  // A higher threshold leaves q2 (grade 1) without positives.
  Stage1Options strict;
  strict.relevance_threshold = 2;
  make_stage1_examples(inputs(), strict, &stats);
  EXPECT_EQ(stats.queries_used, 1u);
  EXPECT_EQ(stats.queries_without_positive, 2u);
}

TEST_F(Stage1Examples, SupervisedSourceIsTheQueryTruncated) {
  Stage1Inputs in = inputs();
  in.max_query_length = 3;
  Stage1Options options;
  options.unsupervised = false;
  for (const Stage1Example& e : make_stage1_examples(in, options)) {
    const std::string& text = queries_[*queries_.find(e.source_id)].text;
    std::vector<TokenId> expected = encode(" " + text);
    expected.resize(std::min<size_t>(expected.size(), 3));
    EXPECT_EQ(e.source, expected) << describe(e);
    EXPECT_TRUE(e.supervised);
  }
}

TEST_F(Stage1Examples, SpansStartAtQueryWordsWithTheMostQueryWordsFirst) {
  Corpus corpus;
  corpus.add({"p", "Filler",
              "the cat sat on the mat and the dog lay by the door while the rain fell on the "
              "roof of the old house near the hill; quantum entanglement enables teleportation "
              "of states between distant labs; then the cat slept and the dog ate and the "
              "rain stopped and the sun came out over the old house near the hill."});
  Queries queries;
  queries.add({"q", "The Quantum entanglement of teleportation?"});
  eval::Qrels qrels;
  qrels.by_query["q"] = {{"p", 1}};
  Stage1Inputs in = inputs();
  in.corpus = &corpus;
  in.queries = &queries;
  in.qrels = &qrels;
  Stage1Options options;
  options.unsupervised = false;
  options.spans_per_query = 3;
  for (uint64_t seed : {1u, 2u, 3u}) {
    in.seed = seed;
    Stage1Stats stats;
    const auto examples = make_stage1_examples(in, options, &stats);
    std::vector<std::string> spans;
    for (const Stage1Example& e : examples)
      if (e.view == search::View::kBody) spans.push_back(tokenizer_->decode(e.target));
    // The three starts at query content words (case-insensitive; "the" and "of" are stop words
    // and start nothing), by distinct query words in the span: quantum (3), entanglement (2),
    // teleportation (1).
    ASSERT_EQ(spans.size(), 3u);
    EXPECT_EQ(spans[0].rfind(" quantum entanglement enables teleportation", 0), 0u) << spans[0];
    EXPECT_EQ(spans[1].rfind(" entanglement enables teleportation", 0), 0u) << spans[1];
    EXPECT_EQ(spans[2].rfind(" teleportation of states", 0), 0u) << spans[2];
    EXPECT_EQ(stats.supervised_spans_at_query_words, 3u);
  }
  // More spans than query-word starts: then the other content-word starts, those with query
  // words inside first; every start before any repeats.
  options.spans_per_query = 6;
  const auto examples = make_stage1_examples(in, options);
  std::vector<std::string> spans;
  for (const Stage1Example& e : examples)
    if (e.view == search::View::kBody) spans.push_back(tokenizer_->decode(e.target));
  ASSERT_EQ(spans.size(), 6u);
  EXPECT_EQ(std::set<std::string>(spans.begin(), spans.end()).size(), 6u);
  // The next best: the other content-word starts by the query words in their 10 tokens, three
  // for " hill" and " near", two for " house" (teleportation no longer fits).
  EXPECT_EQ(std::set<std::string>(spans.begin() + 3, spans.begin() + 5),
            (std::set<std::string>{" near the hill; quantum entanglement enables teleportation",
                                   " hill; quantum entanglement enables teleportation of states"}));
  EXPECT_EQ(spans[5], " house near the hill; quantum entanglement enables");
}

TEST_F(Stage1Examples, SpansWithoutContentWordsFallBackToWordsThenTheFirstToken) {
  Corpus corpus;
  corpus.add({"short", "", "one two three"});      // ` one two three`: content words, 3 starts
  corpus.add({"stop", "", "to be or not to be"});  // stop words only: word starts
  corpus.add({"symbols", "", "(( ... ))"});        // no word: the first token
  Queries queries;
  queries.add({"q", "anything"});
  eval::Qrels qrels;
  qrels.by_query["q"] = {{"short", 1}, {"stop", 1}, {"symbols", 1}};
  Stage1Inputs in = inputs();
  in.corpus = &corpus;
  in.queries = &queries;
  in.qrels = &qrels;
  Stage1Options options;
  options.unsupervised = false;
  options.spans_per_query = 5;
  Stage1Stats stats;
  const auto examples = make_stage1_examples(in, options, &stats);
  ASSERT_EQ(examples.size(), 15u);
  EXPECT_EQ(stats.supervised_spans_at_query_words, 0u);
  std::vector<std::string> spans;
  for (const Stage1Example& e : examples)
    spans.push_back(tokenizer_->decode(e.target));
  // No query word anywhere: ties in seeded order, every start once before any repeats; the
  // spans of a short body are its tails.
  EXPECT_EQ(std::set<std::string>(spans.begin(), spans.begin() + 3),
            (std::set<std::string>{" one two three", " two three", " three"}));
  EXPECT_EQ(spans[3], spans[0]);
  EXPECT_EQ(spans[4], spans[1]);
  // ` to be or not to be`: no content word, so spans start at its words (six of them, five
  // distinct spans starting " to", " be", " or", " not", " to be" ...).
  for (size_t i = 5; i < 10; ++i) {
    EXPECT_EQ(spans[i][0], ' ') << spans[i];
    EXPECT_NE(std::string(" to be or not to be").find(spans[i]), std::string::npos) << spans[i];
  }
  EXPECT_EQ(std::set<std::string>(spans.begin() + 5, spans.begin() + 10).size(), 5u);
  for (size_t i = 10; i < 15; ++i)
    EXPECT_EQ(spans[i], " (( ... ))");
}

TEST_F(Stage1Examples, TitlesEndWithTheEndMarkerAndMatchTheIndexedTitleSegment) {
  const index::ViewMarkers m = markers();
  size_t titles = 0;
  for (const Stage1Example& e : make_stage1_examples(inputs(), Stage1Options{})) {
    if (e.view != search::View::kTitle) continue;
    ++titles;
    const Passage& p =
        e.supervised ? corpus_[e.source_id == "q1" ? 0 : 1] : corpus_[*corpus_.find(e.source_id)];
    EXPECT_EQ(e.prompt, m.title_start);
    ASSERT_GE(e.target.size(), m.title_end.size());
    EXPECT_TRUE(std::equal(m.title_end.begin(), m.title_end.end(),
                           e.target.end() - static_cast<ptrdiff_t>(m.title_end.size())));
    EXPECT_EQ(tokenizer_->decode(e.target), " " + p.title + " @@");
    // prompt + target starts the passage's first (title + body) segment.
    std::vector<TokenId> indexed = e.prompt;
    indexed.insert(indexed.end(), e.target.begin(), e.target.end());
    const index::PassageSegments segs = segments(p);
    ASSERT_FALSE(segs.empty());
    ASSERT_GE(segs[0].size(), indexed.size());
    EXPECT_TRUE(std::equal(indexed.begin(), indexed.end(), segs[0].begin()));
  }
  EXPECT_EQ(titles, 8u);
}

TEST_F(Stage1Examples, PseudoQueriesCarryTheirMarkers) {
  const index::ViewMarkers m = markers();
  std::set<std::string> seen;
  for (const Stage1Example& e : make_stage1_examples(inputs(), Stage1Options{})) {
    if (e.view != search::View::kPseudoQuery) continue;
    EXPECT_EQ(e.prompt, m.pq_start);
    seen.insert(tokenizer_->decode(e.target));
  }
  EXPECT_EQ(seen, (std::set<std::string>{" what converts sunlight @@",
                                         " silicon cells efficiency @@", " wind power @@"}));
}

TEST_F(Stage1Examples, EveryExampleOccursInTheFmIndexOfThePassages) {
  for (int variant = 0; variant < 4; ++variant) {
    // All views; body only; title only; title and body without pseudo-queries.
    views_.title = variant != 1;
    views_.body = variant != 2;
    views_.pseudo_queries = variant == 0;
    const index::FmIndex index = build_index();
    Stage1Options options;
    options.source_length = 8;  // several possible sources per passage
    size_t checked = 0;
    for (const Stage1Example& e : make_stage1_examples(inputs(), options)) {
      std::vector<TokenId> key = e.prompt;
      key.insert(key.end(), e.target.begin(), e.target.end());
      EXPECT_GT(index.count(key), 0u) << "variant " << variant << ": " << describe(e);
      EXPECT_FALSE(e.target.empty());
      EXPECT_TRUE(views_.title || e.view != search::View::kTitle);
      EXPECT_TRUE(views_.body || e.view != search::View::kBody);
      EXPECT_TRUE(views_.pseudo_queries || e.view != search::View::kPseudoQuery);
      ++checked;
    }
    EXPECT_GT(checked, 0u) << "variant " << variant;
  }
}

TEST_F(Stage1Examples, UnsupervisedSpansStartAtContentWordsAndMayOverlapTheSource) {
  Corpus corpus;
  corpus.add({"nato", "Alphabet",
              "alpha and bravo of the charlie delta, echo foxtrot (golf) hotel india juliett "
              "kilo lima mike november oscar papa quebec romeo sierra tango uniform victor "
              "whiskey xray yankee zulu"});
  Stage1Inputs in = inputs();
  in.corpus = &corpus;
  eval::Qrels none;
  in.qrels = &none;
  const std::vector<TokenId> text = encode(" " + corpus[0].text);
  const std::vector<TokenId> body =
      index::passage_segments(*tokenizer_, views_, markers(), corpus[0].title, corpus[0].text, {})
          .front();
  std::set<size_t> content_starts;
  for (const text::TokenWord& w : text::TokenWords(*tokenizer_).words(body))
    if (w.content) content_starts.insert(w.position);
  Stage1Options options;
  options.source_length = 10;
  size_t overlapping = 0;
  std::set<size_t> used;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    in.seed = seed;
    const auto examples = make_stage1_examples(in, options);
    ASSERT_EQ(examples.size(), 4u);  // 1 title + 3 spans
    size_t source_at = 0;
    ASSERT_TRUE(contains(body, examples[0].source, &source_at));
    EXPECT_TRUE(contains(text, examples[0].source));
    EXPECT_EQ(examples[0].source.size(), 10u);
    std::set<size_t> starts;
    for (const Stage1Example& e : examples) {
      EXPECT_FALSE(e.supervised);
      EXPECT_EQ(e.source_id, "nato");
      EXPECT_EQ(e.source, examples[0].source);
      if (e.view != search::View::kBody) continue;
      size_t at = 0;
      ASSERT_TRUE(contains(body, e.target, &at));  // each span occurs once in this body
      EXPECT_EQ(content_starts.count(at), 1u)
          << "seed " << seed << ": span '" << tokenizer_->decode(e.target) << "' at " << at;
      starts.insert(at);
      used.insert(at);
      if (at < source_at + e.source.size() && source_at < at + e.target.size()) ++overlapping;
    }
    EXPECT_EQ(starts.size(), 3u) << "seed " << seed;  // distinct starts
  }
  EXPECT_GT(overlapping, 0u);      // chosen without regard to the source
  EXPECT_GT(used.size(), 3u * 3);  // spread over the passage by the seed
}

TEST_F(Stage1Examples, InvalidOptionsAreConfigErrors) {
  Stage1Options options;
  options.spans_per_query = -1;
  test::expect_error<ConfigError>([&] { make_stage1_examples(inputs(), options); },
                                  {"spans_per_query", "-1"});
  options = Stage1Options{};
  options.span_length = 0;
  test::expect_error<ConfigError>([&] { make_stage1_examples(inputs(), options); },
                                  {"span_length"});
}

TEST_F(Stage1Examples, ProvenanceNamesTokenizerViewsAndOptions) {
  const auto attributes = stage1_provenance(inputs(), Stage1Options{});
  EXPECT_EQ(attributes.at("tokenizer_hash"), tokenizer_->hash());
  EXPECT_EQ(attributes.at("views"), "title,body,pseudo_queries");
  EXPECT_NE(attributes.at("stage1_options").find("spans_per_query=10"), std::string::npos);
  Stage1Inputs reseeded = inputs();
  reseeded.seed = 99;
  EXPECT_NE(stage1_provenance(reseeded, Stage1Options{}).at("stage1_options_hash"),
            attributes.at("stage1_options_hash"));
}

TEST_F(Stage1Examples, CranfieldTrainingSplit) {
  if (!std::filesystem::exists(shared("cranfield/corpus.jsonl"))) {
    GTEST_SKIP() << "Cranfield not found under " << DGR_SHARED_DATA_DIR;
  }
  const Corpus corpus = load_corpus(shared("cranfield/corpus.jsonl"));
  const Queries queries = load_queries(shared("cranfield/queries.jsonl"));
  const eval::Qrels qrels = read_qrels(shared("cranfield/qrels/train.tsv"));
  Stage1Inputs in;
  in.corpus = &corpus;
  in.queries = &queries;
  in.qrels = &qrels;
  in.tokenizer = tokenizer_.get();
  Stage1Stats stats;
  const auto examples = make_stage1_examples(in, Stage1Options{}, &stats);
  EXPECT_EQ(stats.queries_used, 150u);
  EXPECT_EQ(stats.queries_not_in_qrels, 75u);
  EXPECT_EQ(stats.queries_without_positive, 0u);
  EXPECT_EQ(stats.unknown_passages, 0u);
  EXPECT_EQ(stats.unknown_queries, 0u);
  // Exact counts from the data: 3 titles + 10 spans per (query, positive) pair, fewer for the
  // few passages without a title or text; 1 title + 3 spans per passage with text.
  size_t pairs = 0, titles = 0, bodies = 0;
  for (const auto& [query_id, judged] : qrels.by_query) {
    for (const auto& [passage_id, grade] : judged) {
      const Passage& p = corpus[*corpus.find(passage_id)];
      ++pairs;
      titles += p.title.empty() ? 0 : 3;
      bodies += p.title.empty() && p.text.empty() ? 0 : 10;
    }
  }
  EXPECT_EQ(pairs, 1078u);
  size_t with_text = 0, unsup_titles = 0;
  for (const Passage& p : corpus) {
    with_text += p.text.empty() ? 0 : 1;
    unsup_titles += !p.text.empty() && !p.title.empty() ? 1 : 0;
  }
  EXPECT_EQ(stats.passages_without_source, corpus.size() - with_text);
  EXPECT_LT(stats.passages_without_source, 10u);
  EXPECT_EQ(stats.supervised, titles + bodies);
  EXPECT_GT(stats.supervised, 1078u * 12);
  EXPECT_EQ(stats.per_view.at("title"), titles + unsup_titles);
  EXPECT_EQ(stats.per_view.at("body"), bodies + 3 * with_text);
  EXPECT_EQ(stats.per_view.at("pseudo_queries"), 0u);
  EXPECT_EQ(stats.supervised + stats.unsupervised, examples.size());

  const index::ViewMarkers m = index::encode_markers(*tokenizer_, in.views);
  std::vector<index::PassageSegments> passages;
  for (const Passage& p : corpus)
    passages.push_back(index::passage_segments(*tokenizer_, in.views, m, p.title, p.text, {}));
  const index::FmIndex index = index::FmIndex::build(passages);
  size_t missing = 0;
  for (const Stage1Example& e : examples) {
    std::vector<TokenId> key = e.prompt;
    key.insert(key.end(), e.target.begin(), e.target.end());
    if (index.count(key) == 0) ++missing;
    EXPECT_TRUE(e.view != search::View::kBody || e.target.size() <= 10u);
    EXPECT_LE(e.source.size(), 64u);
  }
  EXPECT_EQ(missing, 0u);

  // Where body spans start: every one at a token that begins a word (the vocabulary entry
  // starts with the space marker `Ġ`) whose word starts with a letter and is no stop word;
  // supervised ones at a word of the query where the passage has one.
  const text::TokenWords words(*tokenizer_);
  size_t supervised_bodies = 0, at_query_word = 0, unsupervised_bodies = 0, bad_starts = 0;
  for (const Stage1Example& e : examples) {
    if (e.view != search::View::kBody) continue;
    ASSERT_FALSE(e.target.empty());
    const std::string& first = tokenizer_->id_to_token(e.target[0]);
    const std::vector<text::TokenWord> target_words = words.words(e.target);
    const bool word_initial = first.rfind("\u0120", 0) == 0;  // "Ġ"
    const bool content = !target_words.empty() && target_words[0].position == 0 &&
                         target_words[0].content &&
                         !text::is_english_stop_word(target_words[0].text);
    if (!word_initial || !content) {
      if (bad_starts++ < 5) ADD_FAILURE() << "span starts badly: " << describe(e);
    }
    if (!e.supervised) {
      ++unsupervised_bodies;
      continue;
    }
    ++supervised_bodies;
    std::vector<std::string> query_words;
    for (const text::TokenWord& w : words.words(e.source))
      if (w.content) query_words.push_back(w.text);
    if (!target_words.empty() &&
        std::count(query_words.begin(), query_words.end(), target_words[0].text) > 0) {
      ++at_query_word;
    }
  }
  EXPECT_EQ(bad_starts, 0u);
  EXPECT_EQ(supervised_bodies, bodies);
  EXPECT_EQ(at_query_word, stats.supervised_spans_at_query_words);
  // 64.6% with the defaults (10 spans per pair; most pairs have fewer query-word starts).
  EXPECT_GT(static_cast<double>(at_query_word), 0.6 * static_cast<double>(supervised_bodies));
  std::cout << "[ cranfield ] body spans: " << supervised_bodies << " supervised, "
            << 100.0 * static_cast<double>(at_query_word) /
                   static_cast<double>(std::max<size_t>(1, supervised_bodies))
            << "% starting at a query word; " << unsupervised_bodies
            << " unsupervised; all at content words\n";

  // The store round trip on real data.
  const std::string path = test::test_dir() + "/cranfield-stage1.h5";
  write_stage1_examples(path, examples, stage1_provenance(in, Stage1Options{}));
  const Stage1ExampleFile file = Stage1ExampleFile::open(path);
  ASSERT_EQ(file.size(), examples.size());
  std::vector<uint64_t> rows(examples.size());
  for (uint64_t r = 0; r < rows.size(); ++r)
    rows[r] = r;
  EXPECT_EQ(describe(file.read(rows)), describe(examples));
  EXPECT_EQ(file.attributes().at("tokenizer_hash"), tokenizer_->hash());
  std::cout << "[ cranfield ] " << examples.size() << " examples (" << stats.supervised
            << " supervised); store " << std::filesystem::file_size(path) / 1024 << " KiB\n";
}

}  // namespace
}  // namespace dgr::data
