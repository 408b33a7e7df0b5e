// `dgr report RUN_DIR [--out DIR]`: the plots of a pipeline run, as SVG, and a Markdown page.
//
// - training.svg: per training stage found (stage1/, distill/, ltrgr/, each with train_log.jsonl)
//   one row of panels: the loss terms per step (log-y when they span two decades), the learning
//   rate, stage 1's input probe (NLL gap between shuffled and true targets, encoder output
//   spread) when logged, and the held-out agreement with the teacher when the log has those
//   evaluation lines (distillation).
// - recall.svg: Recall@k against k = 1..depth (the deepest run list, log-x) for every system of
//   RUN_DIR/results.json, evaluated by core/eval/metrics.h on results.json's qrels with each
//   system's relevance threshold from its metrics.json (1 when absent).
// - report.md: links to both and the metrics table of the systems.
//
// Missing pieces are skipped with a note; a RUN_DIR with none of them is an error. Torch-free
// and without MPI: it reads files only.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/eval/metrics.h"
#include "core/eval/report.h"
#include "core/eval/svg_plot.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "data/dataset.h"
#include "data/trec.h"
#include "launch/cli_common.h"

namespace dgr::cli {
namespace {

namespace fs = std::filesystem;

struct ReportOptions {
  std::string run_dir;
  std::string out;    // default RUN_DIR/report
  std::string qrels;  // overrides results.json "qrels"
};

// The training stages whose logs are plotted, in pipeline order.
struct TrainingStage {
  const char* dir;
  const char* title;
};
constexpr TrainingStage kTrainingStages[] = {
    {"stage1", "stage 1"},
    {"distill", "distillation (DGR)"},
    {"ltrgr", "LTRGR (margin)"},
};

// One named curve: step -> value. A later line for the same step wins (a resumed run appends
// from its checkpoint, so steps after it appear twice and the newer ones are the ones kept).
struct Curve {
  std::string name;
  std::map<int64_t, double> by_step;
};

// The curves of one train_log.jsonl, each family in the order its keys first appear.
struct StageLog {
  std::vector<Curve> losses;
  Curve lr{"lr", {}};
  std::vector<Curve> heldout;
  std::vector<Curve> probe;  // stage 1's input probe: probe_gap, encoder_spread, probe_nll_*
  int64_t lines = 0;
};

// The trainers log the loss and its terms as "loss", "nll", "rank_loss", "ce_title",
// "ce_body", "nll_title", "nll_body"; a term added later follows the same naming.
bool is_loss_named(const std::string& key) {
  return key.find("loss") != std::string::npos;
}
bool is_loss_term(const std::string& key) {
  return is_loss_named(key) || key.rfind("nll", 0) == 0 || key.rfind("ce_", 0) == 0;
}
// Stage 1 logs its input probe (distributed/input_probe.h) as "probe_*" and "encoder_spread".
bool is_probe_term(const std::string& key) {
  return key.rfind("probe_", 0) == 0 || key == "encoder_spread";
}

// A log scale when the values span two decades or more: a weighted total or a rank loss in the
// thousands would otherwise flatten the generation terms of a few nats into the x axis.
bool spans_decades(const std::vector<eval::Series>& series) {
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (const eval::Series& s : series) {
    for (double y : s.y) {
      if (!std::isfinite(y)) continue;
      if (y <= 0) return false;
      lo = std::min(lo, y);
      hi = std::max(hi, y);
    }
  }
  return hi > 0 && hi >= 100 * lo;
}

Curve& curve(std::vector<Curve>& curves, const std::string& name) {
  for (Curve& c : curves) {
    if (c.name == name) return c;
  }
  curves.push_back({name, {}});
  return curves.back();
}

// A number, or NaN for null (the trainers write null for a non-finite value: a gap in the line).
double value_at(const nlohmann::json& v, const std::string& path, int64_t line,
                const std::string& key) {
  if (v.is_null()) return std::numeric_limits<double>::quiet_NaN();
  if (!v.is_number()) {
    throw DataError(located(
        path, line, "\"" + key + "\" must be a number or null, got " + std::string(v.type_name())));
  }
  return v.get<double>();
}

StageLog read_train_log(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError("cannot open " + path);
  StageLog log;
  std::string text;
  int64_t line = 0;
  while (std::getline(in, text)) {
    ++line;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw DataError(located(path, line, std::string("not a JSON line: ") + e.what()));
    }
    if (!record.is_object()) {
      throw DataError(
          located(path, line, "expected a JSON object, got " + std::string(record.type_name())));
    }
    auto step_it = record.find("step");
    if (step_it == record.end() || !step_it->is_number_integer()) {
      throw DataError(located(path, line, "expected an integer \"step\""));
    }
    const int64_t step = step_it->get<int64_t>();
    ++log.lines;
    if (auto eval = record.find("eval"); eval != record.end()) {
      // A held-out evaluation line: {"step", "eval": {"queries", "kendall_tau", ...}}.
      if (!eval->is_object()) {
        throw DataError(located(path, line, "\"eval\" must be an object"));
      }
      for (auto it = eval->begin(); it != eval->end(); ++it) {
        if (it.key() == "queries") continue;  // a count, not a measure
        curve(log.heldout, it.key()).by_step[step] = value_at(*it, path, line, "eval." + it.key());
      }
      continue;
    }
    for (auto it = record.begin(); it != record.end(); ++it) {
      if (is_loss_term(it.key())) {
        curve(log.losses, it.key()).by_step[step] = value_at(*it, path, line, it.key());
      } else if (is_probe_term(it.key())) {
        curve(log.probe, it.key()).by_step[step] = value_at(*it, path, line, it.key());
      } else if (it.key() == "lr") {
        log.lr.by_step[step] = value_at(*it, path, line, it.key());
      }
    }
  }
  if (in.bad()) throw IoError("error reading " + path);
  // The total loss first, then the other "*loss" terms, then the generation terms.
  auto rank = [](const Curve& c) { return c.name == "loss" ? 0 : is_loss_named(c.name) ? 1 : 2; };
  std::stable_sort(log.losses.begin(), log.losses.end(),
                   [&](const Curve& a, const Curve& b) { return rank(a) < rank(b); });
  return log;
}

eval::Series to_series(const Curve& c, bool markers) {
  eval::Series s;
  s.name = c.name;
  s.markers = markers;
  for (const auto& [step, value] : c.by_step) {
    s.x.push_back(static_cast<double>(step));
    s.y.push_back(value);
  }
  return s;
}

// Markers help while the points are few enough to tell apart.
constexpr size_t kMaxMarkedPoints = 40;

std::vector<eval::LineChart> stage_panels(const TrainingStage& stage, const StageLog& log) {
  std::vector<eval::LineChart> row;
  eval::LineChart losses;
  losses.title = std::string(stage.title) + ": training loss";
  losses.x_label = "step";
  losses.y_label = "loss";
  for (const Curve& c : log.losses)
    losses.series.push_back(to_series(c, c.by_step.size() <= kMaxMarkedPoints));
  losses.log_y = spans_decades(losses.series);
  if (losses.log_y) losses.y_label = "loss (log scale)";
  row.push_back(std::move(losses));

  eval::LineChart lr;
  lr.title = std::string(stage.title) + ": learning rate";
  lr.x_label = "step";
  lr.y_label = "learning rate";
  if (!log.lr.by_step.empty())
    lr.series.push_back(to_series(log.lr, log.lr.by_step.size() <= kMaxMarkedPoints));
  row.push_back(std::move(lr));

  if (!log.probe.empty()) {
    // A model that reads its input keeps the gap well above 0 and the spread away from 0.
    eval::LineChart probe;
    probe.title = std::string(stage.title) + ": input probe (NLL gap, encoder spread)";
    probe.x_label = "step";
    probe.y_label = "nats / token; spread";
    std::vector<Curve> ordered = log.probe;
    auto rank = [](const Curve& c) {
      return c.name == "probe_gap" ? 0 : c.name == "encoder_spread" ? 1 : 2;
    };
    std::stable_sort(ordered.begin(), ordered.end(),
                     [&](const Curve& a, const Curve& b) { return rank(a) < rank(b); });
    for (const Curve& c : ordered) {
      eval::Series s = to_series(c, c.by_step.size() <= kMaxMarkedPoints);
      s.dashed = c.name.rfind("probe_nll", 0) == 0;
      probe.series.push_back(std::move(s));
    }
    row.push_back(std::move(probe));
  }

  if (!log.heldout.empty()) {
    eval::LineChart heldout;
    heldout.title = std::string(stage.title) + ": held-out agreement with the teacher";
    heldout.x_label = "step";
    heldout.y_label = "value";
    for (const Curve& c : log.heldout) {
      eval::Series s = to_series(c, true);
      // "stored_X" is X of the scores stored with the distillation set (the reference the
      // student starts from): dashed, in X's colour.
      if (c.name.rfind("stored_", 0) == 0) {
        s.dashed = true;
        const std::string measure = c.name.substr(7);
        for (size_t i = 0; i < log.heldout.size(); ++i) {
          if (log.heldout[i].name == measure) s.colour = static_cast<int>(i);
        }
      }
      heldout.series.push_back(std::move(s));
    }
    row.push_back(std::move(heldout));
  }
  return row;
}

nlohmann::json read_json_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(located(path, 0, std::string("not valid JSON: ") + e.what()));
  }
}

