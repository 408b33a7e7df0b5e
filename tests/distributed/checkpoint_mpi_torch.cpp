// Training checkpoints (distributed/checkpoint.h). Save -> load restores identical weights,
// optimizer moments and trainer state; keep_last prunes the oldest; `latest` names the newest; a
// truncated, altered or missing file is a DataError naming it; a temporary directory left by a
// crashed save is ignored; no checkpoint at all is std::nullopt. Checkpoints are written by one
// rank, so every rank runs these tests on its own directory.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/model/state_dict.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "distributed/checkpoint.h"
#include "tests/distributed/mpi_test_env.h"

namespace dgr::distributed {
namespace {

namespace fs = std::filesystem;
using model::AdamW;
using model::BartConfig;
using model::BartModel;
using model::NamedTensors;

constexpr int64_t kVocab = 40;

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    dir_ = fs::path(DGR_TEST_TMP_DIR) /
           ("checkpoint_test_" + std::to_string(::getpid()) + "_rank" +
            std::to_string(test_env::context().rank()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    config_ = BartConfig::preset("tiny", kVocab);
    run_dir_ = (dir_ / "run").string();
    tokenizer_dir_ = (dir_ / "tokenizer").string();
    write_file_atomic(tokenizer_dir_ + "/vocab.json", "{\"<s>\": 0, \"<pad>\": 1}\n");
    write_file_atomic(tokenizer_dir_ + "/merges.txt", "#version: 0.2\nh e\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  BartModel make_model(uint64_t seed) {
    torch::manual_seed(seed);
    BartModel m(config_);
    m->eval();
    return m;
  }

  std::vector<std::pair<std::string, torch::Tensor>> named(const BartModel& m) {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& entry : m->named_parameters())
      out.emplace_back(entry.key(), entry.value());
    return out;
  }

  // A few real training steps, so that weights and moments are all non-trivial.
  void train(BartModel& m, AdamW& adam, int steps) {
    for (int s = 0; s < steps; ++s) {
      const torch::Tensor input = torch::randint(3, kVocab, {2, 6}, torch::kLong);
      const torch::Tensor decoder = torch::randint(3, kVocab, {2, 5}, torch::kLong);
      const torch::Tensor logits = m->forward(input, torch::ones({2, 6}, torch::kLong), decoder);
      adam.zero_grad();
      logits.pow(2).mean().backward();
      adam.step(1e-3);
    }
  }

  TrainerState trainer_state(int64_t step) {
    TrainerState s;
    s.step = step;
    s.epoch = 2;
    s.cursor = 1234;
    s.seed = 18446744073709551557ull;  // beyond int64: must survive as uint64
    s.world_size = 4;
    s.global_batch = 32;
    s.torch_rng = model::serialize_rng_state();
    s.config_hash = "0123abcd";
    return s;
  }

  std::string save(int64_t step, int keep_last = 0) {
    BartModel m = make_model(static_cast<uint64_t>(step));
    AdamW adam(named(m), model::AdamWOptions{});
    return save_checkpoint(run_dir_, m, config_, adam, trainer_state(step), "stage: 1\n",
                           tokenizer_dir_, keep_last);
  }

  std::string checkpoints() const { return run_dir_ + "/checkpoints"; }
  std::string latest() const { return read_file(checkpoints() + "/latest"); }
  std::vector<std::string> step_dirs() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(checkpoints())) {
      const std::string name = e.path().filename().string();
      if (name.rfind("step-", 0) == 0) out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // The DataError load_latest_checkpoint throws; fails the test when there is none.
  std::string load_error() {
    BartModel m = make_model(99);
    try {
      load_latest_checkpoint(run_dir_, m);
    } catch (const DataError& e) {
      return e.what();
    }
    ADD_FAILURE() << "loading did not fail";
    return "";
  }

  fs::path dir_;
  BartConfig config_;
  std::string run_dir_;
  std::string tokenizer_dir_;
};

TEST_F(CheckpointTest, SaveThenLoadRestoresWeightsOptimizerAndTrainerState) {
  BartModel m = make_model(1);
  m->train();
  AdamW adam(named(m), model::AdamWOptions{});
  train(m, adam, 3);
  const TrainerState state = trainer_state(3);
  const std::string dir =
      save_checkpoint(run_dir_, m, config_, adam, state, "stage: 1\nlr: 1e-5\n", tokenizer_dir_, 3);
  EXPECT_EQ(dir, checkpoints() + "/step-0000003");
  EXPECT_EQ(latest(), "step-0000003\n");
  for (const char* file :
       {"model.safetensors", "config.json", "vocab.json", "merges.txt", "optimizer.safetensors",
        "trainer_state.yaml", "config.yaml", "checksums.yaml"}) {
    EXPECT_TRUE(file_exists(dir + "/" + file)) << file;
  }
  EXPECT_EQ(checkpoint_config_yaml(dir), "stage: 1\nlr: 1e-5\n");

  BartModel restored = make_model(2);
  std::optional<LoadedCheckpoint> loaded = load_latest_checkpoint(run_dir_, restored);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->dir, dir);
  const NamedTensors original = model::module_state(*m);
  const NamedTensors got = model::module_state(*restored);
  ASSERT_EQ(original.size(), got.size());
  for (size_t i = 0; i < original.size(); ++i) {
    EXPECT_EQ(original[i].first, got[i].first);
    EXPECT_TRUE(torch::equal(original[i].second, got[i].second)) << original[i].first;
  }

