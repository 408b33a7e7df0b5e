// `dgr examples build` (stage-1 examples: query -> title / body span / pseudo-query, plus corpus
// examples, into an HDF5 store) and `dgr train` (the data-parallel trainer over that store; run
// under mpirun, resumes from the latest checkpoint, exports the model in Hugging Face layout).
#include <glog/logging.h>

#include <filesystem>
#include <iomanip>
#include <iostream>

#include "core/eval/qrels.h"
#include "core/index/manifest.h"
#include "core/index/views.h"
#include "core/model/safetensors.h"
#include "core/model/torch_runtime.h"
#include "core/text/bpe_tokenizer.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/memory.h"
#include "data/answers.h"
#include "data/dataset.h"
#include "data/stage1_examples.h"
#include "distributed/distill_trainer.h"
#include "distributed/mpi_context.h"
#include "distributed/trainer.h"
#include "launch/cli_common.h"
#include "teacher/distillation.h"

namespace dgr::cli {
namespace {

namespace fs = std::filesystem;

std::string examples_path(const ExperimentConfig& o) {
  return o.examples.path.empty() ? (fs::path(o.run.out) / "stage1_examples.h5").string()
                                 : o.examples.path;
}

int examples_build(distributed::MpiContext& mpi, const ResolvedConfig& config,
                   const GlobalOptions& global) {
  const config::KeyScope option_keys(config.options);  // components' errors name their keys
  require_keys(config, {{"data.corpus", "--corpus or --dataset"},
                        {"data.queries", "--queries or --dataset"},
                        {"tokenizer.dir", "--tokenizer"}});
  const ExperimentConfig& o = config.options;
  const index::ViewOptions views = distributed::view_options(o.index);
  // The training split's judgments (data.qrels is the evaluated split).
  const std::string qrels_path = training_qrels_path(o.data, "examples");
  start_logging(config, mpi, global);
  // Generation reads the corpus once and is cheap next to training: rank 0 does it.
  if (mpi.is_root()) {
    const data::Corpus corpus = data::load_corpus(o.data.corpus, o.data.corpus_format);
    const data::Queries queries = data::load_queries(o.data.queries);
    const eval::Qrels qrels = data::read_qrels(qrels_path);
    data::PseudoQueries pseudo_queries;
    if (!o.data.pseudo_queries.empty()) {
      pseudo_queries = data::read_pseudo_queries(o.data.pseudo_queries);
    }
    const text::BpeTokenizer tokenizer = text::BpeTokenizer::load(o.tokenizer.dir);
    data::Stage1Inputs inputs;
    inputs.corpus = &corpus;
    inputs.queries = &queries;
    inputs.qrels = &qrels;
    inputs.pseudo_queries = o.data.pseudo_queries.empty() ? nullptr : &pseudo_queries;
    inputs.tokenizer = &tokenizer;
    inputs.views = views;
    inputs.max_query_length = o.search.max_query_length;
    inputs.seed = static_cast<uint64_t>(o.run.seed);
    data::Stage1Stats stats;
    const std::vector<data::Stage1Example> examples =
        data::make_stage1_examples(inputs, o.examples, &stats);
    const std::string path = examples_path(o);
    if (auto parent = fs::path(path).parent_path(); !parent.empty()) {
      ensure_directory(parent.string());
    }
    data::write_stage1_examples(path, examples,
                                {{"tokenizer_hash", tokenizer.hash()},
                                 {"config_hash", config.hash},
                                 {"qrels", qrels_path},
                                 {"corpus", o.data.corpus}});
    write_resolved_config(config, fs::path(path).parent_path().string().empty()
                                      ? "."
                                      : fs::path(path).parent_path().string());
    std::cout << "wrote " << path << ": " << examples.size() << " examples (" << stats.supervised
              << " from " << stats.queries_used << " training queries, " << stats.unsupervised
              << " from the corpus; ";
    bool first = true;
    for (const auto& [view, count] : stats.per_view) {
      std::cout << (first ? "" : ", ") << view << " " << count;
      first = false;
    }
    std::cout << ")";
    if (stats.queries_without_positive) {
      std::cout << "; " << stats.queries_without_positive << " judged queries without a positive";
    }
    if (stats.unknown_passages) {
      std::cout << "; " << stats.unknown_passages << " judged passages not in the corpus";
    }
    std::cout << "\n";
  }
  mpi.barrier();
  return 0;
}

// About the disk one checkpoint of a model trained from `init_from` takes, for the pre-flight
// check of the run directory: the weights and AdamW's two moments, all float32 whatever dtype
// init_from stores (3 x 4 bytes per parameter), the tokenizer files a checkpoint copies, and
// 16 MiB for the small files (configs, trainer state, checksums) and the run's logs. Not counted:
// the final export and the older checkpoints train.keep_last keeps, so this is a floor, enough
// to catch a disk that cannot hold even one save. Without init_from's weights only the margin
// (the model's loader then names the missing file).
uint64_t checkpoint_bytes(const std::string& init_from) {
  const fs::path dir(init_from);
  uint64_t bytes = 16ull << 20;
  if (!file_exists((dir / "model.safetensors").string())) return bytes;
  bytes +=
      3 * sizeof(float) *
      safetensors_value_count(model::read_safetensors_header((dir / "model.safetensors").string()));
  for (const char* name : {"vocab.json", "merges.txt"}) {
    std::error_code ec;
    const uintmax_t size = fs::file_size(dir / name, ec);
    if (!ec) bytes += size;
  }
  return bytes;
}

// `dgr train` with train.stage distill: DGR stage 2 on the distillation set.
int distill(distributed::MpiContext& mpi, const ResolvedConfig& config,
            const GlobalOptions& global) {
  require_keys(config, {{"model.init_from", "--init-from"}, {"index.dir", "--index"}});
  const ExperimentConfig& o = config.options;
  const TrainOptions& t = o.train;
  const DistillOptions& d = o.distill;
  distributed::DistillInputs inputs;
  inputs.set_path = d.set.empty() ? o.teacher.out : d.set;
  if (inputs.set_path.empty()) {
    throw ConfigError(
        "train.stage distill: no distillation set (set distill.set, or teacher.out as `dgr "
        "teacher rank` wrote it)");
  }
  if (!file_exists(inputs.set_path)) {
    throw IoError(inputs.set_path + ": no distillation set (run `dgr teacher rank` first)");
  }
  inputs.examples_path = d.lambda_gen > 0 ? examples_path(o) : "";
  if (!inputs.examples_path.empty() && !file_exists(inputs.examples_path)) {
    throw IoError(inputs.examples_path +
                  ": no stage-1 example store for the generation loss (run `dgr examples build` "
                  "with this config, set examples.path, or distill.lambda_gen: 0)");
  }
  // The index gives the keys' corpus size, the counts of the view start markers (N of title
  // and pseudo-query keys) and the views' prompts; the set must come from it.
  index::Manifest manifest =
      index::Manifest::read((fs::path(o.index.dir) / "manifest.yaml").string());
  teacher::open_distill_set(inputs.set_path, {o.data.corpus, o.index.dir});
  inputs.tokenizer_dir = (fs::path(o.index.dir) / "tokenizer").string();
  const text::BpeTokenizer tokenizer = text::BpeTokenizer::load(inputs.tokenizer_dir);
  const index::ViewMarkers markers = index::encode_markers(tokenizer, manifest.views);
  if (!manifest.view_starts_known) {
    if (mpi.is_root()) {
      LOG(WARNING) << o.index.dir << "/manifest.yaml predates title_starts / pq_starts: counting "
                   << "them in the shards (rebuild the index with `dgr index build` to record "
                   << "them)";
    }
    index::fill_view_starts(o.index.dir, manifest, markers);
  }
  inputs.corpus_tokens = manifest.num_tokens;
  inputs.title_positions = manifest.title_starts;
  inputs.pq_positions = manifest.pq_starts;
  inputs.title_prefix = markers.title_start;
  inputs.title_end = markers.title_end;
  inputs.pq_prefix = markers.pq_start;
  inputs.pq_end = markers.pq_end;
  inputs.max_query_length = o.search.max_query_length;
  search::check_scoring_options(o.scoring);
  inputs.scoring = o.scoring;
  check_backend_device(t, o.model.device);
  distributed::check_distill(t, d, inputs, mpi.size());
  distributed::TrainingRun run = training_run(config, mpi);

  // Pre-flight: a run directory that cannot take a checkpoint fails now, not at the first save;
  // rank 0's IoError ends every rank (run_on_all_ranks), the others wait in the barrier.
  if (mpi.is_root()) check_output_directory(o.run.out, checkpoint_bytes(o.model.init_from));
  mpi.barrier();
  start_logging(config, mpi, global);
  const int threads = model::configure_threads(o.run.threads, mpi.ranks_on_node());
  run.overlap = resolve_overlap(t.overlap, t.backend, threads, mpi.ranks_on_node());
  LOG_IF(INFO, mpi.is_root()) << "distilling on " << mpi.size() << " rank(s) x " << threads
                              << " thread(s), global batch " << t.global_batch << " queries, lr "
                              << t.lr << " (with pipeline.distill's " << o.pipeline.distill.size()
                              << " override(s) before --set)";
  const distributed::DistillTrainReport report = distributed::train_distill(mpi, run, t, d, inputs);
  if (mpi.is_root()) {
    write_resolved_config(config, o.run.out);
    std::cout << std::setprecision(4) << "distilled steps " << report.first_step << " -> "
              << report.steps << " on " << mpi.size() << " rank(s) x " << threads
              << " thread(s) in " << report.seconds << " s: " << report.training_queries
              << " training queries (" << report.heldout_queries << " held out, "
              << report.unused_queries << " unused); loss " << report.first_loss << " -> "
              << report.final_loss << " (" << d.loss << " " << report.first_rank_loss << " -> "
              << report.final_rank_loss << ")";
    if (report.skipped_steps) {
      std::cout << "; " << report.skipped_steps << " non-finite steps skipped";
    }
    std::cout << "; " << report.queries_per_second << " queries/s; peak RSS "
              << format_bytes(report.peak_rss_bytes) << " per rank\n";
    if (!report.agreement.empty()) {
      const distributed::DistillAgreement& a = report.agreement.front();
      const distributed::DistillAgreement& b = report.agreement.back();
      std::cout << "held-out agreement with the teacher (" << a.queries << " queries): Kendall tau "
                << a.kendall_tau << " -> " << b.kendall_tau << ", nDCG@10 " << a.ndcg10 << " -> "
                << b.ndcg10 << ", MRR@10 " << a.mrr10 << " -> " << b.mrr10
                << " (stored candidate scores: tau " << a.stored_kendall_tau << ", nDCG@10 "
                << a.stored_ndcg10 << ", MRR@10 " << a.stored_mrr10 << ")\n";
    }
    std::cout << "wrote " << o.run.out << "/train_log.jsonl, checkpoints in " << o.run.out
              << "/checkpoints, model in " << report.export_dir << "\n";
  }
  return 0;
}

int train(distributed::MpiContext& mpi, const ResolvedConfig& config, const GlobalOptions& global) {
  const config::KeyScope option_keys(config.options);  // components' errors name their keys
  if (config.options.train.stage == "distill") return distill(mpi, config, global);
  require_keys(config, {{"model.init_from", "--init-from"}});
  const ExperimentConfig& o = config.options;
  const TrainOptions& t = o.train;
  const std::string examples = examples_path(o);
  check_backend_device(t, o.model.device);
  distributed::TrainingRun run = training_run(config, mpi);
  if (!file_exists(examples)) {
    throw IoError(examples +
                  ": no stage-1 example store (run `dgr examples build` with this config first, "
                  "or set examples.path)");
  }

  // Pre-flight: a run directory that cannot take a checkpoint fails now, not at the first save;
  // rank 0's IoError ends every rank (run_on_all_ranks), the others wait in the barrier.
  if (mpi.is_root()) check_output_directory(o.run.out, checkpoint_bytes(o.model.init_from));
  mpi.barrier();
  start_logging(config, mpi, global);
  const int threads = model::configure_threads(o.run.threads, mpi.ranks_on_node());
  run.overlap = resolve_overlap(t.overlap, t.backend, threads, mpi.ranks_on_node());
  LOG_IF(INFO, mpi.is_root()) << "training on " << mpi.size() << " rank(s) x " << threads
                              << " thread(s), global batch " << t.global_batch << ", lr " << t.lr
                              << " (with pipeline.stage1's " << o.pipeline.stage1.size()
                              << " override(s) before --set)"
                              << (run.overlap ? "; all-reduce overlaps backward"
                                              : "; all-reduce after backward");
  const distributed::TrainReport report = distributed::train_stage1(mpi, run, t, examples);
  if (mpi.is_root()) {
    write_resolved_config(config, o.run.out);
    std::cout << std::setprecision(4) << "trained steps " << report.first_step << " -> "
              << report.steps << " on " << mpi.size() << " rank(s) x " << threads
              << " thread(s) in " << report.seconds << " s: loss " << report.first_loss << " -> "
              << report.final_loss << "; " << report.samples_per_second << " samples/s, "
              << report.tokens_per_second << " target tokens/s; exposed communication "
              << 100 * report.exposed_comm_fraction << "% of step time; peak RSS "
              << format_bytes(report.peak_rss_bytes) << " per rank, AdamW state "
              << format_bytes(static_cast<uint64_t>(report.optimizer_state_bytes))
              << (t.zero_stage == 1 ? " (sharded)" : "") << " per rank\n";
    if (t.probe.examples > 0) {
      std::cout << "input probe (last): NLL gap true vs shuffled targets " << report.final_probe_gap
                << " nats/token, encoder output spread " << report.final_encoder_spread << "\n";
    }
    std::cout << "wrote " << o.run.out << "/train_log.jsonl, checkpoints in " << o.run.out
              << "/checkpoints, model in "
              << (t.export_dir.empty() ? o.run.out + "/model" : t.export_dir) << "\n";
  }
  return 0;
}

}  // namespace

void add_examples_command(CLI::App& app, Command& selected, const GlobalOptions& global) {
  CLI::App* examples = app.add_subcommand("examples", "Stage-1 training examples");
  examples->require_subcommand(1);
  auto inputs = std::make_shared<ConfigInputs>();
  CLI::App* build = examples->add_subcommand(
      "build",
      "Make stage-1 examples (query -> title / body span / pseudo-query, plus corpus examples) "
      "and write them to an HDF5 store (examples.path)");
  const InputFlag out_flag{"--out", "examples.path", "HDF5 file to write (examples.path)"};
  inputs->attach(build, {kDatasetFlag, kCorpusFlag, kQueriesFlag, kTokenizerFlag,
                         kPseudoQueriesFlag, out_flag});
  build->callback([inputs, &selected, &global] {
    selected.needs_mpi = true;
    selected.run = [inputs, &global](distributed::MpiContext* mpi) {
      return examples_build(*mpi, inputs->resolve(), global);
    };
  });
}

void add_train_command(CLI::App& app, Command& selected, const GlobalOptions& global) {
  auto inputs = std::make_shared<ConfigInputs>();
  CLI::App* command = app.add_subcommand(
      "train",
      "Train the generative retriever, data-parallel over MPI ranks: stage 1 on stage-1 examples, "
      "or (train.stage distill) DGR distillation on a distillation set; checkpoints, resumes, "
      "exports the model");
  const InputFlag examples_flag{"--examples", "examples.path", "Stage-1 example store"};
  const InputFlag set_flag{"--distill-set", "distill.set",
                           "Distillation set (train.stage distill; distill.set)"};
  const InputFlag stage_flag{"--stage", "train.stage", "stage1 or distill (train.stage)"};
  inputs->attach(command, {kInitFromFlag, examples_flag, kOutFlag, kIndexFlag, kDatasetFlag,
                           kCorpusFlag, set_flag, stage_flag});
  command->callback([inputs, &selected, &global] {
    selected.needs_mpi = true;
    selected.run = [inputs, &global](distributed::MpiContext* mpi) {
      return train(*mpi, inputs->resolve_training(), global);
    };
  });
}

}  // namespace dgr::cli
