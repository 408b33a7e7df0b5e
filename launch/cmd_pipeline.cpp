// `dgr pipeline CONFIG`: the whole DGR chain under one mpirun, from the vocabulary to the table of
// BM25, the stage-1 model, the LTRGR margin-loss baseline and DGR on the test split.
//
// Each stage runs the same subcommands a user would type (parsed in-process, so every rank keeps
// its MPI context), wired by config overrides (pipeline_plan.h). A marker per stage records its
// config hash: a finished stage with the same hash is skipped, an interrupted one is run again
// (training resumes from its last checkpoint), a stage whose hash changed starts from an empty
// directory. Rank 0 decides and broadcasts, so every rank takes the same path.

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "core/eval/metrics.h"
#include "core/eval/report.h"
#include "core/eval/significance.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "data/dataset.h"
#include "data/synthetic_queries.h"
#include "distributed/mpi_context.h"
#include "launch/cli_common.h"
#include "launch/cli_eval.h"
#include "launch/pipeline_plan.h"

namespace dgr::cli {
namespace {

namespace fs = std::filesystem;
using pipeline::Plan;
using pipeline::Stage;
using pipeline::Step;

struct PipelineArgs {
  std::string config;
  std::vector<std::string> sets;
  std::string stages;
  bool force = false;
  bool list = false;
};

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

// Runs one subcommand in this process, as `dgr <command> CONFIG --set ...` would.
void run_subcommand(distributed::MpiContext& mpi, const GlobalOptions& global,
                    const std::string& config, const Step& step) {
  CLI::App app{"dgr pipeline step", "dgr"};
  app.require_subcommand(1);
  Command selected;
  add_tokenizer_command(app, selected, global);
  add_index_command(app, selected, global);
  add_model_command(app, selected, global);
  add_examples_command(app, selected, global);
  add_train_command(app, selected, global);
  add_retrieve_command(app, selected, global);
  add_teacher_command(app, selected, global);

  std::vector<std::string> words = {"dgr"};
  words.insert(words.end(), step.command.begin(), step.command.end());
  words.push_back(config);
  for (const std::string& set : step.sets) {
    words.push_back("--set");
    words.push_back(set);
  }
  std::vector<char*> argv;
  argv.reserve(words.size());
  for (std::string& word : words)
    argv.push_back(word.data());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    throw ConfigError("pipeline step `dgr " + step.command.front() + " ...`: " + e.what());
  }
  if (!selected.run) throw ConfigError("pipeline step names no subcommand");
  const int status = selected.run(&mpi);
  if (status != 0) {
    std::string command;
    for (const std::string& word : step.command)
      command += " " + word;
    throw Error("pipeline: `dgr" + command + "` ended with status " + std::to_string(status));
  }
}

void write_synthetic_queries(const ResolvedConfig& config, const std::string& dir) {
  const ExperimentConfig& o = config.options;
  const SyntheticQueriesOptions& s = o.pipeline.synthetic;
  data::SyntheticQueryOptions options;
  static_cast<data::SyntheticQuerySettings&>(options) = s;
  options.seed = static_cast<uint64_t>(o.run.seed);
  const data::Corpus corpus = data::load_corpus(o.data.corpus, o.data.corpus_format);
  const data::SyntheticQueries queries = data::make_synthetic_queries(corpus, options);
  data::write_synthetic_queries(dir, queries);
  std::cout << "wrote " << queries.queries.size() << " synthetic training queries of "
            << corpus.size() << " passages to " << dir << "\n";
}

// The header and alignment rows of a Markdown table: `first` then one right-aligned column per
// metric.
std::string markdown_header(const std::string& first, const std::vector<std::string>& metrics) {
  std::string out = "| " + first + " |";
  for (const std::string& m : metrics)
    out += " " + m + " |";
  out += "\n|---|";
  for (size_t i = 0; i < metrics.size(); ++i)
    out += "---:|";
  return out + "\n";
}

std::string markdown_table(const std::vector<std::pair<std::string, eval::MetricReport>>& rows,
                           const std::vector<std::string>& metrics) {
  std::ostringstream md;
  md << markdown_header("system", metrics);
  for (const auto& [name, report] : rows) {
    md << "| " << name << " |";
    for (const std::string& m : metrics) {
      auto it = report.mean.find(m);
      md << " ";
      if (it == report.mean.end()) {
        md << "-";
      } else {
        md << std::fixed << std::setprecision(4) << it->second;
      }
      md << " |";
    }
    md << "\n";
  }
  return md.str();
}

// The columns of the final table: Recall@k, MRR@k, nDCG@k as configured in eval.*.
std::vector<std::string> table_metrics(const EvalOptions& e, bool with_answers) {
  std::vector<std::string> names;
  for (int k : e.recall_at)
    names.push_back(eval::recall_name(k));
  if (e.mrr_at > 0) names.push_back(eval::mrr_name(e.mrr_at));
  for (int k : e.ndcg_at)
    names.push_back(eval::ndcg_name(k));
  // Open-domain QA (NQ, TriviaQA) is judged by answer match: the paper's hits@k.
  if (with_answers) {
    for (int k : e.hits_at)
      names.push_back(eval::answer_hits_name(k));
  }
  return names;
}

// "10,000": trial counts as the table titles print them.
std::string with_thousands(size_t n) {
  std::string digits = std::to_string(n);
  for (size_t i = digits.size(); i > 3; i -= 3)
    digits.insert(i - 3, ",");
  return digits;
}

// The systems' names in the p-value rows ("DGR vs BM25"): short, since a row names two.
std::string short_name(const pipeline::System& system) {
  static const std::map<std::string, std::string> kShort = {
      {"bm25", "BM25"}, {"stage1", "stage 1"}, {"ltrgr", "LTRGR"}, {"dgr", "DGR"}};
  auto it = kShort.find(system.key);
  return it == kShort.end() ? system.name : it->second;
}

// One row of the p-value table: a system against a baseline, every column tested.
struct Significance {
  std::string label;  // "DGR vs BM25"
  std::string system;
  std::string baseline;  // system keys
  std::vector<eval::MetricComparison> comparisons;
};

// Stage 1, LTRGR and DGR against BM25, LTRGR and DGR against stage 1: paired randomization test
// (and t-test, kept in results.json) of every column, over the judged test queries.
std::vector<Significance> significance_rows(
    const Plan& plan, const std::map<std::string, const eval::MetricReport*>& reports,
    const std::vector<std::string>& columns) {
  const eval::RandomizationOptions options = randomization_options(plan.evaluation.options.eval);
  const std::vector<std::pair<std::string, std::string>> pairs = {{"stage1", "bm25"},
                                                                  {"ltrgr", "bm25"},
                                                                  {"dgr", "bm25"},
                                                                  {"ltrgr", "stage1"},
                                                                  {"dgr", "stage1"}};
  auto name_of = [&plan](const std::string& key) {
    for (const pipeline::System& s : plan.systems) {
      if (s.key == key) return short_name(s);
    }
    return key;
  };
  std::vector<Significance> rows;
  for (const auto& [system, baseline] : pairs) {
    auto a = reports.find(system);
    auto b = reports.find(baseline);
    if (a == reports.end() || b == reports.end()) continue;
    Significance row;
    row.system = system;
    row.baseline = baseline;
    row.label = name_of(system) + " vs " + name_of(baseline);
    row.comparisons = eval::compare_reports(*a->second, *b->second, options, columns);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string markdown_p_values(const std::vector<Significance>& rows,
                              const std::vector<std::string>& metrics) {
  std::ostringstream md;
  md << markdown_header("comparison", metrics);
  for (const Significance& row : rows) {
    md << "| " << row.label << " |";
    for (const std::string& m : metrics)
      md << " " << eval::p_value_cell(row.comparisons, m) << " |";
    md << "\n";
  }
  return md.str();
}

void collect_results(const Plan& plan) {
  const ExperimentConfig& o = plan.evaluation.options;
  std::vector<std::pair<std::string, eval::MetricReport>> rows;
  nlohmann::json systems = nlohmann::json::array();
  nlohmann::json means = nlohmann::json::object();
  for (const pipeline::System& system : plan.systems) {
    const std::string path = (fs::path(plan.run_dir) / system.metrics).string();
    const nlohmann::json metrics = eval::read_metrics_json(path);
    eval::MetricReport report = eval::metrics_from_json(metrics);
    means[system.key] = metrics.at("aggregate");
    systems.push_back({{"key", system.key},
                       {"name", system.name},
                       {"run", system.run},
                       {"metrics", system.metrics}});
    rows.emplace_back(system.name, std::move(report));
  }
  const std::vector<std::string> columns = table_metrics(o.eval, !o.data.answers.empty());
  const std::string table = eval::format_metrics_table(rows, columns);

  // Significance of the differences, from the per-query values in each system's metrics.json.
  std::map<std::string, const eval::MetricReport*> reports;
  for (size_t i = 0; i < plan.systems.size(); ++i)
    reports[plan.systems[i].key] = &rows[i].second;
  const std::vector<Significance> significance = significance_rows(plan, reports, columns);
  const eval::RandomizationOptions randomization = randomization_options(o.eval);
  const std::string p_title =
      "p-values (paired randomization test, " + with_thousands(randomization.trials) + " trials)";
  std::vector<std::pair<std::string, std::vector<eval::MetricComparison>>> p_rows;
  nlohmann::json comparisons = nlohmann::json::array();
  for (const Significance& row : significance) {
    p_rows.emplace_back(row.label, row.comparisons);
    nlohmann::json entry = eval::comparison_to_json(row.baseline, row.comparisons, randomization);
    comparisons.push_back({{"label", row.label},
                           {"system", row.system},
                           {"baseline", row.baseline},
                           {"metrics", entry["metrics"]}});
  }
  const std::string p_table =
      significance.empty() ? "" : p_title + "\n" + eval::format_p_value_table(p_rows, columns);

  const nlohmann::json results = {
      {"name", plan.name},
      {"config_hash", plan.evaluation.hash},
      {"split", o.data.test_split},
      // Absolute, so `dgr report R` finds it from anywhere.
      {"qrels", fs::absolute(o.data.qrels).lexically_normal().string()},
      {"relevance_threshold", o.eval.relevance_threshold},
      {"systems", systems},
      {"aggregate", means},
      {"table", table},
      {"significance",
       {{"test", "paired two-sided randomization test (sign flips) and paired t-test"},
        {"randomization_trials", randomization.trials},
        {"randomization_seed", randomization.seed},
        {"comparisons", comparisons}}},
      {"significance_table", p_table}};
  write_file_atomic((fs::path(plan.run_dir) / "results.json").string(), results.dump(2) + "\n");
  std::ostringstream md;
  md << "# " << plan.name << ": test split `" << o.data.test_split << "`\n\n"
     << markdown_table(rows, columns) << "\nJudgments: `" << o.data.qrels
     << "` (relevance threshold " << o.eval.relevance_threshold << ").\n";
  if (!significance.empty()) {
    md << "\n## " << p_title << "\n\n"
       << markdown_p_values(significance, columns)
       << "\nTwo-sided, paired over the judged test queries (a query missing from a run scores "
          "0); t-test p-values are in results.json.\n";
  }
  write_file_atomic((fs::path(plan.run_dir) / "results.md").string(), md.str());
}

// The inputs every stage reads from the data set; a clear message when they are missing.
void check_data(const Plan& plan) {
  const DataOptions& d = plan.evaluation.options.data;
  std::vector<std::string> needed = {d.corpus, d.queries, d.qrels};
  if (plan.evaluation.options.pipeline.train_queries == "dataset") {
    needed.push_back(training_qrels_path(d, "pipeline"));
  }
  std::string missing;
  for (const std::string& path : needed) {
    if (!file_exists(path)) missing += "\n  " + path;
  }
  if (missing.empty()) return;
  throw IoError(
      "pipeline: the data set is incomplete; missing:" + missing +
      "\nThe configs read data sets from $DGR_DATA (default ../shared/data beside the "
      "repository) in BEIR layout: corpus.jsonl, queries.jsonl, qrels/<split>.tsv. Cranfield "
      "(configs/quickstart.yaml) and the TREC DL 2019 passage pool (configs/msmarco-dl19.yaml) "
      "are in BEIR's distribution (https://github.com/beir-cellar/beir); put them under "
      "$DGR_DATA/cranfield and $DGR_DATA/msmarco-dl19, or point data.dataset elsewhere.");
}

void print_list(const Plan& plan) {
  std::cout << "pipeline " << plan.name << " (run directory " << plan.run_dir << ")\n"
            << std::left << std::setw(12) << "stage" << std::setw(10) << "state" << std::setw(18)
            << "hash"
            << "steps\n";
  std::string reasons;  // why each changed stage would rerun, printed after the table
  for (const Stage& stage : plan.stages) {
    const auto marker = pipeline::read_marker(plan.marker_path(stage.name));
    std::string state = "todo";
    if (marker) {
      state = marker->hash != stage.hash ? "changed" : marker->state;
      if (state == "changed") {
        reasons += stage.name + " reruns: " + pipeline::rerun_reason(plan, stage, *marker) + "\n";
      }
    }
    std::string steps;
    for (const Step& step : stage.steps) {
      if (!steps.empty()) steps += "; ";
      if (step.kind == Step::Kind::kCommand) {
        steps += "dgr";
        for (const std::string& word : step.command)
          steps += " " + word;
      } else {
        steps += step.label;
      }
    }
    std::cout << std::setw(12) << stage.name << std::setw(10) << state << std::setw(18)
              << stage.hash << (steps.empty() ? "(given)" : steps) << "\n";
  }
  // A blank line ends the table (submit-pipeline.sh reads up to it).
  std::cout << "\n" << reasons << "hashes for dgr " << plan.build << "\n";
}

bool done_with(const Plan& plan, const Stage& stage) {
  const auto marker = pipeline::read_marker(plan.marker_path(stage.name));
  return marker && marker->state == "done" && marker->hash == stage.hash;
}

void remove_outputs(const Stage& stage) {
  for (const std::string& dir : stage.dirs) {
    std::error_code error;
    fs::remove_all(dir, error);
    if (error) throw IoError("pipeline: cannot remove " + dir + ": " + error.message());
  }
}

int run_pipeline(distributed::MpiContext& mpi, const PipelineArgs& args,
                 const GlobalOptions& global) {
  const Plan plan = pipeline::make_plan(args.config, args.sets);
  start_logging(plan.evaluation, mpi, global);
  if (args.list) {
    if (mpi.is_root()) print_list(plan);
    return 0;
  }
  check_data(plan);

  std::vector<std::string> selected;
  if (args.stages.empty()) {
    for (const Stage& s : plan.stages)
      selected.push_back(s.name);
  } else {
    selected = pipeline::parse_stage_list(args.stages, plan);
  }
  auto is_selected = [&selected](const std::string& name) {
    return std::find(selected.begin(), selected.end(), name) != selected.end();
  };
  // A stage run alone needs its inputs finished under this very configuration, and so on up the
  // chain: name every stage that has to run first.
  std::vector<std::string> missing;
  std::vector<std::string> pending(selected);
  while (!pending.empty()) {
    const std::string name = pending.back();
    pending.pop_back();
    for (const std::string& input : plan.find(name)->inputs) {
      if (is_selected(input) || done_with(plan, *plan.find(input))) continue;
      if (std::find(missing.begin(), missing.end(), input) != missing.end()) continue;
      missing.push_back(input);
      pending.push_back(input);
    }
  }
  if (!missing.empty()) {
    std::string named;
    std::string list;
    for (const Stage& stage : plan.stages) {
      if (std::find(missing.begin(), missing.end(), stage.name) == missing.end()) continue;
      named += (named.empty() ? "" : ", ") + stage.name;
      list += (list.empty() ? "" : ",") + stage.name;
    }
    throw ConfigError("pipeline: --stages " + args.stages + " needs the outputs of " + named +
                      ", not done under this configuration (see `dgr pipeline " + args.config +
                      " --list`); run them first, with the same --set options: dgr pipeline " +
                      args.config + " --stages " + list);
  }

  if (mpi.is_root()) {
    ensure_directory(plan.run_dir);
    write_resolved_config(plan.evaluation, plan.run_dir);
  }
  const auto pipeline_start = std::chrono::steady_clock::now();
  for (const Stage& stage : plan.stages) {
    if (!is_selected(stage.name)) continue;
    const std::string marker_path = plan.marker_path(stage.name);
    // 0: skip, 1: run (resume), 2: run from empty directories.
    int action = 0;
    std::string why;  // why a finished stage reruns
    if (mpi.is_root()) {
      const auto marker = pipeline::read_marker(marker_path);
      if (args.force || !marker || marker->hash != stage.hash) {
        action = 2;
        if (marker && !args.force) why = pipeline::rerun_reason(plan, stage, *marker);
      } else if (marker->state != "done") {
        action = 1;
      }
    }
    action = mpi.broadcast_int(action);
    if (action == 0) {
      if (mpi.is_root()) {
        std::cout << "\n== skip " << stage.name << ": done, configuration unchanged (hash "
                  << stage.hash << ")\n";
      }
      continue;
    }
    pipeline::Marker marker;
    marker.stage = stage.name;
    marker.hash = stage.hash;
    marker.state = "running";
    marker.started = utc_now();
    marker.build = plan.build;
    if (mpi.is_root()) {
      if (action == 2) remove_outputs(stage);
      pipeline::write_marker(marker_path, marker);
      std::cout << "\n== stage " << stage.name << " (" << marker.started
                << (action == 1 ? ", resuming" : "") << (why.empty() ? "" : ", rerun: " + why)
                << ")\n"
                << std::flush;
    }
    mpi.barrier();
    const auto start = std::chrono::steady_clock::now();
    for (const Step& step : stage.steps) {
      if (mpi.is_root() && !step.label.empty()) {
        std::cout << "-- " << step.label << "\n" << std::flush;
      }
      switch (step.kind) {
        case Step::Kind::kCommand:
          run_subcommand(mpi, global, args.config, step);
          break;
        case Step::Kind::kSyntheticQueries:
          if (mpi.is_root()) {
            write_synthetic_queries(plan.evaluation, (fs::path(plan.run_dir) / "queries").string());
          }
          break;
        case Step::Kind::kCollectResults:
          if (mpi.is_root()) collect_results(plan);
          break;
      }
      mpi.barrier();
    }
    if (mpi.is_root()) {
      marker.state = "done";
      marker.finished = utc_now();
      marker.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      pipeline::write_marker(marker_path, marker);
      std::cout << "== " << stage.name << " done in " << std::fixed << std::setprecision(1)
                << marker.seconds << " s\n"
                << std::defaultfloat << std::flush;
    }
    mpi.barrier();
  }

  if (mpi.is_root()) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - pipeline_start).count();
    const std::string results = (fs::path(plan.run_dir) / "results.json").string();
    const Stage* evaluate = plan.find("evaluate");
    if (is_selected("evaluate") && file_exists(results) && done_with(plan, *evaluate)) {
      const nlohmann::json json = eval::read_metrics_json(results);
      const std::string p_values = json.value("significance_table", "");
      std::cout << "\n"
                << plan.name << ": test split " << json.value("split", "") << " ("
                << json.value("qrels", "") << ")\n"
                << json.value("table", "") << (p_values.empty() ? "" : "\n" + p_values) << "wrote "
                << results << " and " << (fs::path(plan.run_dir) / "results.md").string() << "\n";
    }
    std::cout << "pipeline finished in " << std::fixed << std::setprecision(1) << seconds << " s\n";
  }
  return 0;
}

}  // namespace

void add_pipeline_command(CLI::App& app, Command& selected, const GlobalOptions& global) {
  auto args = std::make_shared<PipelineArgs>();
  CLI::App* command = app.add_subcommand(
      "pipeline",
      "Run the whole DGR chain under one mpirun: tokenizer, index, stage-1 training, candidate "
      "retrieval, teacher, distillation (DGR and the LTRGR baseline), evaluation; skips the "
      "stages already done under the same configuration and ends with the results table");
  command->add_option("config", args->config, "YAML experiment config")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("--set", args->sets, "Override a config key in every stage (repeatable)")
      ->take_all()
      ->expected(1);
  command->add_option("--stages", args->stages,
                      "Run only these stages (comma-separated), e.g. --stages teacher,distill");
  command->add_flag("--force", args->force, "Rerun the selected stages even when done");
  command->add_flag("--list", args->list,
                    "Print the stages with their state and hash; run nothing");
  command->callback([args, &selected, &global] {
    selected.needs_mpi = true;
    selected.run = [args, &global](distributed::MpiContext* mpi) {
      return run_pipeline(*mpi, *args, global);
    };
  });
}

}  // namespace dgr::cli