  const TrainerState& s = loaded->state;
  EXPECT_EQ(s.step, state.step);
  EXPECT_EQ(s.epoch, state.epoch);
  EXPECT_EQ(s.cursor, state.cursor);
  EXPECT_EQ(s.seed, state.seed);
  EXPECT_EQ(s.world_size, state.world_size);
  EXPECT_EQ(s.global_batch, state.global_batch);
  EXPECT_EQ(s.torch_rng, state.torch_rng);
  EXPECT_TRUE(s.cuda_rng.empty());  // written on the CPU: no CUDA generator state
  EXPECT_EQ(s.config_hash, state.config_hash);

  const NamedTensors moments = adam.state();
  ASSERT_EQ(loaded->optimizer_state.size(), moments.size());
  for (size_t i = 0; i < moments.size(); ++i) {
    EXPECT_EQ(loaded->optimizer_state[i].first, moments[i].first);
    EXPECT_TRUE(torch::equal(loaded->optimizer_state[i].second, moments[i].second))
        << moments[i].first;
  }
  // The restored optimizer goes on exactly as the original.
  AdamW resumed(named(restored), model::AdamWOptions{});
  resumed.load_state(loaded->optimizer_state, loaded->dir);
  EXPECT_EQ(resumed.steps(), 3);
  restored->train();
  model::restore_rng_state(s.torch_rng);
  train(restored, resumed, 1);
  model::restore_rng_state(s.torch_rng);
  train(m, adam, 1);
  const NamedTensors after_a = model::module_state(*m);
  const NamedTensors after_b = model::module_state(*restored);
  for (size_t i = 0; i < after_a.size(); ++i) {
    EXPECT_TRUE(torch::equal(after_a[i].second, after_b[i].second)) << after_a[i].first;
  }
}

// A GPU run's checkpoint keeps rank 0's CUDA generator next to the CPU one; a CPU run's has none
// (the key is absent, so older checkpoints read alike).
TEST_F(CheckpointTest, TheCudaGeneratorStateIsKeptInTheTrainerState) {
  TrainerState state = trainer_state(5);
  state.cuda_rng = "00ff10a0";
  const std::string yaml = trainer_state_yaml(state);
  EXPECT_NE(yaml.find("cuda_rng: \"00ff10a0\""), std::string::npos) << yaml;
  const std::string path = run_dir_ + "/trainer_state.yaml";
  fs::create_directories(run_dir_);
  write_file_atomic(path, yaml);
  EXPECT_EQ(read_trainer_state(path).cuda_rng, "00ff10a0");
  EXPECT_EQ(read_trainer_state(path).torch_rng, state.torch_rng);

  state.cuda_rng.clear();
  const std::string cpu_yaml = trainer_state_yaml(state);
  EXPECT_EQ(cpu_yaml.find("cuda_rng"), std::string::npos) << cpu_yaml;
  write_file_atomic(path, cpu_yaml);
  EXPECT_TRUE(read_trainer_state(path).cuda_rng.empty());
}

// Without a GPU the CUDA generator cannot be read or set: a ConfigError that says so, not a
// crash inside torch. With one, its state survives a round trip.
TEST(CudaGenerator, StateRoundTripsOnAGpuAndIsAClearErrorWithout) {
  if (!torch::cuda::is_available()) {
    EXPECT_THROW(model::serialize_cuda_rng_state(0), ConfigError);
    EXPECT_THROW(model::restore_cuda_rng_state(0, "00"), ConfigError);
    return;
  }
  torch::manual_seed(3);
  const std::string saved = model::serialize_cuda_rng_state(0);
  const torch::Tensor first = torch::rand({8}, torch::device(torch::kCUDA));
  model::restore_cuda_rng_state(0, saved);
  const torch::Tensor again = torch::rand({8}, torch::device(torch::kCUDA));
  EXPECT_TRUE(torch::equal(first, again));
  EXPECT_THROW(model::restore_cuda_rng_state(0, "0g"), DataError);
}

TEST_F(CheckpointTest, KeepLastDeletesTheOldestAndLatestNamesTheNewest) {
  for (int64_t step : {10, 20, 30, 40, 50})
    save(step, /*keep_last=*/2);
  EXPECT_EQ(step_dirs(), (std::vector<std::string>{"step-0000040", "step-0000050"}));
  EXPECT_EQ(latest(), "step-0000050\n");
  BartModel m = make_model(7);
  auto loaded = load_latest_checkpoint(run_dir_, m);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->state.step, 50);

