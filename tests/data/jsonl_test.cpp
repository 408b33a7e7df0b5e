#include "data/jsonl.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/util/error.h"

namespace dgr::data {
namespace {

namespace fs = std::filesystem;

// Each line of `lines` read as a one-line file, with scan_json_id and with the full parse.
class ScanJsonId : public ::testing::Test {
 protected:
  struct Outcome {
    std::string id;
    std::string error;
  };

  Outcome read(const std::string& line, bool scan) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const fs::path dir = fs::path(DGR_TEST_TMP_DIR) / "data" / info->name();
    fs::create_directories(dir);
    const std::string path = (dir / "lines.jsonl").string();
    std::ofstream(path, std::ios::binary) << line << "\n";
    LineReader reader(path);
    std::string text;
    EXPECT_TRUE(reader.next(text));
    try {
      return {scan ? scan_json_id(reader, text, "query_id", "query id")
                   : json_id(reader, parse_json_object(reader, text), "query_id", "query id"),
              ""};
    } catch (const DataError& e) {
      return {"", e.what()};
    }
  }
};

TEST_F(ScanJsonId, FindsTheTopLevelIdWhereverItIs) {
  EXPECT_EQ(read(R"({"query_id": "q1", "keys": [1, 2]})", true).id, "q1");
  EXPECT_EQ(read(R"({"keys": [{"query_id": "inner"}], "query_id": "q2"})", true).id, "q2");
  EXPECT_EQ(read(R"({"a": {"b": [[], {}]}, "query_id": 17})", true).id, "17");
}

// The scan stops at the id: what follows it is not read (the owner of the line parses it).
TEST_F(ScanJsonId, DoesNotReadPastTheId) {
  EXPECT_EQ(read(R"({"query_id": "q1", "keys": [{"view)", true).id, "q1");
  EXPECT_NE(read(R"({"query_id": "q1", "keys": [{"view)", false).error, "");
}

// A line the scan cannot take an id from gets the full parse's error, word for word.
TEST_F(ScanJsonId, ErrorsAreThoseOfTheFullParse) {
  for (const std::string line :
       {R"({"keys": [1, 2)", R"([1, 2])", R"("q1")", R"({"keys": []})", R"({"query_id": ["q1"]})",
        R"({"query_id": {"id": 1}})", R"({"query_id": null})", R"({"query_id": 1.5})",
        R"({"query_id": "has space"})", R"({"query_id": ""})"}) {
    const Outcome scanned = read(line, true);
    const Outcome parsed = read(line, false);
    EXPECT_NE(parsed.error, "") << line;
    EXPECT_EQ(scanned.error, parsed.error) << line;
    EXPECT_NE(scanned.error.find("lines.jsonl:1"), std::string::npos) << scanned.error;
  }
}

// A number beyond a double's range is valid JSON that the parser cannot hold: a DataError with
// file and line, like a syntax error, never an escaped exception (a fuzz finding).
TEST_F(ScanJsonId, ANumberBeyondADoublesRangeIsABadLine) {
  const Outcome parsed = read(R"({"query_id": "q1", "score": 80e4223})", false);
  EXPECT_NE(parsed.error.find("lines.jsonl:1"), std::string::npos) << parsed.error;
  EXPECT_NE(parsed.error.find("expected one JSON object per line"), std::string::npos)
      << parsed.error;
}

}  // namespace
}  // namespace dgr::data
