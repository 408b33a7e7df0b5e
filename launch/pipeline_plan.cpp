#include "launch/pipeline_plan.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/hash.h"

namespace dgr::pipeline {
namespace {

namespace fs = std::filesystem;

// Keys that change how a stage runs but not what it writes: editing them never reruns a stage.
const std::vector<std::string> kOperationalKeys = {"run.threads",
                                                   "run.log_dir",
                                                   "run.progress_interval_s",
                                                   "run.out",
                                                   "index.verify_checksums",
                                                   "train.resume",
                                                   "train.log_every",
                                                   "train.bucket_mb",
                                                   "train.overlap",
                                                   "train.checkpoint_every",
                                                   "train.keep_last",
                                                   "search.batch_size",
                                                   "model.device",
                                                   "teacher.cross_encoder.device",
                                                   "teacher.cross_encoder.batch_size",
                                                   "train.backend",
                                                   "teacher.train.backend",
                                                   "train.shared_memory",
                                                   "teacher.train.shared_memory"};

std::string join_path(const std::string& dir, const std::string& rel) {
  return (fs::path(dir) / rel).lexically_normal().string();
}

// Keys that name files or directories: hashed as absolute, normalised paths, so that
// `../shared/data/x` and `/repo/../shared/data/x` (DGR_DATA set or not) are the same input.
const std::vector<std::string> kPathKeys = {"data.dataset",
                                            "data.corpus",
                                            "data.queries",
                                            "data.qrels",
                                            "data.answers",
                                            "data.pseudo_queries",
                                            "tokenizer.dir",
                                            "index.dir",
                                            "model.init_from",
                                            "examples.path",
                                            "teacher.qrels",
                                            "teacher.run",
                                            "teacher.candidates_dir",
                                            "teacher.out",
                                            "teacher.cross_encoder.checkpoint",
                                            "distill.set",
                                            "train.export_dir",
                                            "retrieve.run",
                                            "teacher.bm25.run"};

// The resolved tree without the operational keys, with paths made absolute.
YAML::Node hashable(const ResolvedConfig& config) {
  YAML::Node copy = YAML::Clone(config.resolved);
  for (const std::string& key : kPathKeys) {
    const size_t dot = key.rfind('.');
    YAML::Node parent = find_key(copy, key.substr(0, dot));
    if (!parent.IsDefined() || !parent.IsMap()) continue;
    const YAML::Node value = parent[key.substr(dot + 1)];
    if (!value.IsDefined() || !value.IsScalar() || value.Scalar().empty()) continue;
    std::error_code error;
    fs::path path = fs::weakly_canonical(fs::absolute(value.Scalar()), error);
    if (error) path = fs::absolute(value.Scalar()).lexically_normal();
    parent[key.substr(dot + 1)] = path.string();
  }
  for (const std::string& key : kOperationalKeys) {
    const size_t dot = key.rfind('.');
    YAML::Node parent = find_key(copy, key.substr(0, dot));
    if (parent.IsDefined() && parent.IsMap()) parent.remove(key.substr(dot + 1));
  }
  return copy;
}

// What a stage's hash covers: the named keys of every step's resolved config.
struct HashSpec {
  std::vector<std::string> keys;
};

class Builder {
 public:
  Builder(const std::string& config_path, const std::vector<std::string>& user_sets)
      : config_path_(config_path), user_sets_(user_sets) {
    base_ = resolve(user_sets);
  }

  ResolvedConfig resolve(const std::vector<std::string>& sets) const {
    return resolve_config(config_path_, sets, {});
  }

  // The overrides of a command step: the stage's own (pipeline.<stage>), the user's, then the
  // wiring, which always wins.
  std::vector<std::string> sets(const std::vector<std::string>& stage_sets,
                                const std::vector<std::string>& wiring) const {
    std::vector<std::string> all = stage_sets;
    all.insert(all.end(), user_sets_.begin(), user_sets_.end());
    all.insert(all.end(), wiring.begin(), wiring.end());
    return all;
  }

