// The GPU path, checked where a CUDA GPU is visible (launch/gpu-check.sh runs these on a lent
// machine; elsewhere every test skips): a training step on the GPU equals the CPU step, a bf16
// step is finite and close, the NCCL communicator all-reduces and reduce-scatters on one rank,
// training resumes exactly on the GPU (weights, AdamW and the CUDA generator), and beam search
// on the GPU finds the CPU's keys. The binary owns MPI (the NCCL bootstrap needs it); run it
// directly for one rank. DGR_GPU_TESTS_ON_CPU=1 runs them without a GPU with the CPU in the GPU's
// place (NCCL skipped): a check of the tests themselves, not of the GPU path.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/model/bart.h"
#include "core/model/bart_config.h"
#include "core/model/bart_generator.h"
#include "core/model/training.h"
#include "core/search/beam_search.h"
#include "core/search/token_constraint.h"
#include "distributed/communicator.h"
#include "distributed/mpi_context.h"
#include "tests/common/search_results.h"

namespace dgr {
namespace {

distributed::MpiContext* g_mpi = nullptr;

bool on_cpu_instead() {
  const char* flag = std::getenv("DGR_GPU_TESTS_ON_CPU");
  return !torch::cuda::is_available() && flag != nullptr && std::string(flag) == "1";
}

#define REQUIRE_GPU()                                                                        \
  do {                                                                                       \
    if (!torch::cuda::is_available() && !on_cpu_instead()) GTEST_SKIP() << "no CUDA device"; \
  } while (0)

// The device under test: cuda:0, or the CPU standing in for it.
torch::Device gpu_device() {
  return on_cpu_instead() ? torch::Device(torch::kCPU) : gpu_device();
}

std::string save_generator() {
  return on_cpu_instead() ? model::serialize_rng_state() : model::serialize_cuda_rng_state(0);
}

void restore_generator(const std::string& state) {
  if (on_cpu_instead()) {
    model::restore_rng_state(state);
  } else {
    model::restore_cuda_rng_state(0, state);
  }
}

using model::BartConfig;
using model::BartModel;
using model::Precision;

// A dropout-free tiny BART with fixed weights, on `device`.
BartModel tiny_model(const torch::Device& device, double dropout = 0.0) {
  torch::manual_seed(21);
  BartConfig config = BartConfig::preset("tiny", 96);
  config.dropout = dropout;
  config.attention_dropout = config.activation_dropout = 0.0;
  BartModel model(config);
  model->to(device);
  model->train();
  return model;
}

struct Batch {
  torch::Tensor ids, mask, dec, labels;
  Batch to(const torch::Device& d) const {
    return {ids.to(d), mask.to(d), dec.to(d), labels.to(d)};
  }
};

Batch fixed_batch() {
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(29);
  Batch b;
  b.ids = torch::randint(4, 96, {6, 14}, gen, torch::kLong);
  b.mask = torch::ones_like(b.ids);
  b.dec = torch::randint(4, 96, {6, 9}, gen, torch::kLong);
  b.labels = torch::randint(4, 96, {6, 9}, gen, torch::kLong);
  return b;
}

std::vector<std::pair<std::string, torch::Tensor>> named(BartModel& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : m->named_parameters(true))
    out.emplace_back(item.key(), item.value());
  return out;
}

// One forward, backward and AdamW step; returns the mean token loss.
double train_step(BartModel& m, model::AdamW& adam, const Batch& b, Precision precision,
                  torch::DeviceType type) {
  m->zero_grad();
  torch::Tensor loss;
  {
    const model::AutocastScope autocast(precision, type);
    loss =
        model::label_smoothed_cross_entropy(m->forward(b.ids, b.mask, b.dec), b.labels, 0.1).loss /
        b.labels.numel();
  }
  loss.backward();
  adam.step(1e-3);
  return loss.item<double>();
}

// The largest absolute difference between two models' weights.
double max_weight_gap(BartModel& a, BartModel& b) {
  double gap = 0;
  auto pa = a->parameters();
  auto pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    gap = std::max(gap, (pa[i].detach().cpu() - pb[i].detach().cpu()).abs().max().item<double>());
  }
  return gap;
}

// fp32 on the GPU (TF32 off) only reorders the sums of the CPU step: losses agree to about 1e-6
// relative, and one AdamW step at lr 1e-3 moves a weight by at most ~1e-3, so the weights agree
// far inside 1e-5.
TEST(Gpu, CudaTrainingStepEqualsTheCpuStep) {
  REQUIRE_GPU();
  model::set_tf32_matmul(false);
  const Batch batch = fixed_batch();
  BartModel cpu = tiny_model(torch::kCPU);
  BartModel gpu = tiny_model(gpu_device());
  model::AdamW cpu_adam(named(cpu), model::AdamWOptions{});
  model::AdamW gpu_adam(named(gpu), model::AdamWOptions{});
  const double cpu_loss = train_step(cpu, cpu_adam, batch, Precision::kFloat32, torch::kCPU);
  const double gpu_loss =
      train_step(gpu, gpu_adam, batch.to(gpu_device()), Precision::kFloat32, gpu_device().type());
  EXPECT_NEAR(gpu_loss, cpu_loss, 1e-5 * std::abs(cpu_loss));
  EXPECT_LT(max_weight_gap(cpu, gpu), 1e-5);
  model::set_tf32_matmul(true);
}

