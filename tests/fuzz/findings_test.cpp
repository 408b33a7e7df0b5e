// The findings of the fuzz targets, pinned as unit tests: each input once crashed, hung or
// silently changed data, and must now be a dgr::Error of the right class naming the file and
// line. (The raw inputs are also seeds under corpus/, replayed by the fuzz_replay_* tests.)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/eval/run_io.h"
#include "core/util/error.h"
#include "data/trec.h"
#include "launch/experiment_config.h"

namespace dgr {
namespace {

namespace fs = std::filesystem;

std::string scratch(const std::string& name, const std::string& content) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(DGR_TEST_TMP_DIR) / "fuzz_findings" / info->name();
  fs::create_directories(dir);
  const std::string path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

template <typename E, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception of the expected class";
  return "";
}

// yaml-cpp 0.7's LoadAll loops forever, allocating, on a stream whose token starts no value.
TEST(FuzzFindingsTest, ConfigWithALoneCommaIsAConfigErrorNotAHang) {
  const std::string path = scratch("comma.yaml", "run:\n  seed: 3\n,\n");
  const std::string message = error_of<ConfigError>([&] { resolve_config(path, {}, {}); });
  EXPECT_NE(message.find(path + ":"), std::string::npos) << message;
  EXPECT_NE(message.find("malformed YAML"), std::string::npos) << message;
  const std::string bare = scratch("bare.yaml", ",");
  EXPECT_NE(error_of<ConfigError>([&] {
              resolve_config(bare, {}, {});
            }).find(bare + ":1: malformed YAML: no value can start at byte column 1"),
            std::string::npos);
}

// An alias inside the value it names made ConfigTree::merge recurse until the stack overflowed;
// aliases of aliases (a "billion laughs" file) would exhaust memory instead.
TEST(FuzzFindingsTest, SelfReferencingOrExplodingYamlAliasesAreConfigErrors) {
  const std::string cycle =
      scratch("cycle.yaml", "search: &s\n  beam_size: 10\n  again: *s\neval:\n  mrr_at: 10\n");
  const std::string message = error_of<ConfigError>([&] { resolve_config(cycle, {}, {}); });
  EXPECT_NE(message.find(cycle + ":"), std::string::npos) << message;
  EXPECT_NE(message.find("aliases are expanded"), std::string::npos) << message;

  const std::string list = scratch("list.yaml", "index:\n  views: &v [title, *v]\n");
  EXPECT_NE(error_of<ConfigError>([&] { resolve_config(list, {}, {}); }).find("aliases"),
            std::string::npos);

  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    const std::string previous = "*a" + std::to_string(i - 1);
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k)
      bomb += (k ? ", " : "") + previous;
    bomb += "]\n";
  }
  const std::string laughs = scratch("laughs.yaml", bomb);
  EXPECT_NE(error_of<ConfigError>([&] { resolve_config(laughs, {}, {}); }).find("100000 values"),
            std::string::npos);

  const std::string plain = scratch("plain.yaml", "eval:\n  mrr_at: 10\n");
  const std::string set =
      error_of<ConfigError>([&] { resolve_config(plain, {"search.views=&v [title, *v]"}, {}); });
  EXPECT_NE(set.find("--set search.views=&v [title, *v]: more than"), std::string::npos) << set;
}

// A NUL byte in the tag was read, then cut short by the writer's "%s": the copy of a run had
// another tag.
TEST(FuzzFindingsTest, RunTagWithNulByteIsRejectedAtItsLine) {
  const std::string path =
      scratch("nul.trec", std::string("1 Q0 d1 1 0.5 bm25\n1 Q0 d2 2 0.4 bm\0x\n", 38));
  const std::string message = error_of<DataError>([&] { data::read_trec_run(path); });
  EXPECT_NE(message.find(path + ":2: run tag contains a NUL byte"), std::string::npos) << message;
  const std::string vtab = scratch("vtab.trec", "1 Q0 d1 1 0.5 bm\v25\n");
  EXPECT_NE(error_of<DataError>([&] { data::read_trec_run(vtab); }).find(vtab + ":1: run tag"),
            std::string::npos);
}

TEST(FuzzFindingsTest, RunWriterRejectsNulBytesInsteadOfCuttingTheLine) {
  eval::Run run;
  run.tag = "dgr";
  run.by_query["q1"].push_back(eval::RunEntry{std::string("d\0x", 3), 1.0, 1});
  const std::string path = scratch("out.trec", "");
  fs::remove(path);
  const std::string message = error_of<DataError>([&] { eval::write_trec_run(path, run); });
  EXPECT_NE(message.find("NUL byte"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(path));
}

}  // namespace
}  // namespace dgr
