// The bucketed gradient reducer against the plain way (all-reduce every gradient, divide by the
// world size): same averaged gradients with many small buckets or one huge one, with and without
// overlap; a layout that covers every parameter once, in reverse order; gradient accumulation over
// micro-batches; parameters unused on some or all ranks; and the global norm clipping. Each rank
// feeds its own inputs, so the averages differ from every rank's local gradient.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <set>
#include <stdexcept>
#include <vector>

#include "distributed/communicator.h"
#include "distributed/gradient_reducer.h"
#include "tests/distributed/mpi_test_env.h"

namespace dgr::distributed {
namespace {

using test_env::context;

// A few Linear layers plus one that only some forward passes use.
struct NetImpl : torch::nn::Module {
  NetImpl() {
    torch::manual_seed(1234);  // the same initial weights on every rank and in every instance
    first = register_module("first", torch::nn::Linear(8, 32));
    second = register_module("second", torch::nn::Linear(32, 32));
    optional = register_module("optional", torch::nn::Linear(32, 32));
    last = register_module("last", torch::nn::Linear(32, 3));
  }
  torch::Tensor forward(const torch::Tensor& x, bool use_optional = false) {
    torch::Tensor h = torch::tanh(first(x));  // [B, 32]
    h = torch::tanh(second(h));
    if (use_optional) h = torch::tanh(optional(h));
    return last(h);  // [B, 3]
  }
  torch::nn::Linear first{nullptr}, second{nullptr}, optional{nullptr}, last{nullptr};
};
TORCH_MODULE(Net);

// Per-rank inputs: [batch, 8].
torch::Tensor inputs(int rank, int64_t batch, int salt = 0) {
  torch::manual_seed(100 + 17 * rank + salt);
  return torch::randn({batch, 8});
}

// A sum over samples, so micro-batch gradients add up to the whole batch's gradient.
torch::Tensor loss_of(Net& net, const torch::Tensor& x, bool use_optional = false) {
  return net->forward(x, use_optional).pow(2).sum();
}

// The reference: each rank's plain gradients (zero where a parameter got none), all-reduced one
// by one and divided by the world size.
std::vector<torch::Tensor> plain_average(Net& net, Communicator& comm) {
  std::vector<torch::Tensor> grads;
  for (auto& p : net->parameters()) {
    torch::Tensor g = p.grad().defined() ? p.grad().clone().contiguous() : torch::zeros_like(p);
    comm.all_reduce(g.data_ptr(), static_cast<size_t>(g.numel()), DataType::kFloat32,
                    ReduceOp::kSum);
    grads.push_back(g / comm.size());
  }
  return grads;
}

void expect_grads_equal(Net& net, const std::vector<torch::Tensor>& expected) {
  const auto params = net->parameters();
  ASSERT_EQ(params.size(), expected.size());
  for (size_t i = 0; i < params.size(); ++i) {
    ASSERT_TRUE(params[i].grad().defined()) << "parameter " << i;
    const double diff = (params[i].grad() - expected[i]).abs().max().item<double>();
    EXPECT_LE(diff, 1e-6) << "parameter " << i;
  }
}

std::unique_ptr<Communicator> make_mpi() {
  return make_communicator("mpi", context());
}

struct Case {
  double bucket_mb;
  bool overlap;
};

TEST(GradientReducer, BucketedAverageEqualsPlainAllReduce) {
  auto comm = make_mpi();
  const int rank = comm->rank();
  // ~1.2k floats per bucket: several buckets; 1000 MiB: one.
  for (const Case& c : {Case{0.005, true}, Case{0.005, false}, Case{1000, true}}) {
    Net reference;
    Net net;
    GradientReducer reducer(net->parameters(), *comm, {c.bucket_mb, c.overlap});
    if (c.bucket_mb < 1) {
      EXPECT_GT(reducer.bucket_count(), 2u);
    } else {
      EXPECT_EQ(reducer.bucket_count(), 1u);
    }
    torch::optim::SGD optimizer(net->parameters(), 0.0);
    for (int step = 0; step < 3; ++step) {
      const torch::Tensor x = inputs(rank, 6, step);
      reference->zero_grad();
      loss_of(reference, x, /*use_optional=*/true).backward();
      const auto expected = plain_average(reference, *comm);

      optimizer.zero_grad();  // not needed, but must not break the bucket views
      reducer.begin_step(true);
      loss_of(net, x, /*use_optional=*/true).backward();
      // With overlap, the hooks have started every bucket during backward.
      EXPECT_EQ(reducer.buckets_launched(), c.overlap ? reducer.bucket_count() : 0u);
      reducer.finish();
      expect_grads_equal(net, expected);
      EXPECT_GE(reducer.last_comm_seconds(), 0.0);
      EXPECT_GE(reducer.last_exposed_seconds(), 0.0);
    }
  }
}

// bf16 compression: a bucket travels as bfloat16 and each pair of ranks' values is added in
// float32 and rounded once. On 2 ranks that is exactly round(bf16(g0) + bf16(g1)) / 2, which the
// test builds from a float32 all-reduce of the bf16-rounded gradients (one float32 addition, as
// the MPI operation makes); against the float32 average it is off by at most two bf16 roundings
// (2^-8 of the largest value each).
TEST(GradientReducer, Bf16CompressionRoundsEachRanksGradientAndTheSumOnce) {
  auto comm = make_mpi();
  const int rank = comm->rank();
  for (const bool overlap : {true, false}) {
    Net reference;
    Net net;
    GradientReducerOptions options;
    options.bucket_mb = 0.005;
    options.overlap = overlap;
    options.bf16_compression = true;
    GradientReducer reducer(net->parameters(), *comm, options);
    const torch::Tensor x = inputs(rank, 6);
    reference->zero_grad();
    loss_of(reference, x, true).backward();
    const auto fp32 = plain_average(reference, *comm);
    reducer.begin_step(true);
    loss_of(net, x, true).backward();
    reducer.finish();
    const auto params = net->parameters();
    const auto ref_params = reference->parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      torch::Tensor rounded = ref_params[i].grad().to(torch::kBFloat16).to(torch::kFloat32);
      comm->all_reduce(rounded.data_ptr(), static_cast<size_t>(rounded.numel()), DataType::kFloat32,
                       ReduceOp::kSum);
      const torch::Tensor expected =
          rounded.to(torch::kBFloat16).to(torch::kFloat32) / comm->size();
      if (comm->size() <= 2) {
        EXPECT_TRUE(torch::equal(params[i].grad(), expected)) << "parameter " << i;
      }
      const double scale = fp32[i].abs().max().item<double>() + 1e-30;
      EXPECT_LE((params[i].grad() - fp32[i]).abs().max().item<double>(),
                2 * std::ldexp(scale, -8) * comm->size())
          << "parameter " << i;
    }
  }
  GradientReducerOptions sharded;
  sharded.shard = true;
  sharded.bf16_compression = true;
  Net other;
  EXPECT_THROW(GradientReducer(other->parameters(), *comm, sharded), std::invalid_argument);
}

TEST(GradientReducer, WithoutAveragingGradientsAreSummed) {
  auto comm = make_mpi();
  const torch::Tensor x = inputs(comm->rank(), 5);
  Net reference;
  loss_of(reference, x, true).backward();
  auto expected = plain_average(reference, *comm);
  for (auto& g : expected)
    g *= comm->size();

  Net net;
  GradientReducerOptions options;
  options.bucket_mb = 0.005;
  options.average = false;
  GradientReducer reducer(net->parameters(), *comm, options);
  reducer.begin_step(true);
  loss_of(net, x, true).backward();
  reducer.finish();
  const auto params = net->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_LE((params[i].grad() - expected[i]).abs().max().item<double>(), 2e-6)
        << "parameter " << i;
  }
}

