#include "data/beir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "tests/data/test_files.h"

namespace dgr::data {
namespace {

namespace fs = std::filesystem;

using test::expect_error;
using test::test_dir;
using test::write_file;

TEST(BeirCorpus, ReadsPassagesInFileOrderWithMissingTitleAsEmpty) {
  const std::string path =
      write_file("corpus.jsonl",
                 "{\"_id\": \"d2\", \"title\": \"Two\", \"text\": \"second\"}\n"
                 "{\"_id\": \"d1\", \"text\": \"first\", \"metadata\": {}}\n"
                 "{\"_id\": \"d3\", \"title\": null, \"text\": \"\"}\n");
  const Corpus corpus = read_beir_corpus(path);
  ASSERT_EQ(corpus.size(), 3u);
  EXPECT_EQ(corpus[0].id, "d2");
  EXPECT_EQ(corpus[0].title, "Two");
  EXPECT_EQ(corpus[1].title, "");
  EXPECT_EQ(corpus[1].text, "first");
  EXPECT_EQ(corpus[2].text, "");
  EXPECT_EQ(corpus.find("d1"), 1u);
}

TEST(BeirCorpus, AcceptsIntegerIdsAsTheirDecimalText) {
  const Corpus corpus = read_beir_corpus(write_file("c.jsonl", "{\"_id\": 42, \"text\": \"x\"}\n"));
  EXPECT_EQ(corpus[0].id, "42");
}

TEST(BeirCorpus, SkipsBlankLinesAndKeepsFileLineNumbers) {
  const std::string path = write_file("c.jsonl",
                                      "\n{\"_id\": \"a\", \"text\": \"x\"}\n  \n"
                                      "{\"_id\": \"b\", \"text\": \"y\"}\r\n\n");
  std::vector<int64_t> lines;
  for_each_beir_passage(path, [&](Passage&&, int64_t line) { lines.push_back(line); });
  EXPECT_EQ(lines, (std::vector<int64_t>{2, 4}));
}

TEST(BeirCorpus, AcceptsMultiByteAndC1ControlText) {
  const Corpus corpus = read_beir_corpus(write_file(
      "c.jsonl", "{\"_id\": \"m\", \"text\": \"it\xC3\xA2\xC2\x80\xC2\x99s caf\xC3\xA9\"}\n"));
  EXPECT_EQ(corpus[0].text, "it\xC3\xA2\xC2\x80\xC2\x99s caf\xC3\xA9");
}

TEST(BeirCorpus, BadJsonIsDataErrorWithFileAndLine) {
  const std::string path =
      write_file("c.jsonl", "{\"_id\": \"a\", \"text\": \"x\"}\n{\"_id\": \"b\", \"text\": }\n");
  expect_error<DataError>([&] { read_beir_corpus(path); },
                          {path + ":2:", "bad JSON", "one JSON object per line"});
}

TEST(BeirCorpus, NonObjectLineIsDataError) {
  const std::string path = write_file("c.jsonl", "[1, 2]\n");
  expect_error<DataError>([&] { read_beir_corpus(path); },
                          {path + ":1:", "expected a JSON object, found array"});
}

TEST(BeirCorpus, MissingIdIsDataError) {
  const std::string path = write_file("c.jsonl", "{\"title\": \"t\", \"text\": \"x\"}\n");
  expect_error<DataError>([&] { read_beir_corpus(path); }, {path + ":1:", "missing field '_id'"});
}

TEST(BeirCorpus, NonStringIdIsDataError) {
  const std::string path = write_file("c.jsonl", "{\"_id\": 1.5, \"text\": \"x\"}\n");
  expect_error<DataError>([&] { read_beir_corpus(path); },
                          {path + ":1:", "'_id' must be a string (or an integer), found number"});
}

TEST(BeirCorpus, IdWithWhitespaceOrEmptyIsDataError) {
  const std::string spaced = write_file("s.jsonl", "{\"_id\": \"a b\", \"text\": \"x\"}\n");
  expect_error<DataError>([&] { read_beir_corpus(spaced); }, {spaced + ":1:", "whitespace"});
  const std::string empty = write_file("e.jsonl", "{\"_id\": \"\", \"text\": \"x\"}\n");
  expect_error<DataError>([&] { read_beir_corpus(empty); }, {empty + ":1:", "empty passage id"});
}

TEST(BeirCorpus, MissingTextIsDataError) {
  const std::string path = write_file("c.jsonl", "{\"_id\": \"a\", \"title\": \"t\"}\n");
  expect_error<DataError>([&] { read_beir_corpus(path); }, {path + ":1:", "missing field 'text'"});
}

TEST(BeirCorpus, WrongTypeTitleOrTextIsDataError) {
  const std::string title =
      write_file("t.jsonl", "{\"_id\": \"a\", \"title\": 3, \"text\": \"x\"}\n");
  expect_error<DataError>([&] { read_beir_corpus(title); },
                          {title + ":1:", "'title' must be a string, found number"});
  const std::string text = write_file("x.jsonl", "{\"_id\": \"a\", \"text\": null}\n");
  expect_error<DataError>([&] { read_beir_corpus(text); },
                          {text + ":1:", "'text' must be a string, found null"});
}

TEST(BeirCorpus, DuplicateIdNamesBothLines) {
  const std::string path = write_file("c.jsonl",
                                      "{\"_id\": \"a\", \"text\": \"x\"}\n"
                                      "{\"_id\": \"b\", \"text\": \"y\"}\n"
                                      "{\"_id\": \"a\", \"text\": \"z\"}\n");
  expect_error<DataError>([&] { read_beir_corpus(path); },
                          {path + ":3:", "duplicate passage id 'a'", "line 1"});
}

TEST(BeirCorpus, InvalidUtf8IsDataErrorWithByteColumn) {
  const std::string path = write_file("c.jsonl", "{\"_id\": \"a\", \"text\": \"x\xED\xA0\x80\"}\n");
  expect_error<DataError>([&] { read_beir_corpus(path); },
                          {path + ":1:", "invalid UTF-8 at byte column 24"});
}

TEST(BeirCorpus, EmptyFileIsDataError) {
  const std::string path = write_file("c.jsonl", "");
  expect_error<DataError>([&] { read_beir_corpus(path); },
                          {path + ": empty file, expected", "\"_id\""});
  const std::string blank = write_file("blank.jsonl", "\n \n");
  expect_error<DataError>([&] { read_beir_corpus(blank); }, {blank + ": no records"});
}

TEST(BeirCorpus, MissingFileIsIoErrorNamingThePath) {
  const std::string path = test_dir() + "/nope/corpus.jsonl";
  expect_error<IoError>([&] { read_beir_corpus(path); }, {path});
}

TEST(BeirQueries, ReadsQueriesIgnoringExtraFields) {
  const Queries queries =
      read_beir_queries(write_file("q.jsonl",
                                   "{\"_id\": \"q1\", \"text\": \"what is x\", \"metadata\": "
                                   "{\"a\": 1}}\n{\"_id\": 7, \"text\": \"y\"}\n"));
  ASSERT_EQ(queries.size(), 2u);
  EXPECT_EQ(queries[0].text, "what is x");
  EXPECT_EQ(queries[1].id, "7");
}

TEST(BeirQueries, DuplicateAndMalformedQueriesAreDataErrors) {
  const std::string dup = write_file("d.jsonl",
                                     "{\"_id\": \"q\", \"text\": \"a\"}\n"
                                     "{\"_id\": \"q\", \"text\": \"b\"}\n");
  expect_error<DataError>([&] { read_beir_queries(dup); },
                          {dup + ":2:", "duplicate query id 'q'", "line 1"});
  const std::string no_text = write_file("n.jsonl", "{\"_id\": \"q\"}\n");
  expect_error<DataError>([&] { read_beir_queries(no_text); },
                          {no_text + ":1:", "missing field 'text'"});
  const std::string empty = write_file("e.jsonl", "");
  expect_error<DataError>([&] { read_beir_queries(empty); }, {empty + ": empty file"});
}

TEST(BeirQrels, ReadsJudgmentsAfterTheHeader) {
  const eval::Qrels qrels = read_beir_qrels(write_file(
      "qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq2\td1\t-1\n"));
  EXPECT_EQ(qrels.size(), 3u);
  EXPECT_EQ(qrels.grade("q1", "d1"), 2);
  EXPECT_EQ(qrels.grade("q1", "d2", 99), 0);
  EXPECT_EQ(qrels.grade("q2", "d1"), -1);
}

TEST(BeirQrels, MissingHeaderIsDataError) {
  const std::string path = write_file("q.tsv", "q1\td1\t1\n");
  expect_error<DataError>([&] { read_beir_qrels(path); },
                          {path + ":1:", "expected the BEIR qrels header"});
}

TEST(BeirQrels, WrongColumnCountIsDataError) {
  const std::string path = write_file("q.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1 d2 1\n");
  expect_error<DataError>([&] { read_beir_qrels(path); },
                          {path + ":3:", "expected 3 tab-separated columns", "found 1"});
}

TEST(BeirQrels, NonIntegerGradeIsDataError) {
  const std::string path = write_file("q.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1.5\n");
  expect_error<DataError>([&] { read_beir_qrels(path); },
                          {path + ":2:", "non-integer score '1.5'"});
}

TEST(BeirQrels, DuplicatePairIsDataErrorNamingBothLines) {
  const std::string path =
      write_file("q.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t1\nq1\td1\t2\n");
  expect_error<DataError>([&] { read_beir_qrels(path); },
                          {path + ":4:", "duplicate judgment", "'q1'", "'d1'", "first at line 2"});
}

TEST(BeirQrels, EmptyOrHeaderOnlyFileIsDataError) {
  const std::string empty = write_file("e.tsv", "");
  expect_error<DataError>([&] { read_beir_qrels(empty); }, {empty + ": empty file, expected"});
  const std::string header = write_file("h.tsv", "query-id\tcorpus-id\tscore\n");
  expect_error<DataError>([&] { read_beir_qrels(header); },
                          {header + ": no records after the header"});
}

}  // namespace
}  // namespace dgr::data