  // keep_last <= 0 keeps everything.
  save(60, 0);
  save(70, -1);
  EXPECT_EQ(step_dirs().size(), 4u);
  // The same step saved again replaces it.
  save(70, 0);
  EXPECT_EQ(step_dirs().size(), 4u);
  EXPECT_EQ(latest(), "step-0000070\n");
}

TEST_F(CheckpointTest, TruncatedWeightsAreADataErrorNamingTheFile) {
  const std::string dir = save(5);
  const std::string weights = dir + "/model.safetensors";
  fs::resize_file(weights, fs::file_size(weights) / 2);
  const std::string error = load_error();
  EXPECT_NE(error.find("model.safetensors"), std::string::npos) << error;
}

TEST_F(CheckpointTest, AlteredTrainerStateIsADataErrorNamingTheFile) {
  const std::string dir = save(5);
  std::string text = read_file(dir + "/trainer_state.yaml");
  const size_t pos = text.find("cursor: 1234");
  ASSERT_NE(pos, std::string::npos) << text;
  text.replace(pos, 12, "cursor: 1235");  // same size: only the hash can tell
  { std::ofstream(dir + "/trainer_state.yaml", std::ios::binary | std::ios::trunc) << text; }
  const std::string error = load_error();
  EXPECT_NE(error.find("trainer_state.yaml"), std::string::npos) << error;
}

TEST_F(CheckpointTest, MissingFilesAreDataErrorsNamingThem) {
  const std::string dir = save(5);
  fs::remove(dir + "/optimizer.safetensors");
  std::string error = load_error();
  EXPECT_NE(error.find("optimizer.safetensors"), std::string::npos) << error;

  fs::remove(dir + "/checksums.yaml");
  error = load_error();
  EXPECT_NE(error.find("checksums.yaml"), std::string::npos) << error;
}

TEST_F(CheckpointTest, LeftoverTemporaryDirectoryIsIgnoredAndRemovedByTheNextSave) {
  save(5);
  // A save of step 6 that crashed half-way: a temporary directory with part of the files.
  const std::string crashed = checkpoints() + "/.tmp-step-0000006.4242";
  fs::create_directories(crashed);
  write_file_atomic(crashed + "/model.safetensors", "garbage");
  BartModel m = make_model(3);
  auto loaded = load_latest_checkpoint(run_dir_, m);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->state.step, 5);

  save(7);
  EXPECT_FALSE(fs::exists(crashed));
  EXPECT_EQ(step_dirs(), (std::vector<std::string>{"step-0000005", "step-0000007"}));
}

TEST_F(CheckpointTest, WithoutLatestTheNewestCompleteDirectoryLoads) {
  save(5);
  save(8);
  fs::remove(checkpoints() + "/latest");  // a crash between the rename and the pointer
  BartModel m = make_model(3);
  auto loaded = load_latest_checkpoint(run_dir_, m);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->state.step, 8);
}

TEST_F(CheckpointTest, LatestNamingAMissingDirectoryIsADataError) {
  save(5);
  write_file_atomic(checkpoints() + "/latest", "step-0000009\n");
  const std::string error = load_error();
  EXPECT_NE(error.find("step-0000009"), std::string::npos) << error;
}

TEST_F(CheckpointTest, NoCheckpointIsNullopt) {
  BartModel m = make_model(3);
  EXPECT_FALSE(load_latest_checkpoint(run_dir_, m).has_value());  // no run directory at all
  fs::create_directories(checkpoints());
  EXPECT_FALSE(load_latest_checkpoint(run_dir_, m).has_value());  // an empty one
}

TEST_F(CheckpointTest, ModelOfAnotherShapeIsADataError) {
  save(5);
  BartModel other(BartConfig::preset("tiny", kVocab + 8));
  EXPECT_THROW(load_latest_checkpoint(run_dir_, other), DataError);
}

TEST(CheckpointName, HasSevenDigitsAtLeast) {
  EXPECT_EQ(checkpoint_name(0), "step-0000000");
  EXPECT_EQ(checkpoint_name(1234567), "step-1234567");
  EXPECT_EQ(checkpoint_name(123456789), "step-123456789");
}

}  // namespace
}  // namespace dgr::distributed
