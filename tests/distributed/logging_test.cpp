// The rank prefix of log lines, and the per-rank log file.
#include "core/util/logging.h"

#include <glog/logging.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "core/util/error.h"

namespace dgr {
namespace {

std::tm time_of_day(int hour, int minute, int second) {
  std::tm t{};
  t.tm_hour = hour;
  t.tm_min = minute;
  t.tm_sec = second;
  return t;
}

TEST(LogPrefix, CarriesRankSeverityTimeAndPlace) {
  EXPECT_EQ(format_log_prefix(1, 2, 'I', time_of_day(18, 33, 1), 123456, "file.cpp", 42),
            "[r1/2 I 18:33:01.123 file.cpp:42]");
}

TEST(LogPrefix, PadsTimeFieldsWithZeros) {
  EXPECT_EQ(format_log_prefix(0, 16, 'W', time_of_day(3, 4, 5), 7000, "trainer.cpp", 7),
            "[r0/16 W 03:04:05.007 trainer.cpp:7]");
  EXPECT_EQ(format_log_prefix(12, 16, 'E', time_of_day(0, 0, 0), 999999, "a.cpp", 1),
            "[r12/16 E 00:00:00.999 a.cpp:1]");
}

TEST(InitLogging, UnwritableLogDirIsAnIoErrorNamingThePath) {
  // Runs before the test below initialises glog; once it is, init_logging does nothing.
  if (google::IsGoogleLoggingInitialized()) GTEST_SKIP() << "logging already initialised";
  const std::filesystem::path blocker =
      std::filesystem::path(DGR_TEST_TMP_DIR) / ("logging-blocker-" + std::to_string(::getpid()));
  std::ofstream(blocker) << "a file, not a directory";
  const std::string dir = (blocker / "logs").string();
  try {
    init_logging("dgr_util_progress_tests", 0, 1, dir, false);
    FAIL() << "no error for " << dir;
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(dir), std::string::npos) << e.what();
  }
  std::filesystem::remove(blocker);
}

TEST(InitLogging, WritesPrefixedLinesToStderrAndTheRankFile) {
  const std::filesystem::path dir =
      std::filesystem::path(DGR_TEST_TMP_DIR) / ("logging-" + std::to_string(::getpid())) / "logs";
  std::filesystem::remove_all(dir.parent_path());

  ::testing::internal::CaptureStderr();
  init_logging("dgr_util_progress_tests", 3, 4, dir.string(), false);
  LOG(INFO) << "hello from rank three";
  VLOG(1) << "only when verbose";
  LOG(WARNING) << "a warning";
  // A second call changes nothing and does not fail.
  init_logging("dgr_util_progress_tests", 0, 1, "", true);
  LOG(INFO) << "still rank three";
  google::FlushLogFiles(google::GLOG_INFO);
  const std::string err = ::testing::internal::GetCapturedStderr();

  const std::regex hello(
      R"(\[r3/4 I \d{2}:\d{2}:\d{2}\.\d{3} logging_test\.cpp:\d+\] hello from rank three\n)");
  const std::regex warning(
      R"(\[r3/4 W \d{2}:\d{2}:\d{2}\.\d{3} logging_test\.cpp:\d+\] a warning)");
  const std::regex still(R"(\[r3/4 I [^\]]+\] still rank three)");
  EXPECT_TRUE(std::regex_search(err, hello)) << err;
  EXPECT_TRUE(std::regex_search(err, warning)) << err;
  EXPECT_TRUE(std::regex_search(err, still)) << err;
  EXPECT_EQ(err.find("only when verbose"), std::string::npos) << err;

  const std::filesystem::path file = dir / "rank-3.log";
  ASSERT_TRUE(std::filesystem::exists(file));
  std::ifstream in(file);
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_TRUE(std::regex_search(content.str(), hello)) << content.str();
  EXPECT_TRUE(std::regex_search(content.str(), warning)) << content.str();
  // Everything goes to the one file per rank.
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1u);
  if (!HasFailure()) std::filesystem::remove_all(dir.parent_path());
}

}  // namespace
}  // namespace dgr