std::string required_string(const nlohmann::json& object, const std::string& key,
                            const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) {
    throw DataError(where + ": expected a string \"" + key + "\"");
  }
  return it->get<std::string>();
}

// Paths in results.json's "systems" are relative to the run directory.
std::string in_run_dir(const std::string& path, const std::string& run_dir) {
  return fs::path(path).is_absolute() ? path : (fs::path(run_dir) / path).string();
}

// results.json's "qrels" is the path as configured: relative to the directory the pipeline ran
// in, which is tried first, then to the run directory. A BEIR data set directory stands for its
// qrels of `split`.
std::string resolve_qrels(const std::string& given, const std::string& run_dir,
                          const std::string& split, const std::string& where) {
  std::string path = given;
  if (!fs::path(path).is_absolute() && !fs::exists(path) && fs::exists(in_run_dir(path, run_dir)))
    path = in_run_dir(path, run_dir);
  if (fs::is_directory(path)) path = (fs::path(path) / "qrels" / (split + ".tsv")).string();
  if (!file_exists(path)) {
    throw IoError(where + ": qrels \"" + given + "\" not found (tried it as given and under " +
                  run_dir + "); pass --qrels PATH");
  }
  return path;
}

// One row of panels per training stage with a log; a note for each stage without one.
std::vector<std::vector<eval::LineChart>> training_rows(const std::string& run_dir,
                                                        std::vector<std::string>& notes) {
  std::vector<std::vector<eval::LineChart>> rows;
  for (const TrainingStage& stage : kTrainingStages) {
    const std::string path = (fs::path(run_dir) / stage.dir / "train_log.jsonl").string();
    if (!file_exists(path)) {
      notes.push_back("skip " + std::string(stage.dir) + ": no " + path);
      continue;
    }
    const StageLog log = read_train_log(path);
    if (log.lines == 0) {
      notes.push_back("skip " + std::string(stage.dir) + ": " + path + " has no entries");
      continue;
    }
    rows.push_back(stage_panels(stage, log));
  }
  return rows;
}

