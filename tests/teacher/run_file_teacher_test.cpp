#include "teacher/run_file_teacher.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/util/error.h"

namespace dgr::teacher {
namespace {

namespace fs = std::filesystem;

std::string write_run(const std::string& content) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(DGR_TEST_TMP_DIR) / "teacher" /
                       (std::string(info->test_suite_name()) + "." + info->name());
  fs::create_directories(dir);
  const std::string path = (dir / "teacher.trec").string();
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::string message_of_data_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "exception of another type: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no DataError thrown";
  return "";
}

void expect_contains(const std::string& message, const std::vector<std::string>& parts) {
  for (const std::string& part : parts) {
    EXPECT_NE(message.find(part), std::string::npos)
        << "message: " << message << "\nexpected to contain: " << part;
  }
}

constexpr const char* kRun =
    "q1 Q0 a 1 12.5 ce\n"
    "q1 Q0 b 2 3.25 ce\n"
    "q1 Q0 c 3 -4 ce\n"
    "q2 Q0 a 1 0.5 ce\n";

TEST(RunFileTeacher, ReturnsTheRunScoreOfEachPairInRequestOrder) {
  const std::string path = write_run(kRun);
  RunFileTeacher teacher(path);
  EXPECT_EQ(teacher.name(), "run:" + path);
  EXPECT_EQ(teacher.num_queries(), 2u);
  EXPECT_EQ(teacher.score("q1", "query text", {"c", "a", "b"}),
            (std::vector<float>{-4.0f, 12.5f, 3.25f}));
  EXPECT_EQ(teacher.score("q2", "", {"a"}), (std::vector<float>{0.5f}));
  EXPECT_TRUE(teacher.score("q2", "", {}).empty());
}

TEST(RunFileTeacher, MissingPairIsDataErrorNamingRunQueryAndPassageByDefault) {
  const std::string path = write_run(kRun);
  RunFileTeacher teacher(path);
  const std::string message = message_of_data_error([&] { teacher.score("q2", "", {"a", "b"}); });
  expect_contains(message, {path, "'q2'", "'b'"});
}

TEST(RunFileTeacher, FillPolicyScoresMissingPairsOneBelowTheQueryMinimum) {
  RunFileTeacher teacher(write_run(kRun), {MissingPairPolicy::kFillBelowMinimum});
  EXPECT_EQ(teacher.score("q1", "", {"zz", "a", "yy"}), (std::vector<float>{-5.0f, 12.5f, -5.0f}));
  EXPECT_EQ(teacher.score("q2", "", {"b"}), (std::vector<float>{-0.5f}));
}

TEST(RunFileTeacher, FillStaysBelowTheMinimumForLargeScores) {
  RunFileTeacher teacher(write_run("q Q0 a 1 1e9 t\n"), {MissingPairPolicy::kFillBelowMinimum});
  const std::vector<float> scores = teacher.score("q", "", {"a", "missing"});
  EXPECT_LT(scores[1], scores[0]);
}

TEST(RunFileTeacher, QueryAbsentFromRunIsDataErrorUnderBothPolicies) {
  const std::string path = write_run(kRun);
  for (MissingPairPolicy policy :
       {MissingPairPolicy::kError, MissingPairPolicy::kFillBelowMinimum}) {
    RunFileTeacher teacher(path, {policy});
    expect_contains(message_of_data_error([&] { teacher.score("q9", "", {"a"}); }),
                    {path, "'q9'", "no entries"});
  }
}

TEST(RunFileTeacher, NonFiniteScoreInRunIsDataErrorWithFileAndLine) {
  const std::string nan = write_run("q Q0 a 1 1.0 t\nq Q0 b 2 NaN t\n");
  expect_contains(message_of_data_error([&] { RunFileTeacher teacher(nan); }),
                  {nan + ":2:", "non-finite score"});
  const std::string inf = write_run("q Q0 a 1 inf t\n");
  expect_contains(message_of_data_error([&] { RunFileTeacher teacher(inf); }),
                  {inf + ":1:", "non-finite score"});
}

TEST(RunFileTeacher, MissingRunFileIsIoError) {
  EXPECT_THROW(RunFileTeacher teacher(std::string(DGR_TEST_TMP_DIR) + "/no/such/run.trec"),
               IoError);
}

TEST(RunFileTeacher, WorksFromARunInMemory) {
  eval::Run run;
  run.by_query["q"] = {{"p1", 2.0, 1}, {"p2", 1.0, 2}};
  RunFileTeacher teacher(run, "memory", {MissingPairPolicy::kFillBelowMinimum});
  EXPECT_EQ(teacher.name(), "run:memory");
  EXPECT_EQ(teacher.score("q", "", {"p2", "p3"}), (std::vector<float>{1.0f, 0.0f}));
}

TEST(MissingPairPolicy, ParsesTheConfigSpelling) {
  EXPECT_EQ(parse_missing_pair_policy("error"), MissingPairPolicy::kError);
  EXPECT_EQ(parse_missing_pair_policy("fill"), MissingPairPolicy::kFillBelowMinimum);
  EXPECT_THROW(parse_missing_pair_policy("zero"), ConfigError);
}

}  // namespace
}  // namespace dgr::teacher