  std::string hash(const Stage& stage, const HashSpec& spec, const Plan& plan) const {
    std::ostringstream text;
    text << "dgr " << plan.build << "\n";
    text << "stage " << stage.name << "\n";
    for (const std::string& input : stage.inputs) {
      const Stage* upstream = plan.find(input);
      text << "input " << input << " " << (upstream ? upstream->hash : "-") << "\n";
    }
    auto append = [&text, &spec](const YAML::Node& tree) {
      for (const std::string& key : spec.keys) {
        const YAML::Node node = find_key(tree, key);
        text << key << ": " << (node.IsDefined() ? config::to_flow(node) : "~") << "\n";
      }
    };
    if (stage.steps.empty()) append(hashable(base_));
    for (const Step& step : stage.steps) {
      text << "step " << static_cast<int>(step.kind);
      for (const std::string& word : step.command)
        text << " " << word;
      text << "\n";
      append(hashable(step.kind == Step::Kind::kCommand ? resolve(step.sets) : base_));
    }
    return sha256_hex(text.str()).substr(0, 16);
  }

  const ResolvedConfig& base() const { return base_; }
  const std::vector<std::string>& user_sets() const { return user_sets_; }

 private:
  std::string config_path_;
  std::vector<std::string> user_sets_;
  ResolvedConfig base_;
};

Step command_step(std::vector<std::string> command, std::vector<std::string> sets,
                  std::string label) {
  Step step;
  step.command = std::move(command);
  step.sets = std::move(sets);
  step.label = std::move(label);
  return step;
}

// The data keys of the stages that train or make training data (not the test judgments).
std::vector<std::string> training_keys(std::vector<std::string> more) {
  std::vector<std::string> keys = {
      "data.dataset",     "data.corpus",         "data.corpus_format",    "data.queries",
      "data.train_split", "data.pseudo_queries", "pipeline.train_queries"};
  keys.insert(keys.end(), more.begin(), more.end());
  return keys;
}

}  // namespace

const std::vector<std::string>& stage_names() {
  static const std::vector<std::string> names = {"queries", "tokenizer",  "index",
                                                 "stage1",  "candidates", "teacher",
                                                 "distill", "ltrgr",      "evaluate"};
  return names;
}

const Stage* Plan::find(const std::string& stage) const {
  for (const Stage& s : stages) {
    if (s.name == stage) return &s;
  }
  return nullptr;
}

std::string Plan::marker_path(const std::string& stage) const {
  return join_path(run_dir, "stages/" + stage + ".json");
}

std::string dgr_build() {
  return std::string(DGR_VERSION) + " " + DGR_BUILD_TYPE;
}

Plan make_plan(const std::string& config_path, const std::vector<std::string>& user_sets,
               const std::string& build) {
  Builder b(config_path, user_sets);
  const ExperimentConfig& o = b.base().options;
  const PipelineOptions& p = o.pipeline;

  Plan plan;
  plan.build = build;
  plan.config_path = config_path;
  plan.user_sets = user_sets;
  plan.run_dir = o.run.out;
  plan.name = o.name;
  const std::string r = o.run.out;
  if (r.empty()) throw ConfigError("pipeline: run.out is empty (the run directory of every stage)");
  auto at = [&r](const std::string& rel) { return join_path(r, rel); };
  if (o.data.corpus.empty()) {
    throw ConfigError(
        "pipeline: no corpus (set data.dataset to a BEIR-layout directory, or "
        "data.corpus)");
  }
  if (o.data.queries.empty() || o.data.qrels.empty()) {
    throw ConfigError(
        "pipeline: no test queries or judgments (set data.dataset, or data.queries "
        "and data.qrels)");
  }

  // Where the training queries and their judgments come from.
  std::vector<std::string> train_data;
  std::string train_qrels;
  std::vector<std::string> train_evaluation;  // how the candidates are scored against train_qrels
  if (p.train_queries == "synthetic") {
    train_qrels = at("queries/qrels/train.tsv");
    train_data = {"data.dataset=" + at("queries"),
                  "data.corpus=" + o.data.corpus,
                  "data.corpus_format=" + o.data.corpus_format,
                  "data.queries=" + at("queries/queries.jsonl"),
                  "data.train_split=train",
                  "data.qrels=" + train_qrels};
    // Synthetic judgments have grade 1, whatever threshold the test split's metrics use.
    train_evaluation = {"eval.relevance_threshold=1"};
  } else {
    if (o.data.dataset.empty()) {
      throw ConfigError(
          "pipeline: training judgments come from <data.dataset>/qrels/<data.train_split>.tsv, "
          "but data.dataset is empty (set it, or pipeline.train_queries: synthetic)");
    }
    train_qrels = training_qrels_path(o.data, "pipeline");
  }
  auto with_train_data = [&train_data](std::vector<std::string> wiring) {
    wiring.insert(wiring.begin(), train_data.begin(), train_data.end());
    return wiring;
  };

  std::string tokenizer_dir = at("tokenizer");
  if (p.tokenizer == "given") {
    if (o.tokenizer.dir.empty()) {
      throw ConfigError("pipeline: pipeline.tokenizer is 'given' but tokenizer.dir is empty");
    }
    tokenizer_dir = o.tokenizer.dir;
  }
  const std::string index_dir = at("index");
  const std::string stage1_model = at("stage1/model");

  auto add = [&plan, &b](Stage stage, const HashSpec& spec) {
    stage.hash = b.hash(stage, spec, plan);
    plan.stages.push_back(std::move(stage));
  };

  if (p.train_queries == "synthetic") {
    Stage s;
    s.name = "queries";
    s.dirs = {at("queries")};
    Step step;
    step.kind = Step::Kind::kSyntheticQueries;
    step.label = "synthetic training queries from the corpus";
    s.steps.push_back(step);
    add(std::move(s), {{"data.corpus", "data.corpus_format", "pipeline.synthetic", "run.seed"}});
  }

  {
    Stage s;
    s.name = "tokenizer";
    if (p.tokenizer == "train") {
      s.dirs = {tokenizer_dir};
      s.steps.push_back(
          command_step({"tokenizer", "train"},
                       b.sets({}, {"tokenizer.dir=" + tokenizer_dir, "run.out=" + tokenizer_dir}),
                       "byte-level BPE vocabulary learned on the corpus"));
      add(std::move(s), {{"data.corpus", "data.corpus_format", "tokenizer"}});
    } else {
      add(std::move(s), {{"tokenizer.dir"}});
    }
  }

  {
    Stage s;
    s.name = "index";
    s.inputs = {"tokenizer"};
    s.dirs = {index_dir};
    s.steps.push_back(command_step({"index", "build"},
                                   b.sets({}, {"tokenizer.dir=" + tokenizer_dir,
                                               "index.dir=" + index_dir, "run.out=" + index_dir}),
                                   "sharded FM-index of the identifier views"));
    add(std::move(s), {{"data.corpus", "data.corpus_format", "data.pseudo_queries", "index"}});
  }

  {
    Stage s;
    s.name = "stage1";
    s.inputs = {"tokenizer", "index"};
    if (p.train_queries == "synthetic") s.inputs.insert(s.inputs.begin(), "queries");
    s.dirs = {at("stage1")};
    std::string init = o.model.init_from;
    if (init.empty()) {
      init = at("stage1/init");
      s.steps.push_back(
          command_step({"model", "init"},
                       b.sets({}, {"tokenizer.dir=" + tokenizer_dir, "model.init_from=" + init,
                                   "run.out=" + at("stage1")}),
                       "a " + o.model.arch + " model initialised from scratch"));
    }
    const std::string examples = at("stage1/examples.h5");
    s.steps.push_back(command_step(
        {"examples", "build"},
        b.sets({}, with_train_data({"tokenizer.dir=" + tokenizer_dir, "examples.path=" + examples,
                                    "run.out=" + at("stage1")})),
        "stage-1 examples (query and corpus -> identifiers)"));
    s.steps.push_back(command_step(
        {"train"},
        b.sets(p.stage1,
               with_train_data({"train.stage=stage1", "model.init_from=" + init,
                                "examples.path=" + examples, "index.dir=" + index_dir,
                                "run.out=" + at("stage1"), "train.export_dir=" + stage1_model})),
        "stage-1 training (MINDER-style identifiers)"));
    add(std::move(s), {training_keys({"index", "model", "search.max_query_length", "examples",
                                      "train", "run.seed"})});
  }

  {
    Stage s;
    s.name = "candidates";
    s.inputs = {"index", "stage1"};
    s.dirs = {at("candidates")};
    std::vector<std::string> candidate_sets = p.candidates;
    candidate_sets.insert(candidate_sets.end(), train_evaluation.begin(), train_evaluation.end());
    s.steps.push_back(command_step(
        {"retrieve"},
        b.sets(candidate_sets,
               with_train_data({"model.init_from=" + stage1_model, "index.dir=" + index_dir,
                                "run.out=" + at("candidates"),
                                "retrieve.run=" + at("candidates/run.trec"),
                                "data.qrels=" + train_qrels, "retrieve.queries=judged",
                                "retrieve.dump_keys=true", "eval.system=stage1-train"})),
        "candidates of the training queries, with their keys"));
    add(std::move(s), {training_keys({"search", "scoring", "retrieve"})});
  }

  {
    Stage s;
    s.name = "teacher";
    s.inputs = {"index", "candidates"};
    s.dirs = {at("teacher")};
    s.steps.push_back(command_step(
        {"teacher", "rank"},
        b.sets(p.teacher,
               with_train_data(
                   {"teacher.candidates=retrieve", "teacher.candidates_dir=" + at("candidates"),
                    "teacher.out=" + at("teacher/distill.h5"), "teacher.qrels=" + train_qrels,
                    "index.dir=" + index_dir, "run.out=" + at("teacher")})),
        "the teacher's scores of the candidates (distillation set)"));
    add(std::move(s), {training_keys({"teacher", "run.seed"})});
  }

  auto distill_stage = [&](const std::string& name, std::vector<std::string> stage_sets,
                           const std::string& label) {
    Stage s;
    s.name = name;
    s.inputs = {"index", "stage1", "teacher"};
    s.dirs = {at(name)};
    s.steps.push_back(command_step(
        {"train"},
        b.sets(stage_sets,
               with_train_data({"train.stage=distill", "distill.set=" + at("teacher/distill.h5"),
                                "examples.path=" + at("stage1/examples.h5"),
                                "model.init_from=" + stage1_model, "index.dir=" + index_dir,
                                "run.out=" + at(name), "train.export_dir=" + at(name + "/model")})),
        label));
    add(std::move(s), {training_keys({"model", "train", "distill", "run.seed"})});
  };
  distill_stage("distill", p.distill, "DGR distillation (distilled RankNet + generation loss)");
  {
    std::vector<std::string> ltrgr = p.distill;
    ltrgr.push_back("distill.loss=margin");
    ltrgr.insert(ltrgr.end(), p.ltrgr.begin(), p.ltrgr.end());
    distill_stage("ltrgr", ltrgr, "LTRGR baseline (margin loss + generation loss)");
  }

  {
    Stage s;
    s.name = "evaluate";
    s.inputs = {"index", "stage1", "ltrgr", "distill"};
    s.dirs = {at("evaluate"), at("results.json"), at("results.md")};
    plan.systems = {
        {"bm25", "BM25", "evaluate/bm25/bm25.trec", "evaluate/bm25/metrics.json"},
        {"stage1", "stage 1 (MINDER-style)", "evaluate/stage1/run.trec",
         "evaluate/stage1/metrics.json"},
        {"ltrgr", "LTRGR (margin loss)", "evaluate/ltrgr/run.trec", "evaluate/ltrgr/metrics.json"},
        {"dgr", "DGR (distilled RankNet)", "evaluate/dgr/run.trec", "evaluate/dgr/metrics.json"}};
    const int depth = o.scoring.depth;
    s.steps.push_back(command_step(
        {"teacher", "bm25-run"},
        b.sets(p.evaluate,
               {"run.out=" + at("evaluate/bm25"), "teacher.bm25.run=" + at(plan.systems[0].run),
                "teacher.bm25.queries=judged", "teacher.bm25.evaluate=true",
                "teacher.bm25.top_k=" + std::to_string(depth), "eval.system=BM25"}),
        "BM25 on the test queries"));
    const std::vector<std::pair<std::string, std::string>> models = {
        {"stage1", stage1_model}, {"ltrgr", at("ltrgr/model")}, {"dgr", at("distill/model")}};
    for (size_t i = 0; i < models.size(); ++i) {
      const System& system = plan.systems[i + 1];
      s.steps.push_back(command_step(
          {"retrieve"},
          b.sets(p.evaluate,
                 {"model.init_from=" + models[i].second, "index.dir=" + index_dir,
                  "run.out=" + at("evaluate/" + system.key), "retrieve.run=" + at(system.run),
                  "retrieve.queries=judged", "retrieve.dump_keys=false", "retrieve.evaluate=true",
                  "eval.system=" + system.name}),
          system.name + " on the test queries"));
    }
    Step collect;
    collect.kind = Step::Kind::kCollectResults;
    collect.label = "the results table";
    s.steps.push_back(collect);
    add(std::move(s), {{"data", "search", "scoring", "eval", "teacher.bm25"}});
    plan.evaluation = b.resolve(b.sets(p.evaluate, {}));
  }
  return plan;
}

std::optional<Marker> read_marker(const std::string& path) {
  if (!file_exists(path)) return std::nullopt;
  const std::string text = read_file(path);
  Marker m;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    m.stage = j.at("stage").get<std::string>();
    m.hash = j.at("hash").get<std::string>();
    m.state = j.at("state").get<std::string>();
    m.started = j.value("started", "");
    m.finished = j.value("finished", "");
    m.seconds = j.value("seconds", 0.0);
    m.build = j.value("build", "");
  } catch (const nlohmann::json::exception& e) {
    throw DataError(path + ": not a pipeline stage marker (" + e.what() +
                    "); remove it to rerun the stage");
  }
  if (m.state != "running" && m.state != "done") {
    throw DataError(path + ": state must be \"running\" or \"done\", got \"" + m.state + "\"");
  }
  return m;
}

