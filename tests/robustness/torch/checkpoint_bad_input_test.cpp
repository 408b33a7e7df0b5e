// Training checkpoints (distributed/checkpoint.h) damaged in the ways tests/distributed/
// checkpoint_mpi_torch.cpp does not cover: checksums.yaml altered, truncated, of the wrong
// shape; optimizer.safetensors truncated; trainer_state.yaml with wrong types, missing keys,
// negative counters (re-sealed with matching checksums, so that its own reader is what refuses
// it); `latest` holding garbage. Each is a DataError naming the file, never a crash, a
// yaml-cpp exception or a resumed run on different state.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/model/bart.h"
#include "core/util/files.h"
#include "core/util/hash.h"
#include "distributed/checkpoint.h"
#include "tests/robustness/torch/expect_error.h"

namespace dgr::robustness {
namespace {

namespace fs = std::filesystem;
using distributed::load_latest_checkpoint;

constexpr int64_t kVocab = 40;

class CheckpointBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    dir_ = fs::path(DGR_TEST_TMP_DIR) /
           ("robust-checkpoint-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    run_dir_ = (dir_ / "run").string();
    config_ = model::BartConfig::preset("tiny", kVocab);
    torch::manual_seed(5);
    model::BartModel m(config_);
    model::NamedTensors moments;
    for (const auto& p : m->named_parameters()) {
      moments.emplace_back("exp_avg." + p.key(), torch::full_like(p.value(), 0.5));
      moments.emplace_back("exp_avg_sq." + p.key(), torch::full_like(p.value(), 0.25));
    }
    distributed::TrainerState state;
    state.step = 5;
    state.epoch = 1;
    state.cursor = 12;
    state.seed = 7;
    state.world_size = 2;
    state.global_batch = 8;
    state.config_hash = "abc";
    ckpt_ = distributed::save_checkpoint(run_dir_, m, config_, moments, state, "stage: 1\n", "", 0);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file(const std::string& name) const { return ckpt_ + "/" + name; }
  static void write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  }
  static void replace(const std::string& path, const std::string& from, const std::string& to) {
    std::string text = read_file(path);
    const size_t pos = text.find(from);
    ASSERT_NE(pos, std::string::npos) << from << " not in " << path << ":\n" << text;
    text.replace(pos, from.size(), to);
    write(path, text);
  }
  // Rewrites checksums.yaml to match the files as they are now: a damaged file then passes the
  // checksums, as one written damaged by a buggy or foreign writer would.
  void reseal() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(ckpt_)) {
      const std::string name = entry.path().filename().string();
      if (name != "checksums.yaml") names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    std::string text = "format_version: 1\nfiles:\n";
    for (const auto& name : names) {
      text += "  " + name + ":\n    size: " + std::to_string(fs::file_size(file(name))) +
              "\n    sha256: " + sha256_file(file(name)) + "\n";
    }
    write(file("checksums.yaml"), text);
  }
  void expect_refused(std::initializer_list<std::string> needles) {
    model::BartModel m(config_);
    expect_error<DataError>([&] { load_latest_checkpoint(run_dir_, m); }, needles);
  }

  fs::path dir_;
  std::string run_dir_;
  std::string ckpt_;
  model::BartConfig config_;
};

TEST_F(CheckpointBadInput, TheUndamagedCheckpointAndAResealedOneLoad) {
  model::BartModel m(config_);
  EXPECT_EQ(load_latest_checkpoint(run_dir_, m)->state.step, 5);
  reseal();
  EXPECT_EQ(load_latest_checkpoint(run_dir_, m)->state.cursor, 12);
}

TEST_F(CheckpointBadInput, ChecksumsAltered) {
  const std::string hash = sha256_file(file("optimizer.safetensors"));
  std::string other = hash;
  other[0] = other[0] == '0' ? '1' : '0';
  replace(file("checksums.yaml"), hash, other);
  expect_refused({file("optimizer.safetensors"), "SHA-256", "checksums.yaml"});
}

TEST_F(CheckpointBadInput, ChecksumsRecordAnotherSize) {
  const std::string size = "size: " + std::to_string(fs::file_size(file("config.json")));
  replace(file("checksums.yaml"), size, "size: 3");
  expect_refused({file("config.json"), "records 3"});
}

TEST_F(CheckpointBadInput, ChecksumsTruncated) {
  const std::string path = file("checksums.yaml");
  const std::string text = read_file(path);
  // Cut in the middle of a hash, then after the first file only, then to nothing.
  write(path, text.substr(0, text.size() / 2));
  expect_refused({"checksums.yaml"});
  const size_t second = text.find("\n  ", text.find("sha256"));
  ASSERT_NE(second, std::string::npos) << text;
  write(path, text.substr(0, second + 1));
  expect_refused({"checksums.yaml", "not listed"});
  write(path, "");
  expect_refused({path, "expected a YAML map"});
  write(path, std::string("\x89\xff\x00garbage\x01", 11));
  expect_refused({path});
}