struct SystemResult {
  std::string key;
  std::string name;
  std::vector<double> recall;  // Recall@k for k = 1..recall.size(); empty without a run
  nlohmann::json metrics;      // metrics.json, or null when absent
};

struct Results {
  nlohmann::json json;  // results.json
  std::vector<SystemResult> systems;
};

// The relevance rules of a system's own evaluation (metrics.json "options"), so that its curve
// agrees with its Recall@k columns; the defaults (threshold 1) when it has none.
eval::MetricOptions relevance_options(const nlohmann::json& metrics) {
  eval::MetricOptions options;
  if (!metrics.is_object() || !metrics.contains("options")) return options;
  const nlohmann::json& o = metrics["options"];
  if (o.contains("relevance_threshold") && o["relevance_threshold"].is_number_integer())
    options.relevance_threshold = o["relevance_threshold"].get<int>();
  if (o.contains("missing_queries_count_as_zero") &&
      o["missing_queries_count_as_zero"].is_boolean()) {
    options.missing_queries_count_as_zero = o["missing_queries_count_as_zero"].get<bool>();
  }
  return options;
}

// Reads results.json, each system's metrics.json and run, and computes Recall@k for k = 1 to
// the deepest list of any run. A system without a run file keeps an empty curve and a note.
Results read_results(const std::string& run_dir, const std::string& qrels_flag,
                     std::vector<std::string>& notes) {
  const std::string path = (fs::path(run_dir) / "results.json").string();
  Results results;
  results.json = read_json_file(path);
  const nlohmann::json& json = results.json;
  if (!json.is_object() || !json.contains("systems") || !json["systems"].is_array())
    throw DataError(path + ": expected an object with a \"systems\" array");
  const std::string split = json.contains("split") && json["split"].is_string()
                                ? json["split"].get<std::string>()
                                : "test";
  const std::string qrels_path =
      qrels_flag.empty() ? resolve_qrels(required_string(json, "qrels", path), run_dir, split, path)
                         : resolve_qrels(qrels_flag, run_dir, split, "--qrels");

  // Runs are read first: the depth of every curve is the deepest list of any run.
  struct Loaded {
    size_t system = 0;  // index into results.systems
    eval::Run run;
  };
  std::vector<Loaded> loaded;
  size_t depth = 0;
  for (size_t i = 0; i < json["systems"].size(); ++i) {
    const nlohmann::json& s = json["systems"][i];
    const std::string where = path + ": systems[" + std::to_string(i) + "]";
    if (!s.is_object()) throw DataError(where + ": expected an object");
    SystemResult r;
    r.key = required_string(s, "key", where);
    r.name = s.contains("name") && s["name"].is_string() ? s["name"].get<std::string>() : r.key;
    if (s.contains("metrics") && s["metrics"].is_string()) {
      const std::string metrics_path = in_run_dir(s["metrics"].get<std::string>(), run_dir);
      if (file_exists(metrics_path)) {
        r.metrics = eval::read_metrics_json(metrics_path);
      } else {
        notes.push_back("system " + r.key + ": no " + metrics_path +
                        " (relevance threshold 1, no metrics in the table)");
      }
    }
    const std::string run_path = in_run_dir(required_string(s, "run", where), run_dir);
    results.systems.push_back(std::move(r));
    if (!file_exists(run_path)) {
      notes.push_back("skip system " + results.systems.back().key + " in recall: no " + run_path);
      continue;
    }
    Loaded l{results.systems.size() - 1, data::read_trec_run(run_path)};
    for (const auto& [query, entries] : l.run.by_query)
      depth = std::max(depth, entries.size());
    loaded.push_back(std::move(l));
  }
  if (depth == 0) {
    notes.push_back("skip recall: no system has a run with entries");
    return results;
  }

  const eval::Qrels qrels = data::read_qrels(qrels_path);
  for (const Loaded& l : loaded) {
    SystemResult& system = results.systems[l.system];
    eval::MetricOptions options = relevance_options(system.metrics);
    options.recall_at.clear();
    for (size_t k = 1; k <= depth; ++k)
      options.recall_at.push_back(static_cast<int>(k));
    options.hits_at.clear();
    options.ndcg_at.clear();
    options.mrr_at = 0;
    options.map = false;
    const eval::MetricReport report = eval::evaluate(qrels, l.run, options);
    for (size_t k = 1; k <= depth; ++k)
      system.recall.push_back(report.mean.at(eval::recall_name(static_cast<int>(k))));
  }
  return results;
}

