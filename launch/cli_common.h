// What every subcommand shares: an optional YAML config, `--set key=value` overrides and flags
// for its common inputs (`--corpus`, `--qrels`, `--run`, `--out`, ...) that override the config,
// so one-off use needs no config file. Also the table of subcommands `main` dispatches to.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/index/views.h"
#include "launch/experiment_config.h"

namespace dgr::distributed {
class MpiContext;
}

namespace dgr::cli {

// A flag that overrides one config key.
struct InputFlag {
  std::string flag;  // "--qrels"
  std::string key;   // "data.qrels"
  std::string help;
};

// The input flags subcommands pick from.
extern const InputFlag kCorpusFlag;
extern const InputFlag kQueriesFlag;
extern const InputFlag kQrelsFlag;
extern const InputFlag kRunFlag;
extern const InputFlag kOutFlag;
extern const InputFlag kAnswersFlag;
extern const InputFlag kDatasetFlag;
extern const InputFlag kTokenizerFlag;
extern const InputFlag kIndexFlag;
extern const InputFlag kPseudoQueriesFlag;
extern const InputFlag kInitFromFlag;
extern const InputFlag kRetrieveRunFlag;

// Registers CONFIG, --set and the given flags on a subcommand and resolves them later.
class ConfigInputs {
 public:
  void attach(CLI::App* command, const std::vector<InputFlag>& flags,
              bool config_positional = true);
  // Loads, overrides, binds; throws ConfigError / IoError with file and line.
  ResolvedConfig resolve() const;
  // As `dgr train` resolves it: resolve(), then again with the overrides of the stage it
  // trains (pipeline.stage1 or pipeline.distill, by train.stage) between the file and the --set
  // assignments, as the pipeline applies them. So distillation trains with its own values by
  // any entry point, and an explicit --set still wins. ConfigError when the overrides change
  // train.stage.
  ResolvedConfig resolve_training() const;
  const std::string& config_path() const { return config_path_; }

 private:
  std::vector<std::pair<std::string, std::string>> flag_overrides() const;
  std::string config_path_;
  std::vector<std::string> sets_;
  std::vector<InputFlag> flags_;
  std::map<std::string, std::string> values_;  // flag -> value given
};

// Process-wide options given before the subcommand.
struct GlobalOptions {
  std::string argv0 = "dgr";
  std::string log_dir;
  bool verbose = false;
};

// Starts rank-aware logging once the command's config is known: per-rank files go to
// --log-dir, else run.log_dir, else <run.out>/logs.
void start_logging(const ResolvedConfig& config, const distributed::MpiContext& mpi,
                   const GlobalOptions& global);

// train.overlap ("auto" | "true" | "false") for a rank with `threads` compute threads: auto is
// true with the nccl backend or when ranks_on_node x threads leaves a core free for the
// communication thread, false when the cores are fully used.
bool resolve_overlap(const std::string& overlap, const std::string& backend, int threads,
                     int ranks_on_node);

// ConfigError, before any work, when the gradient backend cannot all-reduce where the model
// lives (model.device): MPI reduces host memory, NCCL GPU memory.
void check_backend_device(const distributed::TrainingOptions& o, const std::string& device);

// What a training takes from the rest of the run (directories, device, seed, resolved config);
// the overlap is the caller's (resolve_overlap, once the threads are known).
distributed::TrainingRun training_run(const ResolvedConfig& config,
                                      const distributed::MpiContext& mpi);

// What a subcommand needs to run once parsed.
struct Command {
  bool needs_mpi = true;  // false for commands that only print (config, version)
  std::function<int(distributed::MpiContext*)> run;
};

// Each subcommand registers itself and, when it is the one parsed, sets `selected`.
void add_config_command(CLI::App& app, Command& selected);
void add_version_command(CLI::App& app, Command& selected);
void add_eval_run_command(CLI::App& app, Command& selected, const GlobalOptions& global);
void add_tokenizer_command(CLI::App& app, Command& selected, const GlobalOptions& global);
void add_index_command(CLI::App& app, Command& selected, const GlobalOptions& global);
void add_model_command(CLI::App& app, Command& selected, const GlobalOptions& global);
void add_retrieve_command(CLI::App& app, Command& selected, const GlobalOptions& global);
void add_examples_command(CLI::App& app, Command& selected, const GlobalOptions& global);
void add_train_command(CLI::App& app, Command& selected, const GlobalOptions& global);
void add_teacher_command(CLI::App& app, Command& selected, const GlobalOptions& global);
void add_report_command(CLI::App& app, Command& selected, const GlobalOptions& global);
void add_pipeline_command(CLI::App& app, Command& selected, const GlobalOptions& global);
void add_teacher_train_commands(CLI::App& teacher_app, Command& selected,
                                const GlobalOptions& global);

}  // namespace dgr::cli
