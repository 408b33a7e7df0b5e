// launch/dgr-mpirun: the threads per rank follow the cores and ranks, ranks are bound to cores
// when they fit and oversubscribed when they do not, root gets OpenMPI's flags, and a real
// 2-rank run of dgr goes through it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "tests/integration/command.h"

namespace dgr {
namespace {

using testing::dgr;
using testing::run_command;

const std::string kLauncher = std::string(DGR_SOURCE_DIR) + "/launch/dgr-mpirun";

int cores() {
  auto result = run_command("nproc");
  return result.exit_code == 0 ? std::stoi(result.output) : 1;
}

TEST(DgrMpirun, ThreadsFollowCoresAndRanks) {
  const int n = cores();
  auto one = run_command("DGR_MPIRUN_DRY_RUN=1 " + kLauncher + " -np 1 prog --flag");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_NE(one.output.find("threads per rank: " + std::to_string(n) + " "), std::string::npos)
      << one.output;
  EXPECT_NE(one.output.find("--bind-to core"), std::string::npos) << one.output;
  EXPECT_NE(one.output.find("-np 1 prog --flag"), std::string::npos) << one.output;

  // More ranks than cores: one thread each, unbound, oversubscribed.
  const std::string many = std::to_string(n + 1);
  auto over = run_command("DGR_MPIRUN_DRY_RUN=1 " + kLauncher + " -np " + many + " prog");
  ASSERT_EQ(over.exit_code, 0) << over.output;
  EXPECT_NE(over.output.find("threads per rank: 1 "), std::string::npos) << over.output;
  EXPECT_NE(over.output.find("--oversubscribe --bind-to none"), std::string::npos) << over.output;

  auto forced = run_command("DGR_THREADS=3 DGR_MPIRUN_DRY_RUN=1 " + kLauncher + " -np 2 prog");
  EXPECT_NE(forced.output.find("threads per rank: 3 "), std::string::npos) << forced.output;
  EXPECT_EQ(over.output.find("--allow-run-as-root") != std::string::npos, ::geteuid() == 0)
      << over.output;
}

TEST(DgrMpirun, RunsDgrOnTwoRanksAndRejectsBadCounts) {
  // Every rank prints the ok line of a valid config.
  const std::string config = std::string(DGR_SOURCE_DIR) + "/configs/cranfield.yaml";
  auto run =
      run_command("timeout 120 " + kLauncher + " -np 2 " + dgr() + " config check " + config);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  size_t oks = 0;
  for (size_t at = run.output.find(": ok, config_hash"); at != std::string::npos;
       at = run.output.find(": ok, config_hash", at + 1))
    ++oks;
  EXPECT_EQ(oks, 2u) << run.output;

  auto bad = run_command(kLauncher + " -np two prog");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("positive integer, got 'two'"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace dgr
