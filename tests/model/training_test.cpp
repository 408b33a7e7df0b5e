// The pieces of a training step: label-smoothed cross-entropy against a hand computation
// (fairseq's form; ε = 0 is torch's summed cross-entropy; padding ignored; the gradient is
// softmax minus the smoothed target), the learning-rate schedule at its key steps, AdamW against
// a hand-written double-precision AdamW (and torch's own), its weight-decay exclusions, its state
// round trip, and the torch RNG state round trip.
#include "core/model/training.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "core/model/bart.h"
#include "core/model/safetensors.h"
#include "core/util/error.h"

namespace dgr::model {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------- label-smoothed cross-entropy

// [1, 3, 4] logits; position 2 is padding.
torch::Tensor tiny_logits() {
  return torch::tensor({0.5, -1.0, 2.0, 0.0, 1.5, 0.25, -0.5, 3.0, 9.0, -7.0, 4.0, 2.0},
                       torch::kFloat32)
      .reshape({1, 3, 4});
}

TEST(LabelSmoothedCrossEntropy, MatchesAHandComputation) {
  const torch::Tensor logits = tiny_logits();
  const torch::Tensor targets = torch::tensor({1, 3, -100}, torch::kLong).reshape({1, 3});
  const double eps = 0.1;
  const int64_t vocab = 4;

  double nll = 0, smooth = 0, direct = 0;
  auto x = logits.accessor<float, 3>();
  for (int t = 0; t < 2; ++t) {
    const int y = t == 0 ? 1 : 3;
    double max = -1e30, sum = 0;
    for (int v = 0; v < vocab; ++v)
      max = std::max(max, static_cast<double>(x[0][t][v]));
    for (int v = 0; v < vocab; ++v)
      sum += std::exp(x[0][t][v] - max);
    const double log_z = max + std::log(sum);
    for (int v = 0; v < vocab; ++v) {
      const double lp = x[0][t][v] - log_z;
      smooth -= lp;
      // The other reading of the same loss: target weight 1 - ε, every other token ε/(V-1).
      direct -= (v == y ? 1.0 - eps : eps / (vocab - 1)) * lp;
      if (v == y) nll -= lp;
    }
  }
  const double eps_i = eps / (vocab - 1);
  const double expected = (1.0 - eps - eps_i) * nll + eps_i * smooth;
  ASSERT_NEAR(expected, direct, 1e-12);

  const LossSums sums = label_smoothed_cross_entropy(logits, targets, eps);
  EXPECT_EQ(sums.tokens, 2);
  EXPECT_EQ(sums.loss.dim(), 0);
  EXPECT_NEAR(sums.nll.item<double>(), nll, 1e-5);
  EXPECT_NEAR(sums.loss.item<double>(), expected, 1e-5);
}

TEST(LabelSmoothedCrossEntropy, WithoutSmoothingIsTorchsSummedCrossEntropy) {
  torch::manual_seed(3);
  const torch::Tensor logits = torch::randn({2, 5, 7});
  const torch::Tensor targets =
      torch::tensor({3, 0, 6, -100, -100, 1, 1, 2, 5, -100}, torch::kLong).reshape({2, 5});
  const LossSums sums = label_smoothed_cross_entropy(logits, targets, 0.0);
  const torch::Tensor reference = torch::nn::functional::cross_entropy(
      logits.reshape({10, 7}), targets.reshape({10}),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum).ignore_index(-100));
  EXPECT_EQ(sums.tokens, 7);
  EXPECT_NEAR(sums.loss.item<double>(), reference.item<double>(), 1e-5);
  EXPECT_NEAR(sums.nll.item<double>(), reference.item<double>(), 1e-5);
}

