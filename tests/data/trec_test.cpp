#include "data/trec.h"

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

TEST(TrecQrels, ReadsFourWhitespaceSeparatedColumns) {
  const eval::Qrels qrels =
      read_trec_qrels(write_file("qrels.txt", "19335 0 1017759 0\n19335\tQ0\t1082489  3\n\n"));
  EXPECT_EQ(qrels.size(), 2u);
  EXPECT_EQ(qrels.grade("19335", "1082489"), 3);
  EXPECT_EQ(qrels.grade("19335", "1017759", 99), 0);
}

TEST(TrecQrels, WrongColumnCountIsDataError) {
  const std::string path = write_file("qrels.txt", "1 0 d1 1\n1 0 d2\n");
  expect_error<DataError>([&] { read_trec_qrels(path); },
                          {path + ":2:", "expected 4 whitespace-separated columns", "found 3"});
}

TEST(TrecQrels, NonIntegerGradeIsDataError) {
  const std::string path = write_file("qrels.txt", "1 0 d1 high\n");
  expect_error<DataError>([&] { read_trec_qrels(path); },
                          {path + ":1:", "non-integer relevance 'high'"});
}

TEST(TrecQrels, DuplicatePairIsDataErrorNamingBothLines) {
  const std::string path = write_file("qrels.txt", "1 0 d1 1\n2 0 d1 1\n1 0 d1 0\n");
  expect_error<DataError>([&] { read_trec_qrels(path); },
                          {path + ":3:", "duplicate judgment", "first at line 1"});
}

TEST(TrecQrels, EmptyFileIsDataError) {
  const std::string path = write_file("qrels.txt", "");
  expect_error<DataError>([&] { read_trec_qrels(path); },
                          {path + ": empty file, expected TREC qrels"});
}

TEST(TrecRun, KeepsEntriesInFileOrderWithoutResorting) {
  const eval::Run run = read_trec_run(write_file("run.trec",
                                                 "q1 Q0 d3 1 1.5 mytag\n"
                                                 "q2 Q0 d1 1 9 mytag\n"
                                                 "q1 Q0 d1 2 7.25 mytag\n"
                                                 "q1\tQ0\td2\t3\t-2e-1\tmytag\n"));
  EXPECT_EQ(run.tag, "mytag");
  EXPECT_EQ(run.size(), 4u);
  const auto& q1 = run.by_query.at("q1");
  ASSERT_EQ(q1.size(), 3u);
  EXPECT_EQ(q1[0].passage_id, "d3");
  EXPECT_EQ(q1[1].passage_id, "d1");
  EXPECT_DOUBLE_EQ(q1[1].score, 7.25);
  EXPECT_EQ(q1[1].rank, 2);
  EXPECT_DOUBLE_EQ(q1[2].score, -0.2);
}

TEST(TrecRun, StreamsLinesWithTheirNumbers) {
  const std::string path = write_file("run.trec", "q Q0 a 1 2 t\n\nq Q0 b 2 1 t\n");
  std::vector<int64_t> lines;
  std::vector<std::string> passages;
  for_each_trec_run_line(path, [&](TrecRunLine&& entry, int64_t line) {
    lines.push_back(line);
    passages.push_back(entry.passage_id);
  });
  EXPECT_EQ(lines, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(passages, (std::vector<std::string>{"a", "b"}));
}

TEST(TrecRun, WrongColumnCountIsDataError) {
  const std::string path = write_file("run.trec", "q Q0 a 1 2 t\nq Q0 b 2 1\n");
  expect_error<DataError>([&] { read_trec_run(path); },
                          {path + ":2:", "expected 6 whitespace-separated columns", "found 5"});
}

TEST(TrecRun, NonNumericScoreIsDataError) {
  const std::string path = write_file("run.trec", "q Q0 a 1 high t\n");
  expect_error<DataError>([&] { read_trec_run(path); }, {path + ":1:", "non-numeric score 'high'"});
}

TEST(TrecRun, NonFiniteScoreIsDataError) {
  const std::string nan = write_file("nan.trec", "q Q0 a 1 1.0 t\nq Q0 b 2 nan t\n");
  expect_error<DataError>([&] { read_trec_run(nan); }, {nan + ":2:", "non-finite score 'nan'"});
  const std::string inf = write_file("inf.trec", "q Q0 a 1 -inf t\n");
  expect_error<DataError>([&] { read_trec_run(inf); }, {inf + ":1:", "non-finite score"});
  const std::string huge = write_file("huge.trec", "q Q0 a 1 1e999 t\n");
  expect_error<DataError>([&] { read_trec_run(huge); }, {huge + ":1:", "score '1e999'"});
}

TEST(TrecRun, NonIntegerRankIsDataError) {
  const std::string path = write_file("run.trec", "q Q0 a first 1.0 t\n");
  expect_error<DataError>([&] { read_trec_run(path); }, {path + ":1:", "non-integer rank"});
}

TEST(TrecRun, DuplicatePairIsDataErrorNamingBothLines) {
  const std::string path = write_file("run.trec", "q Q0 a 1 3 t\nq Q0 b 2 2 t\nq Q0 a 3 1 t\n");
  expect_error<DataError>([&] { read_trec_run(path); },
                          {path + ":3:", "duplicate entry", "'a'", "first at line 1"});
}

TEST(TrecRun, EmptyAndMissingFiles) {
  const std::string empty = write_file("run.trec", "");
  expect_error<DataError>([&] { read_trec_run(empty); }, {empty + ": empty file, expected"});
  const std::string missing = test_dir() + "/missing.trec";
  expect_error<IoError>([&] { read_trec_run(missing); }, {missing});
}

}  // namespace
}  // namespace dgr::data
