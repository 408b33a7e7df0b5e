// Writing TREC run files: exact layout, ranks from the stored order, scores that read back to the
// same double, atomic replacement and errors naming the path.
#include "core/eval/run_io.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "core/util/error.h"

namespace dgr::eval {
namespace {

std::string tmp_path(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(DGR_TEST_TMP_DIR) / "eval";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST(RunIo, WritesTrecLinesInMapOrderWithStoredRanks) {
  eval::Run run;
  run.tag = "bm25";
  // Stored order is kept (not re-sorted); the rank field of the entries is rewritten 1..n.
  run.by_query["q2"] = {{"d9", 0.5, 7}, {"d1", 1.5, 3}};
  run.by_query["q10"] = {{"d3", -2.25, 1}};
  run.by_query["q3"] = {};  // writes nothing
  const std::string path = tmp_path("layout.trec");
  write_trec_run(path, run);
  // std::map order: "q10" < "q2" < "q3".
  EXPECT_EQ(slurp(path),
            "q10 Q0 d3 1 -2.25 bm25\n"
            "q2 Q0 d9 1 0.5 bm25\n"
            "q2 Q0 d1 2 1.5 bm25\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
}

TEST(RunIo, WritesQueriesInTheGivenOrderThenTheRest) {
  eval::Run run;
  run.by_query["q2"] = {{"d9", 0.5, 0}};
  run.by_query["q10"] = {{"d3", 1.0, 0}};
  run.by_query["q3"] = {{"d4", 2.0, 0}};
  const std::string path = tmp_path("ordered.trec");
  // Unknown and repeated ids in the order are ignored; unlisted queries follow in map order.
  write_trec_run(path, run, {"q3", "zz", "q2", "q3"});
  EXPECT_EQ(slurp(path),
            "q3 Q0 d4 1 2 dgr\n"
            "q2 Q0 d9 1 0.5 dgr\n"
            "q10 Q0 d3 1 1 dgr\n");
}

TEST(RunIo, ScoresReadBackAsTheSameDouble) {
  const double scores[] = {1.0 / 3.0, 0.1, -1e-300, 123456789.123456789, 0.1f, 2.0 / 3.0 * 1e20};
  eval::Run run;
  for (double s : scores)
    run.by_query["q"].push_back({"d" + std::to_string(run.size()), s, 0});
  const std::string path = tmp_path("round_trip.trec");
  write_trec_run(path, run);
  std::ifstream in(path);
  std::string qid, q0, docid, rank, score, tag;
  size_t i = 0;
  while (in >> qid >> q0 >> docid >> rank >> score >> tag) {
    ASSERT_LT(i, std::size(scores));
    EXPECT_EQ(std::strtod(score.c_str(), nullptr), scores[i]) << score;
    EXPECT_EQ(rank, std::to_string(i + 1));
    ++i;
  }
  EXPECT_EQ(i, std::size(scores));
}

TEST(RunIo, ReplacesAnExistingFile) {
  const std::string path = tmp_path("replace.trec");
  {
    std::ofstream out(path);
    out << "old content that is longer than the new one\n";
  }
  eval::Run run;
  run.by_query["q"] = {{"d", 1.0, 1}};
  write_trec_run(path, run);
  EXPECT_EQ(slurp(path), "q Q0 d 1 1 dgr\n");
}

TEST(RunIo, CreatesMissingDirectories) {
  const std::string dir = tmp_path("new-dir");
  std::filesystem::remove_all(dir);
  eval::Run run;
  run.by_query["q"] = {{"d", 1.0, 1}};
  write_trec_run(dir + "/sub/run.trec", run);
  EXPECT_EQ(slurp(dir + "/sub/run.trec"), "q Q0 d 1 1 dgr\n");
}

TEST(RunIo, UnwritablePathIsAnIoErrorNamingIt) {
  // The parent "directory" is a regular file.
  const std::string parent = tmp_path("not-a-dir");
  {
    std::ofstream out(parent);
    out << "x\n";
  }
  eval::Run run;
  run.by_query["q"] = {{"d", 1.0, 1}};
  try {
    write_trec_run(parent + "/run.trec", run);
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(parent), std::string::npos) << e.what();
  }
  // A directory where the file should go: the rename fails, naming the file.
  const std::string dir_path = tmp_path("is-a-dir.trec");
  std::filesystem::create_directories(dir_path + "/child");
  try {
    write_trec_run(dir_path, run);
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(dir_path), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir_path + ".tmp." + std::to_string(::getpid())));
}

TEST(RunIo, IdsWithWhitespaceAreDataErrorsAndWriteNothing) {
  const std::string path = tmp_path("bad_id.trec");
  std::filesystem::remove(path);
  eval::Run run;
  run.by_query["q"] = {{"d 1", 1.0, 1}};
  EXPECT_THROW(write_trec_run(path, run), DataError);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));

  eval::Run bad_tag;
  bad_tag.tag = "my run";
  EXPECT_THROW(write_trec_run(path, bad_tag), DataError);
}

// A run file holds finite scores (the reader refuses others): NaN and ±inf are refused when
// writing, naming the query and passage, and nothing is written.
TEST(RunIo, NonFiniteScoresAreDataErrorsAndWriteNothing) {
  const std::string path = tmp_path("non_finite.trec");
  for (const double score :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity()}) {
    std::filesystem::remove(path);
    eval::Run run;
    run.by_query["q7"] = {{"a", 1.0, 1}, {"d9", score, 2}};
    try {
      write_trec_run(path, run);
      FAIL() << "expected DataError for score " << score;
    } catch (const DataError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("'q7'"), std::string::npos) << what;
      EXPECT_NE(what.find("'d9'"), std::string::npos) << what;
      EXPECT_NE(what.find(std::isnan(score) ? "NaN" : "infinite"), std::string::npos) << what;
    }
    EXPECT_FALSE(std::filesystem::exists(path));
  }
}

}  // namespace
}  // namespace dgr::eval