TEST(LabelSmoothedCrossEntropy, PaddingIsIgnoredWhateverItsLogits) {
  const torch::Tensor targets = torch::tensor({1, 3, 1}, torch::kLong).reshape({1, 3});
  torch::Tensor logits = tiny_logits();
  // pad id 1 as ignore_index: positions 0 and 2 are ignored.
  const LossSums a = label_smoothed_cross_entropy(logits, targets, 0.1, /*ignore_index=*/1);
  logits.index_put_({0, 0}, torch::tensor({100.0, -50.0, 3.0, 7.0}));
  logits.index_put_({0, 2}, torch::tensor({-100.0, 50.0, 1e4, 7.0}));
  const LossSums b = label_smoothed_cross_entropy(logits, targets, 0.1, 1);
  EXPECT_EQ(a.tokens, 1);
  EXPECT_EQ(b.tokens, 1);
  EXPECT_FLOAT_EQ(a.loss.item<float>(), b.loss.item<float>());
  EXPECT_FLOAT_EQ(a.nll.item<float>(), b.nll.item<float>());

  const torch::Tensor all_padding = torch::full({1, 3}, -100, torch::kLong);
  const LossSums none = label_smoothed_cross_entropy(tiny_logits(), all_padding, 0.1);
  EXPECT_EQ(none.tokens, 0);
  EXPECT_EQ(none.loss.item<float>(), 0.0f);
}

// d loss / d logits = softmax - q, q the smoothed target (1 - ε on the target, ε/(V-1) elsewhere);
// zero at padded positions.
TEST(LabelSmoothedCrossEntropy, GradientIsSoftmaxMinusTheSmoothedTarget) {
  const torch::Tensor logits = tiny_logits().requires_grad_(true);
  const torch::Tensor targets = torch::tensor({1, 3, -100}, torch::kLong).reshape({1, 3});
  const double eps = 0.2;
  LossSums sums = label_smoothed_cross_entropy(logits, targets, eps);
  sums.loss.backward();
  ASSERT_TRUE(logits.grad().defined());
  const torch::Tensor probs = torch::softmax(logits.detach(), -1);
  torch::Tensor q = torch::full({1, 3, 4}, eps / 3);
  q.index_put_({0, 0, 1}, 1.0 - eps);
  q.index_put_({0, 1, 3}, 1.0 - eps);
  torch::Tensor expected = probs - q;
  expected.index_put_({0, 2}, torch::zeros({4}));
  EXPECT_TRUE(torch::allclose(logits.grad(), expected, 1e-5, 1e-6)) << logits.grad() << "\n"
                                                                    << expected;
}

TEST(LabelSmoothedCrossEntropy, RejectsMismatchedShapesAndOutOfVocabularyTargets) {
  const torch::Tensor logits = tiny_logits();
  EXPECT_THROW(label_smoothed_cross_entropy(logits, torch::zeros({1, 2}, torch::kLong), 0.1),
               DataError);
  EXPECT_THROW(label_smoothed_cross_entropy(logits, torch::full({1, 3}, 4, torch::kLong), 0.1),
               DataError);
  EXPECT_THROW(label_smoothed_cross_entropy(logits, torch::zeros({1, 3}, torch::kLong), 1.0),
               DataError);
}

// ------------------------------------------------------------------------------- LR schedule

TEST(LrSchedule, LinearWarmUpThenLinearDecay) {
  LrSchedule s;
  s.peak_lr = 1e-3;
  s.warmup_steps = 10;
  s.total_steps = 110;
  EXPECT_DOUBLE_EQ(s.lr(0), 0.0);
  EXPECT_DOUBLE_EQ(s.lr(5), 5e-4);
  EXPECT_DOUBLE_EQ(s.lr(10), 1e-3);  // warm-up end: the peak
  EXPECT_DOUBLE_EQ(s.lr(60), 5e-4);  // half-way through the decay
  EXPECT_DOUBLE_EQ(s.lr(109), 1e-5);
  EXPECT_DOUBLE_EQ(s.lr(110), 0.0);  // end
  EXPECT_DOUBLE_EQ(s.lr(500), 0.0);  // past the end

  s.end_lr = 1e-4;
  EXPECT_DOUBLE_EQ(s.lr(60), 1e-4 + 9e-4 * 0.5);
  EXPECT_DOUBLE_EQ(s.lr(110), 1e-4);
  EXPECT_DOUBLE_EQ(s.lr(1000), 1e-4);
}

