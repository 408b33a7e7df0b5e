#include "data/corpus.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "core/util/error.h"

namespace dgr::data {
namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no DataError thrown";
  return "";
}

TEST(Corpus, IndicesFollowInsertionOrder) {
  Corpus corpus;
  corpus.add({"d7", "T", "seven"}, "c.jsonl", 1);
  corpus.add({"d3", "", "three"}, "c.jsonl", 2);
  ASSERT_EQ(corpus.size(), 2u);
  EXPECT_EQ(corpus[0].id, "d7");
  EXPECT_EQ(corpus[1].text, "three");
  EXPECT_EQ(corpus.find("d3"), 1u);
  EXPECT_EQ(corpus.find("d4"), std::nullopt);
  EXPECT_EQ(corpus.index_of("d7", "test"), 0u);
}

TEST(Corpus, UnknownIdNamesTheIdAndTheContext) {
  Corpus corpus;
  corpus.add({"a", "", ""});
  const std::string message = message_of([&] { corpus.index_of("zz", "qrels/test.tsv:4"); });
  EXPECT_EQ(message, "unknown passage id 'zz' (qrels/test.tsv:4)");
}

TEST(Corpus, DuplicateIdNamesBothLines) {
  Corpus corpus;
  corpus.add({"a", "", "x"}, "corpus.jsonl", 3);
  const std::string message = message_of([&] { corpus.add({"a", "", "y"}, "corpus.jsonl", 9); });
  EXPECT_EQ(message, "corpus.jsonl:9: duplicate passage id 'a' (first defined at line 3)");
  EXPECT_EQ(corpus.size(), 1u);
}

TEST(Corpus, DuplicateAcrossFilesNamesTheFirstFile) {
  Corpus corpus;
  corpus.add({"a", "", "x"}, "one.tsv", 2);
  corpus.add({"b", "", "x"}, "two.tsv", 1);
  const std::string message = message_of([&] { corpus.add({"a", "", "y"}, "two.tsv", 5); });
  EXPECT_EQ(message, "two.tsv:5: duplicate passage id 'a' (first defined at one.tsv:2)");
}

TEST(Queries, SameIdFacilitiesAsCorpus) {
  Queries queries;
  queries.add({"q1", "what"}, "queries.jsonl", 1);
  queries.add({"q2", "who"}, "queries.jsonl", 2);
  EXPECT_EQ(queries.find("q2"), 1u);
  EXPECT_EQ(queries[0].text, "what");
  EXPECT_EQ(message_of([&] { queries.index_of("q9", "run"); }), "unknown query id 'q9' (run)");
  EXPECT_EQ(message_of([&] {
              queries.add({"q1", "again"}, "queries.jsonl", 7);
            }),
            "queries.jsonl:7: duplicate query id 'q1' (first defined at line 1)");
}

}  // namespace
}  // namespace dgr::data
