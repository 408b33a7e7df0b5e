// The data-parallel training's options (distributed/training_options.h): the warm-up as steps or
// as a fraction of the steps, and the checks that name the refused option by its key. (No MPI
// needed; the test joins the torch-free distributed binary.)
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "core/util/error.h"
#include "distributed/training_options.h"

namespace dgr::distributed {
namespace {

std::string refusal(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(TrainingOptions, WarmupIsStepsOrARatioOfTheSteps) {
  TrainOptions o;
  o.warmup_steps = 7;
  EXPECT_EQ(warmup_steps(o, 1900), 7);
  o.warmup_ratio = 0.1;  // the paper's 10%
  EXPECT_EQ(warmup_steps(o, 1900), 190);
  EXPECT_EQ(warmup_steps(o, 15), 2);  // 1.5 rounds half away from zero
  o.max_steps = 50;
  EXPECT_EQ(training_steps(o, 1000, "examples"), 50);
}

TEST(TrainingOptions, ARatioOutOfRangeOrLeavingNoStepsIsRefusedByItsKey) {
  TrainOptions o;
  const config::KeyScope keys(o, "train");
  for (const double bad : {-0.1, 1.0, std::nan("")}) {
    o.warmup_ratio = bad;
    EXPECT_EQ(refusal([&] { check_training_options(o, 1); }).rfind("train.warmup_ratio must be", 0),
              0u)
        << bad;
  }
  o.warmup_ratio = 0.95;
  o.max_steps = 10;
  EXPECT_EQ(refusal([&] { training_steps(o, 1000, "examples"); }),
            "train.warmup_ratio (10 warm-up steps) must be smaller than the 10 training steps "
            "when train.decay is linear");
  o.decay = "constant";
  EXPECT_EQ(training_steps(o, 1000, "examples"), 10);
}

TEST(TrainingOptions, TheBatchMustSplitIntoRanksAndMicroBatches) {
  TrainOptions o;
  const config::KeyScope keys(o, "train");
  o.global_batch = 6;
  o.micro_batch = 2;
  EXPECT_EQ(refusal([&] { check_training_options(o, 2); }),
            "train.global_batch (6) must be a multiple of ranks x train.micro_batch (2 x 2)");
  o.global_batch = 8;
  EXPECT_EQ(refusal([&] { check_training_options(o, 2); }), "");
  EXPECT_EQ(refusal([&] { training_steps(o, 7, "examples of s.h5"); }),
            "train.global_batch (8) is larger than the 7 examples of s.h5");
}

}  // namespace
}  // namespace dgr::distributed
