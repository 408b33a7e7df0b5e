// Answer-string matching (DPR-style hits@k for NQ / TriviaQA): whole tokens, case and
// punctuation ignored, contiguous and in order.
#include "core/eval/answer_match.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/eval/metrics.h"
#include "core/util/error.h"

namespace dgr::eval {
namespace {

constexpr double kEps = 1e-9;

const std::map<std::string, std::string>& corpus() {
  static const std::map<std::string, std::string> texts{
      {"cat", "The Cat sat on the mat."},
      {"category", "A category of things, categorically."},
      {"usa", "He was born in the U.S.A., he said"},
      {"zola", "\xC3\x89mile Zola\xE2\x80\x99s novel (1885)"},  // "Émile Zola’s novel (1885)"
      {"range",
       "open 1990\xE2\x80\x93"
       "1995 only"},  // "1990–1995" with an en dash
  };
  return texts;
}

AnswerMatcher make_matcher(const std::map<std::string, std::vector<std::string>>& answers) {
  return AnswerMatcher(answers, [](const std::string& id) -> const std::string* {
    auto it = corpus().find(id);
    return it == corpus().end() ? nullptr : &it->second;
  });
}

TEST(AnswerMatch, TokenizeLowercasesAndSplitsOnPunctuation) {
  EXPECT_EQ(AnswerMatcher::tokenize("Hello, World!  It's 3.5\tX"),
            (std::vector<std::string>{"hello", "world", "it", "s", "3", "5", "x"}));
  // Latin-1 capitals are lower-cased; the right single quote U+2019 separates.
  EXPECT_EQ(AnswerMatcher::tokenize("\xC3\x89MILE Zola\xE2\x80\x99s"),
            (std::vector<std::string>{"\xC3\xA9mile", "zola", "s"}));
  EXPECT_TRUE(AnswerMatcher::tokenize(" ...!? ").empty());
}

TEST(AnswerMatch, CaseAndPunctuationAreIgnored) {
  const AnswerMatcher m =
      make_matcher({{"q", {"cat"}}, {"us", {"U.S.A."}}, {"z", {"emile", "ZOLA"}}});
  EXPECT_TRUE(m.has_answer("q", "cat"));   // "Cat" in the text
  EXPECT_TRUE(m.has_answer("us", "usa"));  // u s a in "the U.S.A., he"
  EXPECT_TRUE(m.has_answer("z", "zola"));  // second answer matches "Zola’s"
  EXPECT_FALSE(m.has_answer("us", "cat"));
}

TEST(AnswerMatch, PartialTokenDoesNotMatch) {
  const AnswerMatcher m = make_matcher({{"q", {"cat"}}, {"r", {"1990"}}});
  EXPECT_FALSE(m.has_answer("q", "category"));  // "category", "categorically" are not "cat"
  EXPECT_TRUE(m.has_answer("r", "range"));      // the en dash separates 1990 from 1995
}

TEST(AnswerMatch, MultiTokenAnswersMustBeContiguousAndInOrder) {
  const AnswerMatcher m =
      make_matcher({{"in_order", {"the mat"}}, {"reversed", {"mat the"}}, {"gap", {"cat on"}}});
  EXPECT_TRUE(m.has_answer("in_order", "cat"));
  EXPECT_FALSE(m.has_answer("reversed", "cat"));
  EXPECT_FALSE(m.has_answer("gap", "cat"));  // "cat sat on": not contiguous
}

TEST(AnswerMatch, QueriesWithoutUsableAnswers) {
  const AnswerMatcher m = make_matcher({{"empty", {}}, {"punct", {"..."}}, {"q", {"cat"}}});
  EXPECT_FALSE(m.has_answers("empty"));
  EXPECT_FALSE(m.has_answers("punct"));  // no token: would match everything, so dropped
  EXPECT_FALSE(m.has_answer("punct", "cat"));
  EXPECT_FALSE(m.has_answer("unknown", "cat"));
  EXPECT_EQ(m.queries(), std::vector<std::string>{"q"});
}

TEST(AnswerMatch, PassageWithoutTextIsADataError) {
  const AnswerMatcher m = make_matcher({{"q", {"cat"}}});
  EXPECT_THROW(m.has_answer("q", "no-such-passage"), DataError);
}

TEST(AnswerMatch, EvaluateReportsHitsAtKByAnswer) {
  const AnswerMatcher m = make_matcher({{"q1", {"cat"}}, {"q2", {"zola"}}});
  eval::Run run;
  // q1: "category" (0.9, no answer) then "cat" (0.8, answer): first answer at rank 2.
  run.by_query["q1"] = {{"category", 0.9, 1}, {"cat", 0.8, 2}};
  // q2 has no entry: 0 everywhere.
  MetricOptions options;
  options.hits_at = {1, 2};
  const MetricReport report = evaluate(Qrels{}, run, options, &m);
  EXPECT_TRUE(report.answer_match);
  EXPECT_NEAR(report.per_query.at("q1").at("hits@1(answer)"), 0.0, kEps);
  EXPECT_NEAR(report.per_query.at("q1").at("hits@2(answer)"), 1.0, kEps);
  EXPECT_NEAR(report.per_query.at("q2").at("hits@2(answer)"), 0.0, kEps);
  // No qrels: only the answer metrics; means over q1 and q2: (0 + 0) / 2 and (1 + 0) / 2.
  EXPECT_EQ(report.per_query.at("q1").size(), 2u);
  EXPECT_NEAR(report.mean.at("hits@1(answer)"), 0.0, kEps);
  EXPECT_NEAR(report.mean.at("hits@2(answer)"), 0.5, kEps);
  EXPECT_EQ(report.queries_per_metric.at("hits@2(answer)"), 2u);
  EXPECT_EQ(report.queries_per_metric.at("hits@2"), 0u);  // no judged query
  EXPECT_EQ(report.counts.queries_with_answers, 2u);
  EXPECT_EQ(report.counts.queries_missing_from_run, 1u);
  EXPECT_EQ(report.evaluated_queries, (std::vector<std::string>{"q1", "q2"}));
}

TEST(AnswerMatch, EvaluateCombinesQrelsAndAnswerMetrics) {
  const AnswerMatcher m = make_matcher({{"q1", {"cat"}}});
  Qrels qrels;
  qrels.by_query["q1"] = {{"category", 1}};
  eval::Run run;
  run.by_query["q1"] = {{"category", 0.9, 1}, {"cat", 0.8, 2}};
  MetricOptions options;
  options.hits_at = {1};
  const MetricReport report = evaluate(qrels, run, options, &m);
  // By qrels the relevant passage is at rank 1; by answer the first match is at rank 2.
  EXPECT_NEAR(report.per_query.at("q1").at("hits@1"), 1.0, kEps);
  EXPECT_NEAR(report.per_query.at("q1").at("hits@1(answer)"), 0.0, kEps);
}

}  // namespace
}  // namespace dgr::eval