TEST(GradientReducer, LayoutCoversEveryParameterOnceInReverseOrder) {
  auto comm = make_mpi();
  Net net;
  const auto params = net->parameters();
  const double bucket_mb = 0.005;
  const auto bucket_floats = static_cast<int64_t>(bucket_mb * 1024 * 1024 / sizeof(float));
  GradientReducer reducer(params, *comm, {bucket_mb, true});

  std::vector<size_t> order;
  for (size_t b = 0; b < reducer.bucket_count(); ++b) {
    const auto& bucket = reducer.layout()[b];
    ASSERT_FALSE(bucket.empty());
    int64_t offset = 0;
    for (const BucketSlot& slot : bucket) {
      EXPECT_EQ(slot.offset, offset);
      EXPECT_EQ(slot.numel, params[slot.param].numel());
      offset += slot.numel;
      order.push_back(slot.param);
    }
    EXPECT_EQ(reducer.bucket_buffer(b).numel(), offset);
    EXPECT_EQ(reducer.bucket_buffer(b).scalar_type(), torch::kFloat32);
    // Full up to the cap, unless a single parameter is larger than a bucket.
    if (bucket.size() > 1) {
      EXPECT_LE(offset, bucket_floats);
    }
  }
  ASSERT_EQ(order.size(), params.size());
  const std::set<size_t> distinct(order.begin(), order.end());
  EXPECT_EQ(distinct.size(), params.size());
  for (size_t k = 0; k < order.size(); ++k)
    EXPECT_EQ(order[k], params.size() - 1 - k);
}

TEST(GradientReducer, TwoMicroBatchesEqualTheConcatenatedBatch) {
  auto comm = make_mpi();
  const int rank = comm->rank();
  const torch::Tensor x1 = inputs(rank, 4, 1);
  const torch::Tensor x2 = inputs(rank, 5, 2);

  Net reference;
  loss_of(reference, torch::cat({x1, x2})).backward();
  const auto expected = plain_average(reference, *comm);

  for (bool overlap : {true, false}) {
    Net net;
    GradientReducer reducer(net->parameters(), *comm, {0.005, overlap});
    for (int step = 0; step < 2; ++step) {  // the second step must restart from zero
      reducer.begin_step(/*sync=*/false);
      loss_of(net, x1).backward();
      reducer.begin_step(/*sync=*/true);
      loss_of(net, x2).backward();
      reducer.finish();
      const auto params = net->parameters();
      for (size_t i = 0; i < params.size(); ++i) {
        ASSERT_TRUE(params[i].grad().defined());
        const double scale = expected[i].abs().max().item<double>() + 1.0;
        EXPECT_LE((params[i].grad() - expected[i]).abs().max().item<double>(), 1e-5 * scale)
            << "parameter " << i << " step " << step;
      }
    }
  }
}

