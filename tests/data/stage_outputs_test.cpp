#include "data/stage_outputs.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/util/error.h"
#include "tests/data/test_files.h"

namespace dgr::data {
namespace {

namespace fs = std::filesystem;
using test::expect_error;

std::string fresh_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(DGR_TEST_TMP_DIR) / "stage_outputs" / info->name();
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

TEST(RetrievalManifest, RoundTrips) {
  const std::string dir = fresh_dir();
  RetrievalManifest m;
  m.run = "runs/x/candidates/run.trec";
  m.keys = "runs/x/candidates/keys.jsonl";
  m.index_dir = "runs/x/index";
  m.model = "runs/x/stage1/model";
  m.queries = "data/queries.jsonl";
  m.retrieved = 150;
  write_retrieval_manifest(dir, m);
  const RetrievalManifest r = read_retrieval_manifest(dir);
  EXPECT_EQ(r.run, m.run);
  EXPECT_EQ(r.keys, m.keys);
  EXPECT_EQ(r.index_dir, m.index_dir);
  EXPECT_EQ(r.model, m.model);
  EXPECT_EQ(r.queries, m.queries);
  EXPECT_EQ(r.retrieved, 150);
}

TEST(RetrievalManifest, MissingOrForeignManifestsAreNamedErrors) {
  const std::string dir = fresh_dir();
  const std::string path = retrieval_manifest_path(dir);
  expect_error<IoError>([&] { read_retrieval_manifest(dir); },
                        {path, "does not exist", "run `dgr retrieve` again"});
  auto with = [&](const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
    read_retrieval_manifest(dir);
  };
  expect_error<DataError>([&] { with("{\"stage\": "); }, {path, "not JSON"});
  expect_error<DataError>([&] { with(R"({"stage": "train", "format": 1})"); },
                          {path, "'stage' is 'train'", "expected 'retrieve'"});
  expect_error<DataError>([&] { with(R"({"stage": "retrieve", "format": 2})"); },
                          {path, "'format' is 2"});
  expect_error<DataError>([&] { with(R"({"stage": "retrieve", "format": 1, "run": "r"})"); },
                          {path, "missing field 'keys'"});
  expect_error<DataError>(
      [&] {
        with(R"({"stage": "retrieve", "format": 1, "run": "r", "keys": 3, "index_dir": "i",)"
             R"( "model": "m", "queries": "q", "retrieved": 1})");
      },
      {path, "'keys' must be a string"});
  expect_error<DataError>(
      [&] {
        with(R"({"stage": "retrieve", "format": 1, "run": "r", "keys": "", "index_dir": "i",)"
             R"( "model": "m", "queries": "q", "retrieved": -1})");
      },
      {path, "'retrieved' must be a count"});
  expect_error<DataError>(
      [&] {
        with(R"({"stage": "retrieve", "format": 1, "run": "r", "keys": "", "index_dir": "",)"
             R"( "model": "m", "queries": "q", "retrieved": 1})");
      },
      {path, "'index_dir' is empty"});
}

}  // namespace
}  // namespace dgr::data