void write_marker(const std::string& path, const Marker& m) {
  nlohmann::json j = {{"stage", m.stage},     {"hash", m.hash},         {"state", m.state},
                      {"started", m.started}, {"finished", m.finished}, {"seconds", m.seconds},
                      {"build", m.build}};
  write_file_atomic(path, j.dump(2) + "\n");
}

std::string rerun_reason(const Plan& plan, const Stage& stage, const Marker& marker) {
  if (marker.hash == stage.hash) return "";
  if (marker.build != plan.build) {
    return (marker.build.empty() ? std::string("made by an earlier dgr build")
                                 : "made by dgr " + marker.build) +
           "; this is dgr " + plan.build;
  }
  for (const std::string& input : stage.inputs) {
    const Stage* upstream = plan.find(input);
    if (!upstream) continue;
    const auto upstream_marker = read_marker(plan.marker_path(input));
    if (!upstream_marker || upstream_marker->hash != upstream->hash) {
      return "its input stage " + input + " reruns";
    }
  }
  return "its configuration changed";
}

std::vector<std::string> parse_stage_list(const std::string& list, const Plan& plan) {
  std::vector<std::string> names;
  std::stringstream parts(list);
  std::string name;
  while (std::getline(parts, name, ',')) {
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    if (name.empty()) continue;
    if (!plan.find(name)) {
      std::string known;
      for (const Stage& s : plan.stages)
        known += (known.empty() ? "" : ", ") + s.name;
      throw ConfigError("--stages: no stage '" + name + "' in this pipeline (stages: " + known +
                        ")");
    }
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  if (names.empty()) throw ConfigError("--stages: no stage named");
  return names;
}

}  // namespace dgr::pipeline
