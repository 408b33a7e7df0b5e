// train_log.jsonl (distributed/training_setup.h's TrainLog) under mpirun -np 2: rank 0 writes,
// the others write nothing, and a line that cannot be written (a full disk) is an IoError naming
// the file, not a line lost silently.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/util/error.h"
#include "distributed/training_setup.h"
#include "tests/distributed/mpi_test_env.h"

namespace dgr::distributed {
namespace {

namespace fs = std::filesystem;
using test_env::context;

std::string tmp(const std::string& name) {
  return std::string(DGR_TEST_TMP_DIR) + "/train-log-" + name + "-r" +
         std::to_string(context().rank()) + "-" + std::to_string(::getpid());
}

TEST(TrainLog, OnlyTheWriterWritesAndResumingAppends) {
  const std::string dir = tmp("lines");
  fs::remove_all(dir);
  const bool writer = context().rank() == 0;
  {
    TrainLog log(dir, writer, /*append=*/false);
    log.write({{"step", 1}});
  }
  {
    TrainLog log(dir, writer, /*append=*/true);
    log.write({{"step", 2}});
  }
  const std::string path = dir + "/train_log.jsonl";
  if (!writer) {
    EXPECT_FALSE(fs::exists(path));
    return;
  }
  std::ifstream in(path);
  std::string first, second, rest;
  std::getline(in, first);
  std::getline(in, second);
  EXPECT_EQ(first, R"({"step":1})");
  EXPECT_EQ(second, R"({"step":2})");
  EXPECT_FALSE(std::getline(in, rest));
  fs::remove_all(dir);
}

TEST(TrainLog, FullDiskIsAnIoErrorNamingTheFile) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const std::string dir = tmp("full");
  fs::remove_all(dir);
  fs::create_directories(dir);
  // Every write to /dev/full fails with ENOSPC.
  fs::create_symlink("/dev/full", dir + "/train_log.jsonl");
  TrainLog log(dir, /*writer=*/true, /*append=*/true);
  try {
    log.write({{"step", 1}});
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/train_log.jsonl"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dgr::distributed