// Recall@k against k, one series per system with a run (no series when none has one).
eval::LineChart recall_chart(const std::vector<SystemResult>& systems) {
  eval::LineChart chart;
  chart.title = "Recall@k";
  chart.x_label = "k (log scale)";
  chart.y_label = "Recall@k";
  chart.log_x = true;
  for (const SystemResult& s : systems) {
    if (s.recall.empty()) continue;
    eval::Series series;
    series.name = s.name;
    series.markers = s.recall.size() <= kMaxMarkedPoints;
    for (size_t k = 1; k <= s.recall.size(); ++k) {
      series.x.push_back(static_cast<double>(k));
      series.y.push_back(s.recall[k - 1]);
    }
    chart.series.push_back(std::move(series));
  }
  return chart;
}

std::string markdown_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else {
      out += c == '\n' ? ' ' : c;
    }
  }
  return out;
}

// The Markdown table of the systems' aggregate metrics ("" when no system has metrics.json).
std::string metrics_table(const std::vector<SystemResult>& systems) {
  std::set<std::string> names;
  for (const SystemResult& s : systems) {
    if (!s.metrics.is_object() || !s.metrics.contains("aggregate")) continue;
    for (auto it = s.metrics["aggregate"].begin(); it != s.metrics["aggregate"].end(); ++it)
      names.insert(it.key());
  }
  if (names.empty()) return "";
  const std::vector<std::string> columns =
      eval::ordered_metric_names(std::vector<std::string>(names.begin(), names.end()));
  std::string out = "| system |";
  for (const std::string& c : columns)
    out += " " + markdown_cell(c) + " |";
  out += "\n|---|";
  for (size_t i = 0; i < columns.size(); ++i)
    out += "---:|";
  out += "\n";
  for (const SystemResult& s : systems) {
    out += "| " + markdown_cell(s.name) + " |";
    const bool has = s.metrics.is_object() && s.metrics.contains("aggregate");
    for (const std::string& c : columns) {
      if (has && s.metrics["aggregate"].contains(c) && s.metrics["aggregate"][c].is_number()) {
        char value[32];
        std::snprintf(value, sizeof(value), "%.4f", s.metrics["aggregate"][c].get<double>());
        out += std::string(" ") + value + " |";
      } else {
        out += " - |";
      }
    }
    out += "\n";
  }
  return out;
}

