#include "data/answers.h"

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

TEST(Answers, ReadsAnswerListsByQueryId) {
  const Answers answers =
      read_answers(write_file("answers.jsonl",
                              "{\"_id\": \"q1\", \"answers\": [\"Paris\", \"paris, France\"]}\n\n"
                              "{\"_id\": 2, \"answers\": [], \"question\": \"ignored\"}\n"));
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers.at("q1"), (std::vector<std::string>{"Paris", "paris, France"}));
  EXPECT_TRUE(answers.at("2").empty());
}

TEST(Answers, MissingOrWrongTypeAnswersIsDataError) {
  const std::string missing = write_file("m.jsonl", "{\"_id\": \"q\"}\n");
  expect_error<DataError>([&] { read_answers(missing); },
                          {missing + ":1:", "missing field 'answers'"});
  const std::string scalar = write_file("s.jsonl", "{\"_id\": \"q\", \"answers\": \"Paris\"}\n");
  expect_error<DataError>([&] { read_answers(scalar); },
                          {scalar + ":1:", "must be an array of strings, found string"});
  const std::string element = write_file("e.jsonl", "{\"_id\": \"q\", \"answers\": [\"a\", 3]}\n");
  expect_error<DataError>([&] { read_answers(element); }, {element + ":1:", "element 1 is number"});
}

TEST(Answers, DuplicateQueryIdIsDataErrorNamingBothLines) {
  const std::string path = write_file("a.jsonl",
                                      "{\"_id\": \"q\", \"answers\": [\"a\"]}\n"
                                      "{\"_id\": \"q\", \"answers\": [\"b\"]}\n");
  expect_error<DataError>([&] { read_answers(path); },
                          {path + ":2:", "duplicate id 'q'", "line 1"});
}

TEST(Answers, BadJsonAndEmptyFileAreDataErrors) {
  const std::string bad = write_file("b.jsonl", "{\"_id\": \"q\", \"answers\": [\"a\"\n");
  expect_error<DataError>([&] { read_answers(bad); }, {bad + ":1:", "bad JSON"});
  const std::string empty = write_file("empty.jsonl", "");
  expect_error<DataError>([&] { read_answers(empty); }, {empty + ": empty file, expected"});
}

TEST(PseudoQueries, ReadsListsPerPassage) {
  const std::string path =
      write_file("pq.jsonl",
                 "{\"_id\": \"p1\", \"pseudo_queries\": [\"what is a\", \"b\"]}\n"
                 "{\"_id\": 7, \"pseudo_queries\": []}\n");
  PseudoQueries pq = read_pseudo_queries(path);
  ASSERT_EQ(pq.size(), 2u);
  EXPECT_EQ(pq.at("p1"), (std::vector<std::string>{"what is a", "b"}));
  EXPECT_TRUE(pq.at("7").empty());
}

TEST(PseudoQueries, WrongFieldIsNamedWithLine) {
  const std::string path = write_file("pq.jsonl",
                                      "{\"_id\": \"p1\", \"pseudo_queries\": [\"a\"]}\n"
                                      "{\"_id\": \"p2\", \"queries\": [\"a\"]}\n");
  expect_error<DataError>([&] { read_pseudo_queries(path); },
                          {path + ":2:", "missing field 'pseudo_queries'"});
}

}  // namespace
}  // namespace dgr::data