TEST(LrSchedule, PolynomialOfPowerOneIsLinear) {
  LrSchedule linear;
  linear.peak_lr = 3e-5;
  linear.warmup_steps = 500;
  linear.total_steps = 10000;
  linear.end_lr = 1e-7;
  LrSchedule poly = linear;
  poly.decay = "polynomial";
  for (int64_t step : {0, 1, 250, 499, 500, 501, 5000, 9999, 10000, 20000}) {
    EXPECT_NEAR(poly.lr(step), linear.lr(step), 1e-18) << "step " << step;
  }
  poly.power = 2.0;
  poly.end_lr = 0;
  EXPECT_NEAR(poly.lr(500 + 9500 / 2), 3e-5 * 0.25, 1e-18);
}

TEST(LrSchedule, ConstantKeepsThePeakAndNoWarmUpStartsAtIt) {
  LrSchedule s;
  s.peak_lr = 2e-5;
  s.decay = "constant";
  s.warmup_steps = 4;
  EXPECT_DOUBLE_EQ(s.lr(0), 0.0);
  EXPECT_DOUBLE_EQ(s.lr(2), 1e-5);
  EXPECT_DOUBLE_EQ(s.lr(4), 2e-5);
  EXPECT_DOUBLE_EQ(s.lr(1000000), 2e-5);

  LrSchedule linear;
  linear.peak_lr = 2e-5;
  linear.total_steps = 100;
  EXPECT_DOUBLE_EQ(linear.lr(0), 2e-5);
  EXPECT_DOUBLE_EQ(linear.lr(50), 1e-5);
}

TEST(LrSchedule, RejectsUnknownDecayAndMissingTotal) {
  LrSchedule s;
  s.total_steps = 100;
  s.decay = "cosine";
  EXPECT_THROW(s.lr(1), ConfigError);
  LrSchedule no_total;  // linear with total_steps 0 would silently train at end_lr
  EXPECT_THROW(no_total.lr(1), ConfigError);
}

// ------------------------------------------------------------------------------------- AdamW

// A hand-written AdamW in double precision over flat values (torch.optim.AdamW's algorithm).
struct ReferenceAdamW {
  std::vector<double> p, m, v;
  bool decay = true;
  void step(const std::vector<double>& g, int64_t t, double lr, const AdamWOptions& o) {
    for (size_t i = 0; i < p.size(); ++i) {
      if (decay) p[i] *= 1.0 - lr * o.weight_decay;
      m[i] = o.beta1 * m[i] + (1.0 - o.beta1) * g[i];
      v[i] = o.beta2 * v[i] + (1.0 - o.beta2) * g[i] * g[i];
      const double m_hat = m[i] / (1.0 - std::pow(o.beta1, static_cast<double>(t)));
      const double v_hat = v[i] / (1.0 - std::pow(o.beta2, static_cast<double>(t)));
      p[i] -= lr * m_hat / (std::sqrt(v_hat) + o.eps);
    }
  }
};

std::vector<double> values(const torch::Tensor& t) {
  const torch::Tensor flat = t.detach().to(torch::kFloat64).contiguous().reshape({-1});
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

// Gradient of parameter `k` at step `t`: deterministic, of mixed signs and magnitudes.
torch::Tensor gradient(const torch::Tensor& param, int k, int t) {
  const torch::Tensor i = torch::arange(param.numel(), torch::kFloat32).reshape(param.sizes());
  return torch::sin(i * 1.3 + 0.7 * t + k) * (1.0 + 0.5 * k) + 0.05 * t;
}

std::vector<std::pair<std::string, torch::Tensor>> tiny_params() {
  return {{"encoder.fc1.weight", torch::tensor({0.5, -0.25, 1.0, 0.0, 2.0, -1.5}).reshape({2, 3})},
          {"encoder.fc1.bias", torch::tensor({0.1, -0.2, 0.3})},
          {"encoder.self_attn_layer_norm.weight", torch::tensor({1.0, 1.0, 0.9})}};
}

std::vector<std::pair<std::string, torch::Tensor>> leaf_clones(
    const std::vector<std::pair<std::string, torch::Tensor>>& params) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, p] : params)
    out.emplace_back(name, p.detach().clone().requires_grad_());
  return out;
}