std::string report_markdown(const std::string& run_dir, const std::optional<Results>& results,
                            bool have_training, bool have_recall,
                            const std::vector<std::string>& notes) {
  std::string md = "# Report: " + fs::path(run_dir).lexically_normal().string() + "\n\n";
  if (results) {
    std::vector<std::string> about;
    for (const char* key : {"name", "split", "config_hash"}) {
      if (results->json.contains(key) && results->json[key].is_string())
        about.push_back(std::string(key) + " `" + results->json[key].get<std::string>() + "`");
    }
    for (size_t i = 0; i < about.size(); ++i)
      md += (i ? ", " : "") + about[i];
    if (!about.empty()) md += "\n\n";
  }
  md += "## Training\n\n";
  md += have_training ? "![training curves](training.svg)\n\n" : "No training log found.\n\n";
  md += "## Retrieval\n\n";
  if (have_recall) md += "![Recall@k](recall.svg)\n\n";
  const std::string table = results ? metrics_table(results->systems) : "";
  if (!table.empty()) {
    md += table + "\n";
  } else if (results && results->json.contains("table") && results->json["table"].is_string()) {
    md += "```\n" + results->json["table"].get<std::string>() + "```\n\n";
  } else {
    md += "No results found.\n\n";
  }
  if (!notes.empty()) {
    md += "## Not included\n\n";
    for (const std::string& n : notes)
      md += "- " + n + "\n";
  }
  return md;
}

int write_report(const ReportOptions& options) {
  const std::string& run_dir = options.run_dir;
  if (!fs::is_directory(run_dir)) throw IoError("report: " + run_dir + " is not a directory");
  std::vector<std::string> notes;

  std::vector<std::vector<eval::LineChart>> rows = training_rows(run_dir, notes);
  const std::string results_path = (fs::path(run_dir) / "results.json").string();
  std::optional<Results> results;
  if (file_exists(results_path)) {
    results = read_results(run_dir, options.qrels, notes);
  } else {
    notes.push_back("skip recall: no " + results_path);
  }
  if (rows.empty() && !results) {
    std::string looked;
    for (const TrainingStage& stage : kTrainingStages)
      looked += (fs::path(run_dir) / stage.dir / "train_log.jsonl").string() + ", ";
    throw IoError("report: nothing to report in " + run_dir + ": looked for " + looked + "and " +
                  results_path);
  }

  const std::string out_dir =
      options.out.empty() ? (fs::path(run_dir) / "report").string() : options.out;
  ensure_directory(out_dir);
  std::vector<std::string> written;
  const bool have_training = !rows.empty();
  if (have_training) {
    eval::Figure figure;
    const std::string name = fs::path(run_dir).lexically_normal().filename().string();
    figure.title = name.empty() || name == "." ? "Training" : "Training: " + name;
    figure.rows = std::move(rows);
    written.push_back((fs::path(out_dir) / "training.svg").string());
    write_file_atomic(written.back(), eval::render_svg(figure));
  }
  const eval::LineChart recall = results ? recall_chart(results->systems) : eval::LineChart{};
  const bool have_recall = !recall.series.empty();
  if (have_recall) {
    eval::ChartSize size;
    size.width = 720;
    size.height = 440;
    size.margin_right = 200;
    written.push_back((fs::path(out_dir) / "recall.svg").string());
    write_file_atomic(written.back(), eval::render_svg(recall, size));
  }
  written.push_back((fs::path(out_dir) / "report.md").string());
  write_file_atomic(written.back(),
                    report_markdown(run_dir, results, have_training, have_recall, notes));

  for (const std::string& n : notes)
    std::cout << "note: " << n << "\n";
  for (const std::string& w : written)
    std::cout << "wrote " << w << "\n";
  return 0;
}

}  // namespace

void add_report_command(CLI::App& app, Command& selected, const GlobalOptions& /*global*/) {
  auto options = std::make_shared<ReportOptions>();
  CLI::App* command = app.add_subcommand(
      "report",
      "Plot a pipeline run as SVG: training curves (training.svg), Recall@k of every system "
      "(recall.svg), and report.md with the metrics table");
  command->add_option("RUN_DIR", options->run_dir, "The run directory (run.out of the pipeline)")
      ->required();
  command->add_option("--out", options->out, "Output directory (default: RUN_DIR/report)");
  command->add_option("--qrels", options->qrels,
                      "Qrels for Recall@k (default: the \"qrels\" of RUN_DIR/results.json)");
  command->callback([options, &selected] {
    selected.needs_mpi = false;
    selected.run = [options](distributed::MpiContext*) { return write_report(*options); };
  });
}

}  // namespace dgr::cli
