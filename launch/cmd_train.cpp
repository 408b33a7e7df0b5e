// `dgr examples build` (stage-1 examples: query -> title / body span / pseudo-query, plus corpus
// examples, into an HDF5 store) and `dgr train` (the data-parallel trainer over that store; run
// under mpirun, resumes from the latest checkpoint, exports the model in Hugging Face layout).
#include <glog/logging.h>

#include <filesystem>
#include <iomanip>
#include <iostream>

#include "core/eval/qrels.h"
#include "core/model/torch_runtime.h"
#include "core/text/bpe_tokenizer.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/memory.h"
#include "data/answers.h"
#include "data/dataset.h"
#include "data/stage1_examples.h"
#include "distributed/mpi_context.h"
#include "distributed/trainer.h"
#include "launch/cli_common.h"

namespace dgr::cli {
namespace {

namespace fs = std::filesystem;

std::string examples_path(const ExperimentConfig& o) {
  return o.examples.path.empty() ? (fs::path(o.run.out) / "stage1_examples.h5").string()
                                 : o.examples.path;
}

int examples_build(distributed::MpiContext& mpi, const ResolvedConfig& config,
                   const GlobalOptions& global) {
  require_keys(config, {{"data.corpus", "--corpus or --dataset"},
                        {"data.queries", "--queries or --dataset"},
                        {"tokenizer.dir", "--tokenizer"}});
  const ExperimentConfig& o = config.options;
  const ExamplesOptions& e = o.examples;
  data::Stage1Options options;
  options.titles_per_query = e.titles_per_query;
  options.spans_per_query = e.spans_per_query;
  options.pseudo_queries_per_query = e.pseudo_queries_per_query;
  options.span_length = e.span_length;
  options.unsupervised = e.unsupervised;
  options.unsup_spans = e.unsup_spans;
  options.unsup_titles = e.unsup_titles;
  options.unsup_pseudo_queries = e.unsup_pseudo_queries;
  options.source_length = e.source_length;
  options.max_query_length = o.search.max_query_length;
  options.relevance_threshold = e.relevance_threshold;
  options.seed = static_cast<uint64_t>(o.run.seed);
  const index::ViewOptions views = index_view_options(o.index);
  // The training split's judgments (data.qrels is the evaluated split).
  std::string qrels_path = o.data.qrels;
  if (!o.data.dataset.empty()) {
    qrels_path = (fs::path(o.data.dataset) / "qrels" / (o.data.train_split + ".tsv")).string();
  }
  if (qrels_path.empty()) {
    throw ConfigError(
        "examples: no training judgments (set data.dataset with data.train_split, "
        "or data.qrels)");
  }
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
    data::Stage1Stats stats;
    const std::vector<data::Stage1Example> examples =
        data::make_stage1_examples(inputs, options, &stats);
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

int train(distributed::MpiContext& mpi, const ResolvedConfig& config, const GlobalOptions& global) {
  require_keys(config, {{"model.init_from", "--init-from"}});
  const ExperimentConfig& o = config.options;
  const TrainOptions& t = o.train;
  distributed::TrainJob job;
  job.examples_path = examples_path(o);
  job.init_from = o.model.init_from;
  job.run_dir = o.run.out;
  job.export_dir = t.export_dir;
  job.device = o.model.device;
  job.config_yaml = config.yaml;
  job.config_hash = config.hash;
  job.seed = static_cast<uint64_t>(o.run.seed);
  copy_data_parallel_options(t, job);
  job.label_smoothing = t.label_smoothing;
  job.checkpoint_every = t.checkpoint_every;
  job.keep_last = t.keep_last;
  job.backend = t.backend;
  job.resume = t.resume;
  job.progress_interval_s = o.run.progress_interval_s;
  if (!file_exists(job.examples_path)) {
    throw IoError(job.examples_path +
                  ": no stage-1 example store (run `dgr examples build` with this config first, "
                  "or set examples.path)");
  }

  if (mpi.is_root()) ensure_directory(o.run.out);
  mpi.barrier();
  start_logging(config, mpi, global);
  const int threads = model::configure_threads(o.run.threads, ranks_on_node(mpi));
  job.overlap = resolve_overlap(t.overlap, t.backend, threads, ranks_on_node(mpi));
  LOG_IF(INFO, mpi.is_root()) << "training on " << mpi.size() << " rank(s) x " << threads
                              << " thread(s), global batch " << t.global_batch
                              << (job.overlap ? "; all-reduce overlaps backward"
                                              : "; all-reduce after backward");
  const distributed::TrainReport report = distributed::train_stage1(mpi, job);
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
              << (t.zero_stage == 1 ? " (sharded)" : "") << " per rank\n"
              << "wrote " << o.run.out << "/train_log.jsonl, checkpoints in " << o.run.out
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
      "Train the generative retriever on stage-1 examples, data-parallel over MPI ranks; "
      "checkpoints, resumes, exports the model");
  const InputFlag examples_flag{"--examples", "examples.path", "Stage-1 example store"};
  inputs->attach(command, {kInitFromFlag, examples_flag, kOutFlag});
  command->callback([inputs, &selected, &global] {
    selected.needs_mpi = true;
    selected.run = [inputs, &global](distributed::MpiContext* mpi) {
      return train(*mpi, inputs->resolve(), global);
    };
  });
}

}  // namespace dgr::cli
