#include "data/line_reader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/util/error.h"

namespace dgr::data {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, so that tests may run in parallel.
std::string test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(DGR_TEST_TMP_DIR) / "data" /
                       (std::string(info->test_suite_name()) + "." + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string write_file(const std::string& name, const std::string& content) {
  const std::string path = test_dir() + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::vector<std::string> read_all(LineReader& reader, std::vector<int64_t>* numbers = nullptr) {
  std::vector<std::string> lines;
  std::string line;
  while (reader.next(line)) {
    lines.push_back(line);
    if (numbers) numbers->push_back(reader.line_number());
  }
  return lines;
}

TEST(LineReader, ReturnsLinesWithOneBasedNumbers) {
  LineReader reader(write_file("a.txt", "first\nsecond\n\nfourth"));
  EXPECT_EQ(reader.line_number(), 0);
  std::vector<int64_t> numbers;
  EXPECT_EQ(read_all(reader, &numbers),
            (std::vector<std::string>{"first", "second", "", "fourth"}));
  EXPECT_EQ(numbers, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_FALSE(reader.empty_file());
}

TEST(LineReader, StripsTrailingCarriageReturnAndByteOrderMark) {
  LineReader reader(write_file("crlf.txt", "\xEF\xBB\xBFone\r\ntwo\r\n"));
  EXPECT_EQ(read_all(reader), (std::vector<std::string>{"one", "two"}));
}

TEST(LineReader, DetectsEmptyFile) {
  LineReader reader(write_file("empty.txt", ""));
  EXPECT_TRUE(reader.empty_file());
  std::string line;
  EXPECT_FALSE(reader.next(line));
}

TEST(LineReader, MissingFileIsIoErrorNamingThePath) {
  const std::string path = test_dir() + "/does-not-exist.jsonl";
  try {
    LineReader reader(path);
    FAIL() << "no exception";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(LineReader, DirectoryIsIoError) {
  EXPECT_THROW(LineReader reader(test_dir()), IoError);
}

TEST(LineReader, InvalidUtf8IsDataErrorWithLineAndByteColumn) {
  const std::string path = write_file("bad.txt", "ok\nab\xC3(\n");
  LineReader reader(path);
  std::string line;
  ASSERT_TRUE(reader.next(line));
  try {
    reader.next(line);
    FAIL() << "no exception";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":2: invalid UTF-8 at byte column 3"),
              std::string::npos)
        << e.what();
  }
}

TEST(LineReader, Utf8ValidationCanBeTurnedOff) {
  LineReader reader(write_file("raw.bin", "\xFF\xFE\n"));
  reader.set_validate_utf8(false);
  EXPECT_EQ(read_all(reader), (std::vector<std::string>{"\xFF\xFE"}));
}

TEST(LineReader, StreamsLinesLongerThanItsBuffer) {
  const std::string long_line(3 << 20, 'x');
  LineReader reader(write_file("long.txt", long_line + "\nshort\n"));
  const auto lines = read_all(reader);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].size(), long_line.size());
  EXPECT_EQ(lines[1], "short");
}

TEST(LineReader, BlankMeansEmptyOrOnlySpacesAndTabs) {
  EXPECT_TRUE(is_blank(""));
  EXPECT_TRUE(is_blank(" \t "));
  EXPECT_FALSE(is_blank(" x "));
}

}  // namespace
}  // namespace dgr::data