void set_gradients(std::vector<std::pair<std::string, torch::Tensor>>& params, int t) {
  for (size_t k = 0; k < params.size(); ++k) {
    params[k].second.mutable_grad() = gradient(params[k].second, static_cast<int>(k), t);
  }
}

TEST(AdamW, StepsEqualAHandWrittenReference) {
  AdamWOptions options;
  options.weight_decay = 0.1;
  options.beta2 = 0.98;
  options.eps = 1e-6;
  auto params = leaf_clones(tiny_params());
  std::vector<ReferenceAdamW> reference;
  for (const auto& [name, p] : params) {
    ReferenceAdamW r;
    r.p = values(p);
    r.m.assign(r.p.size(), 0.0);
    r.v.assign(r.p.size(), 0.0);
    r.decay = name == "encoder.fc1.weight";
    reference.push_back(r);
  }
  AdamW adam(params, options);
  for (int t = 1; t <= 6; ++t) {
    const double lr = 1e-2 * t;  // a changing lr, as under a schedule
    set_gradients(params, t);
    adam.step(lr);
    for (size_t k = 0; k < params.size(); ++k) {
      reference[k].step(values(params[k].second.grad()), t, lr, options);
      const std::vector<double> got = values(params[k].second);
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_NEAR(got[i], reference[k].p[i], 1e-6)
            << params[k].first << "[" << i << "] after step " << t;
      }
    }
  }
  EXPECT_EQ(adam.steps(), 6);
}

TEST(AdamW, EqualsTorchsAdamWWithoutExclusions) {
  // torch::optim::AdamW decays every parameter: compare on weights only.
  std::vector<std::pair<std::string, torch::Tensor>> ours = {
      {"a.weight", torch::randn({4, 5}).requires_grad_()},
      {"b.weight", torch::randn({7}).requires_grad_()}};
  std::vector<torch::Tensor> theirs;
  for (const auto& [name, p] : ours)
    theirs.push_back(p.detach().clone().requires_grad_());
  AdamWOptions options;
  options.weight_decay = 0.05;
  AdamW adam(ours, options);
  torch::optim::AdamW reference(theirs,
                                torch::optim::AdamWOptions(3e-3).weight_decay(0.05).eps(1e-8));
  for (int t = 1; t <= 5; ++t) {
    for (size_t k = 0; k < ours.size(); ++k) {
      const torch::Tensor g = gradient(ours[k].second, static_cast<int>(k), t);
      ours[k].second.mutable_grad() = g.clone();
      theirs[k].mutable_grad() = g.clone();
    }
    adam.step(3e-3);
    reference.step();
  }
  for (size_t k = 0; k < ours.size(); ++k) {
    EXPECT_TRUE(torch::allclose(ours[k].second, theirs[k], 1e-6, 1e-7)) << ours[k].first;
  }
}

TEST(AdamW, OnePassKernelEqualsTheOpByOpUpdateOnLargeTensorsAndThreads) {
  // Contiguous float32 CPU tensors take the one-pass kernel (split over threads above 64k
  // elements); a transposed (non-contiguous) parameter takes torch's op-by-op form. Both must
  // agree with torch::optim::AdamW.
  const int threads = torch::get_num_threads();
  torch::set_num_threads(2);
  torch::manual_seed(5);
  std::vector<std::pair<std::string, torch::Tensor>> ours = {
      {"big.weight", torch::randn({300, 701}).requires_grad_()},
      {"odd.weight", torch::randn({37, 3}).t().requires_grad_()}};
  ASSERT_FALSE(ours[1].second.is_contiguous());
  std::vector<torch::Tensor> theirs;
  for (const auto& [name, p] : ours)
    theirs.push_back(p.detach().clone().requires_grad_());
  const torch::Tensor initial = ours[0].second.detach().clone();
  AdamWOptions options;
  options.weight_decay = 0.1;
  AdamW adam(ours, options);
  torch::optim::AdamW reference(theirs,
                                torch::optim::AdamWOptions(1e-2).weight_decay(0.1).eps(1e-8));
  for (int t = 1; t <= 4; ++t) {
    for (size_t k = 0; k < ours.size(); ++k) {
      const torch::Tensor g = torch::randn(ours[k].second.sizes());
      ours[k].second.mutable_grad() = g.clone();
      theirs[k].mutable_grad() = g.clone();
    }
    adam.step(1e-2);
    reference.step();
  }
  torch::set_num_threads(threads);
  for (size_t k = 0; k < ours.size(); ++k) {
    const double diff = (ours[k].second - theirs[k]).abs().max().item<double>();
    EXPECT_LE(diff, 1e-6) << ours[k].first;
  }
  // The parameters moved by far more than the tolerance.
  EXPECT_GT((ours[0].second.detach() - initial).abs().max().item<double>(), 1e-2);
}

