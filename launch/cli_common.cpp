#include "launch/cli_common.h"

#include <filesystem>
#include <thread>

#include "core/util/logging.h"
#include "distributed/device_placement.h"
#include "distributed/mpi_context.h"

namespace dgr::cli {

const InputFlag kCorpusFlag{"--corpus", "data.corpus", "Corpus file (data.corpus)"};
const InputFlag kQueriesFlag{"--queries", "data.queries", "Queries jsonl (data.queries)"};
const InputFlag kQrelsFlag{"--qrels", "data.qrels", "Qrels: BEIR .tsv or TREC (data.qrels)"};
const InputFlag kRunFlag{"--run", "eval.run", "TREC run file (eval.run)"};
const InputFlag kOutFlag{"--out", "run.out", "Output directory (run.out)"};
const InputFlag kAnswersFlag{"--answers", "data.answers", "Answers jsonl (data.answers)"};
const InputFlag kDatasetFlag{"--dataset", "data.dataset", "BEIR dataset directory (data.dataset)"};
const InputFlag kTokenizerFlag{"--tokenizer", "tokenizer.dir",
                               "Directory with vocab.json + merges.txt (tokenizer.dir)"};
const InputFlag kIndexFlag{"--index", "index.dir", "Index directory (index.dir)"};
const InputFlag kRetrieveRunFlag{"--run", "retrieve.run",
                                 "Run file to write (retrieve.run; default <out>/run.trec)"};
const InputFlag kInitFromFlag{"--init-from", "model.init_from",
                              "Checkpoint directory, Hugging Face layout (model.init_from)"};
const InputFlag kPseudoQueriesFlag{"--pseudo-queries", "data.pseudo_queries",
                                   "Pseudo-queries jsonl (data.pseudo_queries)"};

void ConfigInputs::attach(CLI::App* command, const std::vector<InputFlag>& flags,
                          bool config_positional) {
  if (config_positional) {
    command->add_option("config", config_path_, "YAML experiment config (optional)")
        ->check(CLI::ExistingFile);
  }
  command->add_option("--set", sets_, "Override a config key: --set eval.mrr_at=10 (repeatable)")
      ->take_all()
      ->expected(1);
  flags_ = flags;
  for (const auto& flag : flags_) {
    command->add_option(flag.flag, values_[flag.flag], flag.help);
  }
}

std::vector<std::pair<std::string, std::string>> ConfigInputs::flag_overrides() const {
  std::vector<std::pair<std::string, std::string>> overrides;
  for (const auto& flag : flags_) {
    auto it = values_.find(flag.flag);
    if (it != values_.end() && !it->second.empty()) overrides.emplace_back(flag.key, it->second);
  }
  return overrides;
}

ResolvedConfig ConfigInputs::resolve() const {
  return resolve_config(config_path_, sets_, flag_overrides());
}

ResolvedConfig ConfigInputs::resolve_training() const {
  ResolvedConfig plain = resolve();
  const ExperimentConfig& o = plain.options;
  const bool distill = o.train.stage == "distill";
  const std::vector<std::string>& stage = distill ? o.pipeline.distill : o.pipeline.stage1;
  if (stage.empty()) return plain;
  std::vector<std::string> sets = stage;
  sets.insert(sets.end(), sets_.begin(), sets_.end());
  ResolvedConfig staged = resolve_config(config_path_, sets, flag_overrides());
  if (staged.options.train.stage != o.train.stage) {
    throw ConfigError(std::string(distill ? "pipeline.distill" : "pipeline.stage1") +
                      " sets train.stage to " + staged.options.train.stage +
                      ": a stage's overrides cannot change the stage they are for");
  }
  return staged;
}

void start_logging(const ResolvedConfig& config, const distributed::MpiContext& mpi,
                   const GlobalOptions& global) {
  std::string dir = global.log_dir;
  if (dir.empty()) dir = config.options.run.log_dir;
  if (dir.empty()) dir = (std::filesystem::path(config.options.run.out) / "logs").string();
  init_logging(global.argv0.c_str(), mpi.rank(), mpi.size(), dir, global.verbose);
}

bool resolve_overlap(const std::string& overlap, const std::string& backend, int threads,
                     int ranks_on_node) {
  if (overlap == "true") return true;
  if (overlap == "false") return false;
  if (backend == "nccl") return true;  // the collectives run on the GPU's stream
  const auto cores = static_cast<int>(std::thread::hardware_concurrency());
  return cores > 0 && ranks_on_node * threads < cores;
}

distributed::TrainingRun training_run(const ResolvedConfig& config,
                                      const distributed::MpiContext& mpi) {
  const ExperimentConfig& o = config.options;
  distributed::TrainingRun run;
  run.run_dir = o.run.out;
  run.init_from = o.model.init_from;
  const distributed::DevicePlacement placement =
      distributed::place_rank_device(mpi, o.model.device, "model.device");
  run.device = placement.device;
  run.cuda_index = placement.cuda_index;
  run.config_yaml = config.yaml;
  run.config_hash = config.hash;
  run.seed = static_cast<uint64_t>(o.run.seed);
  run.progress_interval_s = o.run.progress_interval_s;
  return run;
}

void check_backend_device(const distributed::TrainingOptions& o, const std::string& device) {
  const std::string backend = config::key_name(config::option_key(o, o.backend));
  const bool cuda = device.rfind("cuda", 0) == 0;
  if (cuda && o.backend == "mpi") {
    throw ConfigError(backend + " is mpi but model.device is " + device +
                      ": MPI all-reduces host memory; set " + backend +
                      ": nccl for a model on GPUs (or model.device: cpu)");
  }
  if (!cuda && o.backend == "nccl") {
    throw ConfigError(backend + " is nccl but model.device is " + device +
                      ": NCCL all-reduces GPU memory; set model.device: cuda (or " + backend +
                      ": mpi)");
  }
}

}  // namespace dgr::cli
