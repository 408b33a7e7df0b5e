// Where a rank computes: the node-local rank spreads a node's ranks over its GPUs, an explicit
// cuda:N is honoured, and the communicator is created on the very index the model uses. These
// run without a GPU: the placement is a function of the rank and the visible count.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/model/torch_runtime.h"
#include "core/util/error.h"
#include "distributed/device_placement.h"
#include "distributed/training_options.h"
#include "tests/distributed/mpi_test_env.h"

namespace dgr::distributed {
namespace {

using test_env::context;

TEST(DevicePlacement, CudaSpreadsANodesRanksOverItsGpusByNodeRank) {
  // 8 ranks on a node with 4 GPUs: 0..3 then again 0..3 (and NCCL refuses the sharing later).
  std::vector<int> indices;
  for (int node_rank = 0; node_rank < 8; ++node_rank) {
    const DevicePlacement p = place_device("cuda", node_rank, 4, "model.device");
    indices.push_back(p.cuda_index);
    EXPECT_EQ(p.device, "cuda:" + std::to_string(p.cuda_index));
  }
  EXPECT_EQ(indices, (std::vector<int>{0, 1, 2, 3, 0, 1, 2, 3}));
  // A launcher that shows each rank only its own GPU: every rank takes index 0 of its one GPU.
  EXPECT_EQ(place_device("cuda", 5, 1, "model.device").device, "cuda:0");
}

TEST(DevicePlacement, AnExplicitIndexIsHonouredOnEveryRank) {
  for (int node_rank = 0; node_rank < 3; ++node_rank) {
    const DevicePlacement p = place_device("cuda:2", node_rank, 4, "model.device");
    EXPECT_EQ(p.device, "cuda:2");
    EXPECT_EQ(p.cuda_index, 2);
  }
}

TEST(DevicePlacement, CpuStaysOnTheCpuWhateverTheGpus) {
  const DevicePlacement p = place_device("cpu", 3, 8, "model.device");
  EXPECT_EQ(p.device, "cpu");
  EXPECT_EQ(p.cuda_index, -1);
}

TEST(DevicePlacement, ImpossibleRequestsAreConfigErrorsNamingTheKey) {
  auto message = [](const std::string& requested, int visible) {
    try {
      place_device(requested, 0, visible, "model.device");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("cuda", 0).find("model.device is cuda but this process sees no CUDA device"),
            std::string::npos)
      << message("cuda", 0);
  EXPECT_NE(message("cuda:1", 0).find("sees no CUDA device"), std::string::npos);
  EXPECT_NE(message("cuda:4", 4).find("only 4 CUDA device(s) are visible (cuda:0 .. cuda:3)"),
            std::string::npos)
      << message("cuda:4", 4);
  for (const std::string bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "CUDA", "cuda:1:2"}) {
    EXPECT_NE(message(bad, 4).find("expected cpu, cuda or cuda:N"), std::string::npos) << bad;
  }
}

TEST(DevicePlacement, RanksSharingAPhysicalGpuAreFoundByItsId) {
  EXPECT_EQ(first_shared_device({"a GPU 0000:1b:00.0", "a GPU 0000:1c:00.0", "b GPU 0000:1b:00.0"}),
            std::make_pair(-1, -1));
  EXPECT_EQ(first_shared_device({"a GPU 0000:1b:00.0", "a GPU 0000:1c:00.0", "a GPU 0000:1b:00.0",
                                 "a GPU 0000:1c:00.0"}),
            std::make_pair(0, 2));
  EXPECT_EQ(first_shared_device({}), std::make_pair(-1, -1));
}

// The run's placement on this job's ranks: CPU runs stay on the CPU; without a GPU a CUDA request
// is a ConfigError on every rank alike, before any model loads.
TEST(DevicePlacement, ThisRanksPlacementComesFromTheContext) {
  const DevicePlacement cpu = place_rank_device(context(), "cpu", "model.device");
  EXPECT_EQ(cpu.device, "cpu");
  EXPECT_NE(placement_line(context(), cpu)
                .find("node rank " + std::to_string(context().node_rank()) + " of " +
                      std::to_string(context().ranks_on_node()) + "): cpu"),
            std::string::npos)
      << placement_line(context(), cpu);
  const int visible = model::visible_cuda_devices();
  if (visible == 0) {
    EXPECT_THROW(place_rank_device(context(), "cuda", "model.device"), ConfigError);
  } else {
    const DevicePlacement gpu = place_rank_device(context(), "cuda", "model.device");
    EXPECT_EQ(gpu.cuda_index, context().node_rank() % visible);
  }
}

// The options the GPU path adds are validated with the rest of the training's.
TEST(TrainingOptionsGpu, ATimeoutBelowZeroIsRefusedAndPrecisionIsAChoice) {
  TrainingOptions o;
  EXPECT_EQ(o.precision, "fp32");
  EXPECT_TRUE(o.tf32);
  EXPECT_EQ(o.collective_timeout_s, 600);
  o.collective_timeout_s = -1;
  EXPECT_THROW(check_training_options(o, 1), ConfigError);
  o.collective_timeout_s = 0;
  EXPECT_NO_THROW(check_training_options(o, 1));
  o.grad_compression = "bf16";
  EXPECT_NO_THROW(check_training_options(o, 1));
  o.zero_stage = 1;  // bf16 all-reduces, ZeRO-1 reduce-scatters
  EXPECT_THROW(check_training_options(o, 1), ConfigError);
}

}  // namespace
}  // namespace dgr::distributed