TEST(AdamW, NoDecayOnBiasesAndLayerNorms) {
  EXPECT_TRUE(applies_weight_decay("model.shared.weight"));
  EXPECT_TRUE(applies_weight_decay("model.encoder.layers.0.fc1.weight"));
  EXPECT_TRUE(applies_weight_decay("model.encoder.embed_positions.weight"));
  EXPECT_FALSE(applies_weight_decay("model.encoder.layers.0.fc1.bias"));
  EXPECT_FALSE(applies_weight_decay("bias"));
  EXPECT_FALSE(applies_weight_decay("model.decoder.layers.1.encoder_attn_layer_norm.weight"));
  EXPECT_FALSE(applies_weight_decay("model.encoder.layernorm_embedding.weight"));
  EXPECT_FALSE(applies_weight_decay("encoder.LayerNorm.weight"));

  // With zero gradients Adam's update is 0, so only the decay moves a parameter.
  auto params = leaf_clones(tiny_params());
  AdamWOptions options;
  options.weight_decay = 0.5;
  AdamW adam(params, options);
  const auto before = leaf_clones(params);
  for (auto& [name, p] : params)
    p.mutable_grad() = torch::zeros_like(p);
  adam.step(0.1);
  EXPECT_TRUE(torch::allclose(params[0].second, before[0].second * 0.95));
  EXPECT_TRUE(torch::equal(params[1].second, before[1].second));
  EXPECT_TRUE(torch::equal(params[2].second, before[2].second));

  // Every bias and LayerNorm of a BART model is excluded, every other weight decays.
  BartModel model(BartConfig::preset("tiny", 40));
  int excluded = 0;
  for (const auto& entry : model->named_parameters()) {
    const std::string& name = entry.key();
    const bool expected = !(name.size() > 5 && name.substr(name.size() - 5) == ".bias") &&
                          name.find("layer_norm") == std::string::npos &&
                          name.find("layernorm_embedding") == std::string::npos;
    EXPECT_EQ(applies_weight_decay(name), expected) << name;
    excluded += expected ? 0 : 1;
  }
  EXPECT_GT(excluded, 10);
}

TEST(AdamW, SkipsParametersWithoutGradientAndZeroGradZeroes) {
  auto params = leaf_clones(tiny_params());
  AdamW adam(params, AdamWOptions{});
  const auto before = leaf_clones(params);
  params[0].second.mutable_grad() = torch::ones_like(params[0].second);
  adam.step(1e-2);
  EXPECT_FALSE(torch::equal(params[0].second, before[0].second));
  EXPECT_TRUE(torch::equal(params[1].second, before[1].second));
  EXPECT_TRUE(torch::equal(params[2].second, before[2].second));
  const NamedTensors state = adam.state();
  for (const auto& [name, tensor] : state) {
    if (name == "exp_avg.encoder.fc1.bias" || name == "exp_avg_sq.encoder.fc1.bias") {
      EXPECT_EQ(tensor.abs().sum().item<float>(), 0.0f) << name;
    }
  }
  adam.zero_grad();
  ASSERT_TRUE(params[0].second.grad().defined());
  EXPECT_EQ(params[0].second.grad().abs().sum().item<float>(), 0.0f);
  EXPECT_FALSE(params[1].second.grad().defined());
}

class AdamWStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(DGR_TEST_TMP_DIR) /
           ("training_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(AdamWStateTest, StateRoundTripContinuesIdentically) {
  AdamWOptions options;
  options.weight_decay = 0.1;
  auto params = leaf_clones(tiny_params());
  AdamW adam(params, options);
  for (int t = 1; t <= 3; ++t) {
    set_gradients(params, t);
    adam.step(1e-2);
  }
  const NamedTensors state = adam.state();
  ASSERT_EQ(state.size(), 7u);
  EXPECT_EQ(state[0].first, "exp_avg.encoder.fc1.weight");
  EXPECT_EQ(state[3].first, "exp_avg_sq.encoder.fc1.weight");
  EXPECT_EQ(state[6].first, "step");
  EXPECT_EQ(state[6].second.dim(), 0);
  EXPECT_EQ(state[6].second.scalar_type(), torch::kLong);
  EXPECT_EQ(state[0].second.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(state[0].second.device().is_cpu());

  // Through a file, as a checkpoint stores it.
  const std::string path = (dir_ / "optimizer.safetensors").string();
  write_safetensors(path, state);
  auto resumed_params = leaf_clones(params);
  AdamW resumed(resumed_params, options);
  resumed.load_state(read_safetensors(path), path);
  EXPECT_EQ(resumed.steps(), 3);
  for (int t = 4; t <= 6; ++t) {
    set_gradients(params, t);
    set_gradients(resumed_params, t);
    adam.step(1e-2);
    resumed.step(1e-2);
  }
  for (size_t k = 0; k < params.size(); ++k) {
    EXPECT_TRUE(torch::equal(params[k].second, resumed_params[k].second)) << params[k].first;
  }
}

TEST_F(AdamWStateTest, LoadStateRejectsMissingAndMisshapenTensorsNamingThem) {
  auto params = leaf_clones(tiny_params());
  AdamW adam(params, AdamWOptions{});
  set_gradients(params, 1);
  adam.step(1e-2);
  const NamedTensors good = adam.state();

  AdamW fresh(leaf_clones(params), AdamWOptions{});
  auto expect_error = [&](const NamedTensors& state, const std::string& tensor) {
    try {
      fresh.load_state(state, "run/optimizer.safetensors");
      ADD_FAILURE() << "no error for " << tensor;
    } catch (const DataError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("run/optimizer.safetensors"), std::string::npos) << what;
      EXPECT_NE(what.find(tensor), std::string::npos) << what;
    }
    EXPECT_EQ(fresh.steps(), 0);  // nothing was loaded
  };

  NamedTensors missing = good;
  missing.erase(missing.begin() + 1);  // exp_avg.encoder.fc1.bias
  expect_error(missing, "exp_avg.encoder.fc1.bias");

  NamedTensors misshapen = good;
  misshapen[3].second = torch::zeros({3, 2});
  expect_error(misshapen, "exp_avg_sq.encoder.fc1.weight");

  NamedTensors no_step(good.begin(), good.end() - 1);
  expect_error(no_step, "step");

  // Moments of parameters this optimizer does not hold are ignored (a ZeRO-1 shard).
  NamedTensors extra = good;
  extra.emplace_back("exp_avg.other.weight", torch::zeros({2}));
  fresh.load_state(extra, "extra");
  EXPECT_EQ(fresh.steps(), 1);
}

// --------------------------------------------------------------------------------- RNG state

TEST(RngState, RestoringReplaysTheSameRandomNumbers) {
  torch::manual_seed(123);
  torch::randn({5});
  const std::string state = serialize_rng_state();
  EXPECT_GT(state.size(), 100u);
  const torch::Tensor first = torch::randn({8});
  const torch::Tensor perm = torch::randperm(20);
  torch::manual_seed(999);
  restore_rng_state(state);
  EXPECT_TRUE(torch::equal(torch::randn({8}), first));
  EXPECT_TRUE(torch::equal(torch::randperm(20), perm));

  EXPECT_THROW(restore_rng_state("abc"), DataError);
  EXPECT_THROW(restore_rng_state(std::string(state.size(), 'z')), DataError);
  EXPECT_THROW(restore_rng_state("abcd"), DataError);  // not a generator state's size
}

// ---------------------------------------------------------------------------------- autocast