TEST(GradientReducer, UnusedParametersGetAveragedZerosWithoutHanging) {
  auto comm = make_mpi();
  const int rank = comm->rank();
  const torch::Tensor x = inputs(rank, 3);
  // Unused on every rank, then used only on rank 0 (the others contribute zeros).
  for (bool used_on_rank0 : {false, true}) {
    const bool use = used_on_rank0 && rank == 0;
    Net reference;
    loss_of(reference, x, use).backward();
    const auto expected = plain_average(reference, *comm);

    Net net;
    net->optional->weight.mutable_grad() = torch::full_like(net->optional->weight, 7.0f);
    GradientReducer reducer(net->parameters(), *comm, {0.005, true});
    reducer.begin_step(true);
    loss_of(net, x, use).backward();
    // The bucket of `optional` (and those after it) wait for finish() where it was not used.
    EXPECT_EQ(reducer.buckets_launched() == reducer.bucket_count(), use);
    reducer.finish();
    expect_grads_equal(net, expected);
    if (!used_on_rank0) {
      EXPECT_EQ(net->optional->weight.grad().abs().max().item<float>(), 0.0f);
      EXPECT_EQ(net->optional->bias.grad().abs().max().item<float>(), 0.0f);
    }
  }
}

TEST(GradientReducer, GradientsSetToNoneStillReachTheBuckets) {
  auto comm = make_mpi();
  const int rank = comm->rank();
  const torch::Tensor x = inputs(rank, 4);
  Net reference;
  loss_of(reference, x).backward();
  const auto expected = plain_average(reference, *comm);

  Net net;
  GradientReducer reducer(net->parameters(), *comm, {0.005, true});
  reducer.begin_step(true);
  net->zero_grad(/*set_to_none=*/true);  // autograd then hands over fresh tensors
  loss_of(net, x).backward();
  reducer.finish();
  expect_grads_equal(net, expected);
}

TEST(GradientReducer, ClipGradNormMatchesTheHandComputedNormOnEveryRank) {
  auto comm = make_mpi();
  const int rank = comm->rank();
  Net net;
  GradientReducer reducer(net->parameters(), *comm, {0.005, true});
  reducer.begin_step(true);
  loss_of(net, inputs(rank, 8), true).backward();
  reducer.finish();

  double squares = 0.0;
  for (auto& p : net->parameters())
    squares += p.grad().to(torch::kFloat64).pow(2).sum().item<double>();
  const double by_hand = std::sqrt(squares);
  ASSERT_GT(by_hand, 0.0);

  // Above the norm: nothing changes.
  EXPECT_NEAR(reducer.clip_grad_norm(by_hand * 2), by_hand, 1e-6 * by_hand);
  // Below: returns the norm before clipping, and the gradients are scaled to max_norm.
  const double max_norm = by_hand / 4;
  const double norm = reducer.clip_grad_norm(max_norm);
  EXPECT_NEAR(norm, by_hand, 1e-6 * by_hand);
  double clipped = 0.0;
  for (auto& p : net->parameters())
    clipped += p.grad().to(torch::kFloat64).pow(2).sum().item<double>();
  EXPECT_NEAR(std::sqrt(clipped), max_norm, 1e-5 * max_norm);

  // The very same value on every rank.
  double low = norm;
  double high = norm;
  comm->all_reduce(&low, 1, DataType::kFloat64, ReduceOp::kMin);
  comm->all_reduce(&high, 1, DataType::kFloat64, ReduceOp::kMax);
  EXPECT_EQ(low, high);
}

TEST(GradientReducer, MisusedStepsAreLogicErrors) {
  auto comm = make_mpi();
  Net net;
  GradientReducer reducer(net->parameters(), *comm, {0.005, true});
  EXPECT_THROW(reducer.finish(), std::logic_error);
  EXPECT_THROW(reducer.clip_grad_norm(1.0), std::logic_error);
  reducer.begin_step(false);
  EXPECT_THROW(reducer.finish(), std::logic_error);  // no synchronising micro-batch yet
  reducer.begin_step(true);
  EXPECT_THROW(reducer.begin_step(true), std::logic_error);  // finish() first
  reducer.finish();  // nothing was computed: every bucket is all-reduced as zeros
  for (auto& p : net->parameters()) {
    EXPECT_EQ(p.grad().abs().max().item<float>(), 0.0f);
  }
}

}  // namespace
}  // namespace dgr::distributed
