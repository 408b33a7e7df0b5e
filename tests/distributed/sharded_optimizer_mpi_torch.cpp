// ZeRO-1 against the replicated optimizer, under mpirun -np 2: the reduce-scattered blocks are
// the plain average's slices; 20 sharded AdamW steps (with clipping, an unused parameter, buckets
// whose blocks cut parameters in two) leave the same parameters as the replicated AdamW; the
// assembled state has model::AdamW's names, shapes and values, and loads back (also a
// replicated optimizer's state into a sharded one) so that training goes on identically; each
// rank holds about 1/N of the moments; a state that does not fit is a DataError naming its source.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/model/training.h"
#include "core/util/error.h"
#include "distributed/communicator.h"
#include "distributed/gradient_reducer.h"
#include "distributed/sharded_optimizer.h"
#include "tests/distributed/mpi_test_env.h"

namespace dgr::distributed {
namespace {

using test_env::context;

struct NetImpl : torch::nn::Module {
  NetImpl() {
    torch::manual_seed(4321);  // the same initial weights on every rank and in every instance
    first = register_module("first", torch::nn::Linear(8, 33));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({33})));
    optional = register_module("optional", torch::nn::Linear(33, 33));
    last = register_module("last", torch::nn::Linear(33, 3));
  }
  torch::Tensor forward(const torch::Tensor& x, bool use_optional) {
    torch::Tensor h = norm(torch::tanh(first(x)));
    if (use_optional) h = torch::tanh(optional(h));
    return last(h);
  }
  torch::nn::Linear first{nullptr}, optional{nullptr}, last{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(Net);

torch::Tensor inputs(int rank, int step) {
  torch::manual_seed(500 + 31 * rank + step);
  return torch::randn({5, 8});
}

std::vector<std::string> names_of(Net& net) {
  std::vector<std::string> names;
  for (const auto& item : net->named_parameters())
    names.push_back(item.key());
  return names;
}

std::vector<std::pair<std::string, torch::Tensor>> named_of(Net& net) {
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& item : net->named_parameters())
    named.emplace_back(item.key(), item.value());
  return named;
}

model::AdamWOptions adam_options() {
  model::AdamWOptions options;
  options.weight_decay = 0.1;  // so that the decay / no-decay split matters
  return options;
}

// One training step of `net` through `reducer`; the optional layer is used on odd steps only.
double backward_step(Net& net, GradientReducer& reducer, int rank, int step) {
  reducer.begin_step(true);
  net->forward(inputs(rank, step), step % 2 == 1).pow(2).sum().backward();
  reducer.finish();
  return reducer.clip_grad_norm(0.5);
}

double max_difference(Net& a, Net& b) {
  const auto pa = a->parameters();
  const auto pb = b->parameters();
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i)
    worst = std::max(worst, (pa[i] - pb[i]).abs().max().item<double>());
  return worst;
}

GradientReducerOptions small_buckets(bool shard) {
  GradientReducerOptions options;
  options.bucket_mb = 0.002;  // ~520 floats: several buckets, blocks that split parameters
  options.shard = shard;
  return options;
}

TEST(ShardedAdamW, ReduceScatteredBlocksAreSlicesOfTheAverage) {
  auto comm = make_communicator("mpi", context());
  Net plain_net, sharded_net;
  GradientReducer plain(plain_net->parameters(), *comm, small_buckets(false));
  GradientReducer sharded(sharded_net->parameters(), *comm, small_buckets(true));
  ASSERT_GT(sharded.bucket_count(), 2u);
  ASSERT_EQ(plain.bucket_count(), sharded.bucket_count());
  backward_step(plain_net, plain, comm->rank(), 1);
  backward_step(sharded_net, sharded, comm->rank(), 1);
  for (size_t b = 0; b < sharded.bucket_count(); ++b) {
    const torch::Tensor& block = sharded.shard_buffer(b);
    const int64_t offset = sharded.shard_offset(b);
    EXPECT_EQ(sharded.bucket_buffer(b).numel() % comm->size(), 0) << "bucket " << b;
    EXPECT_EQ(block.numel() * comm->size(), sharded.bucket_buffer(b).numel());
    // The plain bucket has no padding: compare what it has, and zeros for the padding.
    const torch::Tensor& full = plain.bucket_buffer(b);
    const int64_t real = std::max<int64_t>(0, std::min(block.numel(), full.numel() - offset));
    if (real > 0) {
      EXPECT_LE(
          (block.narrow(0, 0, real) - full.narrow(0, offset, real)).abs().max().item<double>(),
          1e-6)
          << "bucket " << b;
    }
    if (real < block.numel()) {
      EXPECT_EQ(block.narrow(0, real, block.numel() - real).abs().max().item<double>(), 0.0);
    }
  }
}