TEST_F(CheckpointBadInput, ChecksumsOfTheWrongShape) {
  const std::string path = file("checksums.yaml");
  write(path, "format_version: 1\nfiles: [model.safetensors, config.json]\n");
  expect_refused({path, "'files'"});
  write(path, "format_version: 1\nfiles:\n  model.safetensors: 123\n");
  expect_refused({path});
  write(path, "format_version: 1\nfiles:\n  model.safetensors:\n    size: many\n    sha256: x\n");
  expect_refused({path, "'size'"});
  write(path, "format_version: 1\nfiles:\n  model.safetensors:\n    size: -4\n    sha256: x\n");
  expect_refused({path, "'size'"});
  write(path, "format_version: 1\nfiles:\n  ../../etc/passwd:\n    size: 1\n    sha256: x\n");
  expect_refused({path, "not a plain name"});
  write(path, "format_version: 1\nfiles:\n  [a, b]:\n    size: 1\n    sha256: x\n");
  expect_refused({path});
  write(path, "format_version: two\nfiles: {}\n");
  expect_refused({path, "'format_version'"});
  write(path, "format_version: 9\nfiles: {}\n");
  expect_refused({path, "version 9"});
}

TEST_F(CheckpointBadInput, OptimizerStateTruncated) {
  const std::string path = file("optimizer.safetensors");
  fs::resize_file(path, fs::file_size(path) - 64);
  expect_refused({path, "truncated or altered"});
  reseal();  // the checksums agree now: the safetensors reader must still see the damage
  expect_refused({path, "outside the data section"});
  fs::resize_file(path, 6);
  reseal();
  expect_refused({path, "6 bytes"});
}

TEST_F(CheckpointBadInput, TrainerStateWithWrongTypes) {
  const std::string path = file("trainer_state.yaml");
  replace(path, "step: 5", "step: five");
  reseal();
  expect_refused({path, "'step'", "wrong type"});
  replace(path, "step: five", "step: [5]");
  reseal();
  expect_refused({path, "'step'"});
  replace(path, "step: [5]", "step: 5");
  replace(path, "world_size: 2", "world_size: 2.5");
  reseal();
  expect_refused({path, "'world_size'"});
  replace(path, "world_size: 2.5", "world_size: 2");
  replace(path, "config_hash: \"abc\"", "config_hash: {a: 1}");
  reseal();
  expect_refused({path, "'config_hash'"});
  replace(path, "config_hash: {a: 1}", "config_hash: \"abc\"");
  replace(path, "seed: 7", "seed: -7");
  reseal();
  expect_refused({path, "'seed'"});
}

TEST_F(CheckpointBadInput, TrainerStateWithMissingKeys) {
  const std::string path = file("trainer_state.yaml");
  replace(path, "cursor: 12\n", "");
  reseal();
  expect_refused({path, "'cursor'", "missing"});
  write(path, "format_version: 1\n");
  reseal();
  expect_refused({path, "'step'", "missing"});
  write(path, "step: 5\n");
  reseal();
  expect_refused({path, "'format_version'", "missing"});
  write(path, "- step: 5\n");
  reseal();
  expect_refused({path, "expected a YAML map"});
  write(path, "step: [5\n");
  reseal();
  expect_refused({path, "malformed YAML"});
}

TEST_F(CheckpointBadInput, TrainerStateWithNegativeCounters) {
  const std::string path = file("trainer_state.yaml");
  replace(path, "step: 5", "step: -5");
  reseal();
  expect_refused({path, ">= 0"});
  replace(path, "step: -5", "step: 5");
  replace(path, "world_size: 2", "world_size: 0");
  reseal();
  expect_refused({path, "world_size"});
  replace(path, "world_size: 0", "world_size: 2");
  replace(path, "global_batch: 8", "global_batch: -8");
  reseal();
  expect_refused({path, ">= 0"});
}

TEST_F(CheckpointBadInput, LatestHoldingGarbage) {
  const std::string latest = run_dir_ + "/checkpoints/latest";
  for (const std::string& text :
       {std::string(""), std::string("hello\n"), std::string("step-\n"), std::string("step-12ab"),
        std::string("../step-0000005\n"), std::string("step-0000005/../../x\n"),
        std::string("\x7f\x45\x4c\x46\x02\x01\x00\x00", 8),
        std::string("step-99999999999999999999999\n")}) {
    write(latest, text);
    expect_refused({latest});
  }
}

TEST_F(CheckpointBadInput, LatestNamingADirectoryThatIsNotACheckpoint) {
  fs::create_directories(run_dir_ + "/checkpoints/step-0000009");
  write(run_dir_ + "/checkpoints/latest", "step-0000009\n");
  expect_refused({"step-0000009/checksums.yaml", "not a complete checkpoint"});
}

}  // namespace
}  // namespace dgr::robustness