// bf16 autocast on the GPU: finite, and the loss within 1% of fp32's (bf16 rounds each operand
// to 2^-9; tests/model/training_test.cpp reasons the same bound on the CPU).
TEST(Gpu, Bf16StepIsFiniteAndCloseToFp32) {
  REQUIRE_GPU();
  const torch::Device cuda = gpu_device();
  const Batch batch = fixed_batch().to(cuda);
  BartModel fp32 = tiny_model(cuda);
  BartModel bf16 = tiny_model(cuda);
  model::AdamW a(named(fp32), model::AdamWOptions{});
  model::AdamW b(named(bf16), model::AdamWOptions{});
  const double l32 = train_step(fp32, a, batch, Precision::kFloat32, gpu_device().type());
  const double l16 = train_step(bf16, b, batch, Precision::kBFloat16, gpu_device().type());
  ASSERT_TRUE(std::isfinite(l16));
  EXPECT_NEAR(l16, l32, 0.01 * std::abs(l32));
  for (const auto& p : bf16->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
  }
}

// NCCL on one rank: the sum and the average of one rank are the buffer itself, the
// reduce-scatter of one block is a copy, and the asynchronous all-reduce completes by wait().
TEST(Gpu, NcclAllReduceAndReduceScatterOnOneRank) {
  REQUIRE_GPU();
  if (!distributed::nccl_available() || on_cpu_instead()) GTEST_SKIP() << "no NCCL here";
  auto comm = distributed::make_communicator("nccl", *g_mpi, 0, 60);
  const torch::Tensor values =
      torch::arange(1000, torch::dtype(torch::kFloat32).device(gpu_device()));
  torch::Tensor sum = values.clone();
  comm->all_reduce(sum.data_ptr(), sum.numel(), distributed::DataType::kFloat32,
                   distributed::ReduceOp::kSum);
  EXPECT_TRUE(torch::equal(sum, values * g_mpi->size()));
  torch::Tensor avg = values.clone();
  comm->all_reduce_async(avg.data_ptr(), avg.numel(), distributed::DataType::kFloat32,
                         distributed::ReduceOp::kAvg)
      ->wait();
  EXPECT_TRUE(torch::allclose(avg, values));
  torch::Tensor part = torch::empty({1000 / g_mpi->size()}, values.options());
  comm->reduce_scatter(values.data_ptr(), part.data_ptr(), part.numel(),
                       distributed::DataType::kFloat32, distributed::ReduceOp::kSum);
  EXPECT_TRUE(torch::equal(part, values.narrow(0, 0, part.numel()) * g_mpi->size()));
  comm->barrier();
}

// Exact resume on the GPU: a run stopped after 3 steps and restored from its weights, AdamW
// state and CUDA generator (dropout on) goes on bit for bit as the uninterrupted run.
TEST(Gpu, ResumedTrainingOnTheGpuEqualsTheUninterruptedRun) {
  REQUIRE_GPU();
  const torch::Device cuda = gpu_device();
  const Batch batch = fixed_batch().to(cuda);
  BartModel full = tiny_model(cuda, 0.1);
  model::AdamW full_adam(named(full), model::AdamWOptions{});
  torch::manual_seed(5);
  for (int i = 0; i < 3; ++i)
    train_step(full, full_adam, batch, Precision::kFloat32, gpu_device().type());
  // The checkpoint after step 3.
  std::vector<std::pair<std::string, torch::Tensor>> saved_weights;
  for (const auto& [name, t] : named(full))
    saved_weights.emplace_back(name, t.detach().clone());
  model::NamedTensors optimizer;  // state() shares the live moments: keep copies
  for (const auto& [name, t] : full_adam.state())
    optimizer.emplace_back(name, t.clone());
  const std::string cuda_rng = save_generator();
  for (int i = 0; i < 3; ++i)
    train_step(full, full_adam, batch, Precision::kFloat32, gpu_device().type());

  BartModel resumed = tiny_model(cuda, 0.1);
  {
    torch::NoGradGuard no_grad;
    auto params = resumed->named_parameters(true);
    for (const auto& [name, t] : saved_weights) {
      torch::Tensor* p = params.find(name);
      ASSERT_NE(p, nullptr) << name;
      p->copy_(t);
    }
  }
  model::AdamW resumed_adam(named(resumed), model::AdamWOptions{});
  resumed_adam.load_state(optimizer, "the step-3 state");
  torch::manual_seed(999);  // whatever the process drew meanwhile
  restore_generator(cuda_rng);
  for (int i = 0; i < 3; ++i)
    train_step(resumed, resumed_adam, batch, Precision::kFloat32, gpu_device().type());
  EXPECT_EQ(max_weight_gap(full, resumed), 0.0);
}

// Beam search over the model on the GPU finds the keys the CPU finds, with scores equal to
// float rounding (the same weights; only the summation order of the kernels differs).
TEST(Gpu, BeamSearchOnTheGpuEqualsTheCpu) {
  REQUIRE_GPU();
  model::set_tf32_matmul(false);
  BartModel cpu_model = tiny_model(torch::kCPU);
  cpu_model->eval();
  BartModel gpu_model = tiny_model(gpu_device());
  gpu_model->eval();
  model::BartGenerator cpu(cpu_model);
  model::BartGenerator gpu(gpu_model);
  const std::vector<std::vector<search::TokenId>> queries = {{5, 9, 11, 30}, {40, 41}, {7}};
  search::ViewPrompt body;
  body.max_length = 5;
  search::BeamSearchOptions options;
  options.beam_size = 4;
  search::NoConstraint open_a, open_b;
  testing::expect_same_results(search::beam_search(cpu, open_a, queries, {body}, options),
                               search::beam_search(gpu, open_b, queries, {body}, options), 1e-4);
  model::set_tf32_matmul(true);
}

}  // namespace
}  // namespace dgr

int main(int argc, char** argv) {
  dgr::distributed::MpiContext mpi(&argc, &argv);
  dgr::g_mpi = &mpi;
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