TEST(ShardedAdamW, TwentyStepsEqualTheReplicatedOptimizer) {
  auto comm = make_communicator("mpi", context());
  const int rank = comm->rank();
  Net plain_net, sharded_net;
  GradientReducer plain(plain_net->parameters(), *comm, small_buckets(false));
  GradientReducer sharded(sharded_net->parameters(), *comm, small_buckets(true));
  model::AdamW replicated(named_of(plain_net), adam_options());
  ShardedAdamW zero(names_of(sharded_net), sharded, *comm, adam_options());

  for (int step = 0; step < 20; ++step) {
    const double lr = 1e-2 * (1.0 - step / 40.0);
    const double norm_plain = backward_step(plain_net, plain, rank, step);
    const double norm_sharded = backward_step(sharded_net, sharded, rank, step);
    EXPECT_NEAR(norm_plain, norm_sharded, 1e-5 * norm_plain) << "step " << step;
    replicated.step(lr);
    zero.step(lr);
  }
  EXPECT_EQ(zero.steps(), 20);
  EXPECT_LE(max_difference(plain_net, sharded_net), 1e-6);
  // The parameters moved (the test compares trained weights, not the initial ones).
  Net initial;
  EXPECT_GT(max_difference(initial, sharded_net), 1e-2);

  // The assembled state is the replicated one: names, order, shapes and values.
  const model::NamedTensors expected = replicated.state();
  const model::NamedTensors got = zero.state();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].first, expected[i].first);
    ASSERT_EQ(got[i].second.sizes(), expected[i].second.sizes()) << got[i].first;
    if (got[i].first == "step") {
      EXPECT_EQ(got[i].second.item<int64_t>(), 20);
    } else {
      EXPECT_LE((got[i].second - expected[i].second).abs().max().item<double>(), 1e-6)
          << got[i].first;
    }
  }
}

TEST(ShardedAdamW, LoadedStateContinuesLikeTheReplicatedOptimizer) {
  auto comm = make_communicator("mpi", context());
  const int rank = comm->rank();
  Net plain_net, sharded_net;
  GradientReducer plain(plain_net->parameters(), *comm, small_buckets(false));
  model::AdamW replicated(named_of(plain_net), adam_options());
  for (int step = 0; step < 5; ++step) {
    backward_step(plain_net, plain, rank, step);
    replicated.step(1e-2);
  }
  // A sharded optimizer takes over the replicated one's weights and state (a checkpoint written
  // without ZeRO, resumed with it).
  {
    torch::NoGradGuard no_grad;
    const auto from = plain_net->parameters();
    const auto to = sharded_net->parameters();
    for (size_t i = 0; i < from.size(); ++i)
      to[i].copy_(from[i]);
  }
  GradientReducer sharded(sharded_net->parameters(), *comm, small_buckets(true));
  ShardedAdamW zero(names_of(sharded_net), sharded, *comm, adam_options());
  zero.load_state(replicated.state(), "replicated");
  EXPECT_EQ(zero.steps(), 5);
  for (int step = 5; step < 10; ++step) {
    backward_step(plain_net, plain, rank, step);
    backward_step(sharded_net, sharded, rank, step);
    replicated.step(1e-2);
    zero.step(1e-2);
  }
  EXPECT_LE(max_difference(plain_net, sharded_net), 1e-6);
}

TEST(ShardedAdamW, EachRankHoldsItsShareOfTheMoments) {
  auto comm = make_communicator("mpi", context());
  Net net;
  GradientReducer sharded(net->parameters(), *comm, small_buckets(true));
  ShardedAdamW zero(names_of(net), sharded, *comm, adam_options());
  int64_t total = 0;
  for (const auto& p : net->parameters())
    total += p.numel();
  // 2 moments of ceil(bucket / N) elements per bucket.
  const int64_t bound = 2 * (total / comm->size() + static_cast<int64_t>(sharded.bucket_count()));
  EXPECT_LE(zero.local_state_elements(), bound);
  if (comm->size() > 1) {
    EXPECT_LT(zero.local_state_elements(), 2 * total);
  }
}

TEST(ShardedAdamW, StateThatDoesNotFitIsADataErrorNamingTheSource) {
  auto comm = make_communicator("mpi", context());
  Net net;
  GradientReducer sharded(net->parameters(), *comm, small_buckets(true));
  ShardedAdamW zero(names_of(net), sharded, *comm, adam_options());
  model::NamedTensors state = zero.state();
  state.erase(state.begin());  // exp_avg of the first parameter
  try {
    zero.load_state(state, "ckpt/optimizer.safetensors");
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("ckpt/optimizer.safetensors"), std::string::npos) << message;
    EXPECT_NE(message.find("exp_avg.first.weight"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace dgr::distributed
