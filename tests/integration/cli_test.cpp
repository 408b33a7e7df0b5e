// The command line: help lists only working subcommands, version reports the stack, config
// errors are printed once with file and line and end every rank with a non-zero exit.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/integration/command.h"

namespace dgr {
namespace {

using testing::dgr;
using testing::mpirun;
using testing::run_command;

TEST(Cli, HelpListsTheSubcommands) {
  auto result = run_command(dgr() + " --help");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  for (const char* command : {"version", "config", "eval-run"}) {
    EXPECT_NE(result.output.find(command), std::string::npos) << command;
  }
}

TEST(Cli, SubcommandHelpListsItsFlags) {
  auto result = run_command(dgr() + " eval-run --help");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  for (const char* flag : {"--qrels", "--run", "--out", "--set", "--answers", "--corpus"}) {
    EXPECT_NE(result.output.find(flag), std::string::npos) << flag;
  }
}

TEST(Cli, UnknownSubcommandIsAUsageError) {
  auto result = run_command(dgr() + " no-such-command");
  EXPECT_NE(result.exit_code, 0);
}

TEST(Cli, VersionReportsTorchBlasMpiAndNccl) {
  auto result = run_command(dgr() + " version");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  for (const char* item : {"torch:", "blas:", "mpi:", "hdf5:", "nccl:", "Release"}) {
    EXPECT_NE(result.output.find(item), std::string::npos) << item << "\n" << result.output;
  }
  auto json = run_command(dgr() + " version --json");
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_NE(json.output.find("\"torch\""), std::string::npos);
  // NCCL reduces torch's device tensors: a build against a CPU-only torch has no NCCL, whatever
  // CUDA toolkit the machine has.
  // A torch that sees a GPU was built with CUDA.
  if (json.output.find("\"cuda\": \"not available\"") == std::string::npos) {
    EXPECT_NE(json.output.find("\"torch_cuda_build\": \"yes\""), std::string::npos) << json.output;
  }
  if (json.output.find("\"torch_cuda_build\": \"no\"") != std::string::npos) {
    EXPECT_NE(json.output.find("\"nccl\": \"not available (torch has no CUDA)\""),
              std::string::npos)
        << json.output;
    // Nor does it load any CUDA library, whatever toolkit the build machine has.
    auto libraries = run_command(std::string("ldd ") + DGR_EXE);
    EXPECT_EQ(libraries.exit_code, 0) << libraries.output;
    for (const char* cuda : {"libcudart", "libnccl", "libcuda.so", "libcublas"}) {
      EXPECT_EQ(libraries.output.find(cuda), std::string::npos) << cuda << "\n" << libraries.output;
    }
  } else {
    EXPECT_NE(json.output.find("\"torch_cuda_build\": \"yes\""), std::string::npos) << json.output;
  }
}

TEST(Cli, ConfigDocsMatchesTheCommittedReference) {
  auto result = run_command(dgr() + " config docs");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.output.find("| `eval.mrr_at` | int | `10` |"), std::string::npos);
}

// `dgr train --stage distill` trains with pipeline.distill's values outside the pipeline too
// (between the file and --set), as `dgr config show --training` shows: the stage-1 values of the
// one train section no longer leak into distillation.
TEST(Cli, TrainingResolvesTheStagesOverridesBeforeSet) {
  std::filesystem::path dir = std::filesystem::path(DGR_TEST_TMP_DIR) / "cli-stage-overrides";
  std::filesystem::create_directories(dir);
  const std::string config = (dir / "stages.yaml").string();
  std::ofstream(config) << "train:\n  lr: 3.0e-5\n  clip_norm: 0.1\npipeline:\n"
                           "  stage1: [train.lr=1e-3]\n"
                           "  distill: [train.lr=1e-5, train.clip_norm=1.0]\n";
  // "\n  lr:" is train.lr itself (two spaces deep; train.copy.lr and teacher.train.lr are four).
  auto show = [&](const std::string& extra) {
    auto result = run_command(dgr() + " config show " + config + " " + extra);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    return result.output;
  };
  const std::string plain = show("--set train.stage=distill");
  EXPECT_NE(plain.find("\n  lr: 3e-05\n"), std::string::npos) << plain;
  const std::string distill = show("--training --set train.stage=distill");
  EXPECT_NE(distill.find("\n  lr: 1e-05\n"), std::string::npos) << distill;
  EXPECT_NE(distill.find("\n  clip_norm: 1.0\n"), std::string::npos) << distill;
  const std::string stage1 = show("--training");
  EXPECT_NE(stage1.find("\n  lr: 0.001\n"), std::string::npos) << stage1;
  EXPECT_NE(stage1.find("\n  clip_norm: 0.1\n"), std::string::npos) << stage1;
  const std::string explicit_set = show("--training --set train.stage=distill --set train.lr=2e-5");
  EXPECT_NE(explicit_set.find("\n  lr: 2e-05\n"), std::string::npos) << explicit_set;
  // Overrides that would switch the stage are refused.
  std::ofstream(config) << "pipeline:\n  stage1: [train.stage=distill]\n";
  auto refused = run_command(dgr() + " config show --training " + config);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("pipeline.stage1 sets train.stage to distill"), std::string::npos)
      << refused.output;
}

TEST(Cli, BadConfigUnderMpiEndsEveryRankWithFileAndLine) {
  std::filesystem::path dir = std::filesystem::path(DGR_TEST_TMP_DIR) / "cli-bad-config";
  std::filesystem::create_directories(dir);
  std::string config = (dir / "bad.yaml").string();
  std::ofstream(config) << "eval:\n  mrr_at: 10\n  recal_at: [5]\n";
  auto result = run_command("timeout 60 " + mpirun(2) + dgr() + " eval-run " + config);
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_NE(result.exit_code, 124) << "timed out: a rank hung\n" << result.output;
  EXPECT_NE(result.output.find(config + ":3: unknown key 'eval.recal_at'; did you mean "
                                        "'eval.recall_at'?"),
            std::string::npos)
      << result.output;
}

TEST(Cli, MissingRequiredInputsAreNamedWithTheirFlags) {
  auto result = run_command(dgr() + " eval-run --out " + std::string(DGR_TEST_TMP_DIR) + "/x");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("missing required key 'eval.run'"), std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("--run"), std::string::npos) << result.output;
}

TEST(Cli, MissingInputFileIsNamed) {
  std::string data = std::string(DGR_SHARED_DATA_DIR) + "/msmarco-dl19";
  auto result = run_command(dgr() + " eval-run --qrels " + data + "/qrels/test.tsv --run " + data +
                            "/runs/no-such-run.trec --out " + DGR_TEST_TMP_DIR + "/y");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("no-such-run.trec"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace dgr