// One forward + backward of a dropout-free tiny BART in `precision`: the mean token loss and
// every gradient, flattened.
struct StepResult {
  double loss = 0;
  torch::ScalarType logits_dtype = torch::kFloat32;
  torch::Tensor gradient;
};

StepResult tiny_step(BartModel& model, Precision precision) {
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(17);
  const torch::Tensor ids = torch::randint(4, 64, {4, 12}, gen, torch::kLong);
  const torch::Tensor mask = torch::ones_like(ids);
  const torch::Tensor dec = torch::randint(4, 64, {4, 8}, gen, torch::kLong);
  const torch::Tensor labels = torch::randint(4, 64, {4, 8}, gen, torch::kLong);
  model->zero_grad();
  StepResult out;
  torch::Tensor loss;
  {
    const AutocastScope autocast(precision, torch::kCPU);
    const torch::Tensor logits = model->forward(ids, mask, dec);
    out.logits_dtype = logits.scalar_type();
    loss = label_smoothed_cross_entropy(logits, labels, 0.1).loss / labels.numel();
  }
  loss.backward();
  out.loss = loss.item<double>();
  std::vector<torch::Tensor> grads;
  for (const auto& p : model->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat32);  // the master weights stay fp32
    EXPECT_EQ(p.grad().scalar_type(), torch::kFloat32);
    grads.push_back(p.grad().flatten());
  }
  out.gradient = torch::cat(grads);
  return out;
}

// bf16 autocast runs the matrix products in bfloat16 (8 significant bits: a relative rounding
// of at most 2^-9 per operand) with fp32 accumulation, and keeps softmax, the loss and the
// weights in fp32. The rounding errors of a product's operands are independent, so they perturb
// each output by about 2^-9 of its scale, not more; through the tiny model's two layers the loss
// (about log 64 at initialisation) moves by well under 1% and the gradient keeps its direction
// (cosine > 0.999; about 1e-5 and 1 - 3e-6 where this was written). The bounds come from bf16's
// precision, so any fp32 BLAS kernel's rounding is far inside them.
TEST(Autocast, Bf16StepIsFiniteAndCloseToTheFp32Step) {
  torch::manual_seed(5);
  BartConfig config = BartConfig::preset("tiny", 64);
  config.dropout = config.attention_dropout = config.activation_dropout = 0.0;
  BartModel model(config);
  model->train();

  const StepResult fp32 = tiny_step(model, Precision::kFloat32);
  const StepResult bf16 = tiny_step(model, Precision::kBFloat16);
  EXPECT_EQ(fp32.logits_dtype, torch::kFloat32);
  EXPECT_EQ(bf16.logits_dtype, torch::kBFloat16);  // the scope did cast the products
  ASSERT_TRUE(std::isfinite(bf16.loss));
  ASSERT_TRUE(torch::isfinite(bf16.gradient).all().item<bool>());
  EXPECT_NEAR(bf16.loss, fp32.loss, 0.01 * std::abs(fp32.loss));
  const double cosine =
      torch::dot(bf16.gradient.to(torch::kFloat64), fp32.gradient.to(torch::kFloat64))
          .item<double>() /
      (fp32.gradient.to(torch::kFloat64).norm().item<double>() *
       bf16.gradient.to(torch::kFloat64).norm().item<double>());
  EXPECT_GT(cosine, 0.999);

  // The scope restored fp32 outside it, and dropped its cached bf16 weights: a changed weight
  // changes the next bf16 step (a stale cache would compute the same loss).
  EXPECT_EQ(torch::mm(torch::ones({2, 2}), torch::ones({2, 2})).scalar_type(), torch::kFloat32);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters())
      p.mul_(1.5);
  }
  EXPECT_NE(tiny_step(model, Precision::kBFloat16).loss, bf16.loss);
}

TEST(Autocast, PrecisionNamesAreFp32AndBf16) {
  EXPECT_EQ(parse_precision("fp32", "train.precision"), Precision::kFloat32);
  EXPECT_EQ(parse_precision("bf16", "train.precision"), Precision::kBFloat16);
  try {
    parse_precision("fp16", "train.precision");
    FAIL() << "fp16 accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("train.precision is \"fp16\": expected fp32 or bf16"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace dgr::model
