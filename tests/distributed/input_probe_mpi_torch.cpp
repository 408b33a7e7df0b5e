// Stage 1's input probe (distributed/input_probe.h) under mpirun -np 2: on a model whose encoder
// emits one constant vector the gap and the spread are 0, on a model that learnt to copy its
// source the gap is large, and the numbers do not depend on the number of ranks.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/model/bart.h"
#include "core/model/training.h"
#include "data/copy_task.h"
#include "data/stage1_examples.h"
#include "distributed/communicator.h"
#include "distributed/example_batch.h"
#include "distributed/input_probe.h"
#include "tests/distributed/mpi_test_env.h"
#include "tests/distributed/solo_communicator.h"

namespace dgr::distributed {
namespace {

namespace fs = std::filesystem;
using test_env::context;

constexpr int64_t kVocab = 40;

std::string tmp(const std::string& name) {
  return std::string(DGR_TEST_TMP_DIR) + "/input-probe-" + name + "-" + std::to_string(::getpid());
}

model::BartConfig tiny_config() {
  model::BartConfig c = model::BartConfig::preset("tiny", kVocab);
  c.dropout = c.attention_dropout = c.activation_dropout = 0;
  return c;
}

data::CopyTaskOptions copy_options() {
  data::CopyTaskOptions o;
  o.length = 8;
  o.vocab_size = static_cast<int32_t>(kVocab);
  o.seed = 3;
  return o;
}

// A store of 64 copy examples (distinct random sources), written by each rank for itself.
std::string write_store() {
  const std::string path = tmp("store.h5");
  data::write_stage1_examples(path, data::CopyTask(copy_options()).examples(0, 0, 64), {});
  return path;
}

model::BartModel seeded_model() {
  torch::manual_seed(5);
  return model::BartModel(tiny_config());
}

// A few hundred Adam steps of copying on fresh rows: enough for the tiny model to read its input.
void train_to_copy(model::BartModel& bart) {
  const model::BartConfig config = tiny_config();
  torch::optim::Adam adam(bart->parameters(), torch::optim::AdamOptions(3e-3));
  const data::CopyTask task(copy_options());
  for (uint64_t step = 1; step <= 300; ++step) {
    const ExampleBatch b = collate_examples(task.examples(step, 0, 32), config, torch::kCPU);
    const torch::Tensor logits = bart->forward(b.input_ids, b.attention_mask, b.decoder_input);
    const model::LossSums loss =
        model::label_smoothed_cross_entropy(logits, b.labels, 0.0, kIgnoreLabel);
    adam.zero_grad();
    (loss.loss / static_cast<double>(loss.tokens)).backward();
    adam.step();
  }
}

TEST(InputProbe, ChoosesDistinctExamplesAndIsOffWithoutThem) {
  const data::Stage1ExampleFile store = data::Stage1ExampleFile::open(write_store());
  const InputProbe probe(store, 16, 7);
  EXPECT_TRUE(probe.enabled());
  EXPECT_EQ(probe.size(), 16);
  EXPECT_FALSE(InputProbe(store, 0, 7).enabled());
  // One example cannot be paired with another's source.
  const std::string single = tmp("single.h5");
  data::write_stage1_examples(single, data::CopyTask(copy_options()).examples(0, 0, 1), {});
  EXPECT_FALSE(InputProbe(data::Stage1ExampleFile::open(single), 16, 7).enabled());
  fs::remove(single);
}

TEST(InputProbe, ConstantEncoderHasNoGapAndNoSpread) {
  const data::Stage1ExampleFile store = data::Stage1ExampleFile::open(write_store());
  const InputProbe probe(store, 16, 7);
  model::BartModel bart = seeded_model();
  {
    // The encoder's last LayerNorm with zero gain emits its bias for every token: what a
    // collapsed encoder looks like to the decoder.
    torch::NoGradGuard no_grad;
    for (const auto& item : bart->named_parameters()) {
      if (item.key().find("encoder.layers.1.final_layer_norm.weight") != std::string::npos)
        item.value().zero_();
    }
  }
  auto comm = make_communicator("mpi", context());
  const ProbeResult r = probe.measure(bart, tiny_config(), torch::kCPU, *comm);
  EXPECT_EQ(r.examples, 16);
  EXPECT_GT(r.nll_true, 1.0);
  // The same encoder output after any source: the two NLLs agree to rounding.
  EXPECT_NEAR(r.gap, 0.0, 1e-4 * r.nll_true);
  EXPECT_LT(r.encoder_spread, 1e-4);
}

TEST(InputProbe, ModelThatCopiesHasALargeGapOnAnyNumberOfRanks) {
  const data::Stage1ExampleFile store = data::Stage1ExampleFile::open(write_store());
  const InputProbe probe(store, 16, 7);
  model::BartModel bart = seeded_model();
  SoloCommunicator solo;
  const ProbeResult before = probe.measure(bart, tiny_config(), torch::kCPU, solo);
  EXPECT_GT(before.encoder_spread, 0.3) << "LayerNorm output at init varies over positions";
  train_to_copy(bart);
  EXPECT_TRUE(bart->is_training()) << "the probe restores training mode";
  const ProbeResult one = probe.measure(bart, tiny_config(), torch::kCPU, solo);
  auto comm = make_communicator("mpi", context());
  const ProbeResult all = probe.measure(bart, tiny_config(), torch::kCPU, *comm);
  // Copying, a target after another source is far less likely than after its own.
  EXPECT_GT(one.gap, 1.0) << "true " << one.nll_true << " shuffled " << one.nll_shuffled;
  EXPECT_LT(one.nll_true, before.nll_true);
  // Sums of the same per-example terms, added in another order on two ranks.
  EXPECT_NEAR(all.nll_true, one.nll_true, 1e-5 * one.nll_true);
  EXPECT_NEAR(all.gap, one.gap, 1e-5 * one.nll_shuffled);
  EXPECT_NEAR(all.encoder_spread, one.encoder_spread, 1e-5);
  context().barrier();
}

}  // namespace
}  // namespace dgr::distributed
