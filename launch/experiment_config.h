// The experiment configuration, assembled: each section is the options struct of the component
// that reads it, declared next to that component (docs/architecture.md, "Options owned by
// components"); the run-level sections (run, data, model, pipeline) are declared here.
// docs/configuration.md is generated from the structs (`dgr config docs`) and a test fails when
// the two disagree.
//
// Resolution order, later wins: defaults < `extends` bases < the config file < `--set k=v`
// < subcommand flags (`--qrels`, `--run`, `--out`, ...). The resolved tree is written as
// `config.resolved.yaml` next to every output, and its SHA-256 goes into every artifact.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/eval/metrics.h"
#include "core/search/search_options.h"
#include "core/text/bpe_trainer.h"
#include "core/util/config.h"
#include "data/stage1_options.h"
#include "data/synthetic_queries.h"
#include "distributed/distill_options.h"
#include "distributed/index_options.h"
#include "distributed/retrieve_options.h"
#include "distributed/training_options.h"
#include "teacher/teacher_options.h"

namespace dgr {

// Sections whose options struct lives next to its component.
using distributed::DistillOptions;
using distributed::IndexOptions;
using distributed::RetrieveOptions;
using distributed::TrainOptions;
using search::ScoringOptions;
using search::SearchOptions;
using teacher::Bm25TeacherOptions;
using teacher::CrossEncoderTeacherOptions;
using teacher::TeacherOptions;
using teacher::TeacherTrainOptions;

using ExamplesOptions = data::Stage1Options;
using SyntheticQueriesOptions = data::SyntheticQuerySettings;

// The BPE trainer's options, and where the vocabulary lives.
struct TokenizerOptions : text::BpeTrainerOptions {
  std::string dir;
};

struct RunOptions {
  std::string out = "runs/default";
  int seed = 13;
  int threads = 0;
  std::string log_dir;
  int progress_interval_s = 30;
};

struct DataOptions {
  std::string dataset;
  std::string corpus;
  std::string corpus_format = "auto";
  std::string queries;
  std::string qrels;
  std::string train_split = "train";
  std::string test_split = "test";
  std::string answers;
  std::string pseudo_queries;
};

// The metrics are core/eval's; the rest is `dgr eval-run`'s and the significance tests'.
struct EvalOptions : eval::MetricOptions {
  std::string run;
  std::string system;
  std::string baseline;
  int randomization_trials = 10000;
};

struct ModelOptions {
  std::string init_from;
  std::string arch = "bart-large";
  std::string device = "cpu";
};

struct PipelineOptions {
  std::string tokenizer = "train";
  std::string train_queries = "dataset";
  SyntheticQueriesOptions synthetic;
  std::vector<std::string> stage1;
  std::vector<std::string> candidates;
  std::vector<std::string> teacher;
  std::vector<std::string> distill;
  std::vector<std::string> ltrgr;
  std::vector<std::string> evaluate;
};

struct ExperimentConfig {
  std::string name = "dgr";
  RunOptions run;
  DataOptions data;
  TokenizerOptions tokenizer;
  IndexOptions index;
  ModelOptions model;
  SearchOptions search;
  ScoringOptions scoring;
  RetrieveOptions retrieve;
  ExamplesOptions examples;
  TrainOptions train;
  TeacherOptions teacher;
  DistillOptions distill;
  EvalOptions eval;
  PipelineOptions pipeline;
};

template <class V>
void visit(V& v, TokenizerOptions& o) {
  v.field("dir", o.dir,
          "Directory with vocab.json + merges.txt (byte-level BPE: BART's, or one made by "
          "`dgr tokenizer train`); `dgr tokenizer train` writes here.");
  visit(v, static_cast<text::BpeTrainerOptions&>(o));
}

template <class V>
void visit(V& v, RunOptions& o) {
  v.field("out", o.out, "Output directory of the stage (created if missing).");
  v.field("seed", o.seed, "Seed of every random choice (sampling, shuffling, initialisation).");
  v.field("threads", o.threads,
          "Intra-op threads per rank; 0 = the node's cores divided by the ranks on the node.");
  v.field("log_dir", o.log_dir, "Directory of per-rank log files; empty = <out>/logs.");
  v.field("progress_interval_s", o.progress_interval_s,
          "Seconds between progress lines when stderr is not a terminal (SLURM logs).");
}

template <class V>
void visit(V& v, DataOptions& o) {
  v.field("dataset", o.dataset,
          "A BEIR-layout directory; fills corpus, queries and qrels when they are empty.");
  v.field("corpus", o.corpus, "Corpus file: BEIR corpus.jsonl, DPR .tsv or MS MARCO .tsv.");
  v.field("corpus_format", config::Choice{o.corpus_format, {"auto", "beir", "dpr", "msmarco"}},
          "Format of the corpus file; auto decides by extension and header.");
  v.field("queries", o.queries, "Queries file (BEIR queries.jsonl).");
  v.field("qrels", o.qrels,
          "Relevance judgments of the evaluated split: BEIR qrels .tsv or TREC qrels; empty = "
          "<dataset>/qrels/<test_split>.tsv.");
  v.field("train_split", o.train_split, "Name of the training split under <dataset>/qrels/.");
  v.field("test_split", o.test_split, "Name of the evaluation split under <dataset>/qrels/.");
  v.field(
      "answers", o.answers,
      "Answers jsonl ({\"_id\", \"answers\": [...]}) for hits@k by answer match (NQ, TriviaQA).");
  v.field("pseudo_queries", o.pseudo_queries,
          "Pseudo-queries jsonl ({\"_id\": passage id, \"pseudo_queries\": [...]}), indexed as a "
          "view when index.views lists pseudo_queries.");
}

template <class V>
void visit(V& v, EvalOptions& o) {
  v.field("run", o.run, "TREC run file to evaluate (dgr eval-run).");
  v.field("system", o.system, "Name of the evaluated system in tables; empty = the run's tag.");
  visit(v, static_cast<eval::MetricOptions&>(o));
  v.field("baseline", o.baseline,
          "TREC run that dgr eval-run compares eval.run with, per metric: paired randomization "
          "test and paired t-test over the judged queries (a query missing from a run scores "
          "0); empty = no comparison.");
  v.field("randomization_trials", o.randomization_trials,
          "Random sign flips of the paired randomization test (eval.baseline and the pipeline's "
          "p-value table), from a fixed seed; all 2^n are enumerated when that is fewer.");
}

template <class V>
void visit(V& v, ModelOptions& o) {
  v.field(
      "init_from", o.init_from,
      "Checkpoint directory in Hugging Face layout (config.json, model.safetensors, vocab.json, "
      "merges.txt): a facebook/bart-* download or a dgr checkpoint.");
  v.field("arch", config::Choice{o.arch, {"tiny", "mini", "small", "bart-base", "bart-large"}},
          "Model dimensions when a model is created from scratch (`dgr model init`).");
  v.field("device", o.device, "Where the model runs: cpu, cuda or cuda:N.");
}

template <class V>
void visit(V& v, PipelineOptions& o) {
  v.field("tokenizer", config::Choice{o.tokenizer, {"train", "given"}},
          "train: learn a vocabulary on the corpus into <run.out>/tokenizer; given: use "
          "tokenizer.dir as it is (e.g. BART's).");
  v.field("train_queries", config::Choice{o.train_queries, {"dataset", "synthetic"}},
          "Training queries: the data set's train split, or queries made from the corpus "
          "(pipeline.synthetic) when the data set has none.");
  v.section("synthetic", o.synthetic,
            "Synthetic training queries (pipeline.train_queries: synthetic), each with its "
            "passage as the one positive.");
  v.field("stage1", o.stage1,
          "Overrides (\"key=value\", as --set takes them) for stage-1 training only; `dgr "
          "train` with train.stage stage1 applies them too, before its --set.");
  v.field("candidates", o.candidates,
          "Overrides for the retrieval of the training queries' candidates.");
  v.field("teacher", o.teacher, "Overrides for the teacher stage.");
  v.field("distill", o.distill,
          "Overrides for DGR distillation (and the LTRGR baseline): its own learning rate, batch "
          "and schedule. `dgr train` with train.stage distill applies them too, before its "
          "--set, so distillation trains with them by any entry point (`dgr config show "
          "--training` prints the result).");
  v.field("ltrgr", o.ltrgr,
          "Overrides for the LTRGR baseline, after pipeline.distill's and distill.loss=margin.");
  v.field("evaluate", o.evaluate,
          "Overrides for the evaluation of every system on the test split.");
}

template <class V>
void visit(V& v, ExperimentConfig& o) {
  v.field("name", o.name, "Name of the experiment, used in tables and logs.");
  v.section("run", o.run, "Output, seeds, threads and logging.");
  v.section("data", o.data, "Input data: corpus, queries, judgments.");
  v.section("tokenizer", o.tokenizer, "The byte-level BPE vocabulary.");
  v.section("index", o.index, "Identifier views and the sharded FM-index.");
  v.section("model", o.model, "The seq2seq generative retriever (BART architecture).");
  v.section("search", o.search, "Constrained beam search over the index.");
  v.section("scoring", o.scoring, "SEAL intersective scoring of passages from generated keys.");
  v.section("retrieve", o.retrieve, "`dgr retrieve`: which queries, which outputs.");
  v.section("examples", o.examples, "Stage-1 training examples (MINDER): `dgr examples build`.");
  v.section("train", o.train, "The data-parallel trainer (`dgr train`).");
  v.section("teacher", o.teacher, "The teacher ranker (`dgr teacher`).");
  v.section("distill", o.distill,
            "DGR stage 2 (`dgr train` with train.stage distill): lists, losses, weights.");
  v.section("eval", o.eval, "Metrics and their cut-offs.");
  v.section("pipeline", o.pipeline,
            "`dgr pipeline`: how the stages get their inputs, and per-stage overrides.");
}

// A configuration after loading, overriding, binding and deriving defaults.
struct ResolvedConfig {
  ExperimentConfig options;
  config::ConfigTree tree;
  YAML::Node resolved;  // every key, defaults included
  std::string yaml;     // canonical resolved YAML (every key)
  std::string hash;     // SHA-256 of `yaml`
  std::string source;   // the config file, or "" when built from flags alone

  std::string short_hash() const { return hash.substr(0, 12); }
};

// Loads `config_path` (may be empty: defaults only), applies `--set` assignments, then flag
// overrides (dotted key, value, flag name), binds strictly and derives the dataset defaults.
ResolvedConfig resolve_config(const std::string& config_path, const std::vector<std::string>& sets,
                              const std::vector<std::pair<std::string, std::string>>& flags);

// Fills empty data paths from `data.dataset` (corpus.jsonl, queries.jsonl, qrels/<split>.tsv).
void derive_dataset_paths(DataOptions& data);

// The training judgments, the one rule every stage follows: `override_path` when not empty (e.g.
// teacher.qrels), else <data.dataset>/qrels/<data.train_split>.tsv, else data.qrels (which is
// then the only judgments there are). ConfigError "<command>: no training judgments (...)" when
// none is set.
std::string training_qrels_path(const DataOptions& data, const std::string& command,
                                const std::string& override_path = "");

// The node at a dotted key ("train.lr") of a resolved tree; undefined when absent.
YAML::Node find_key(const YAML::Node& root, const std::string& dotted);

// Throws ConfigError listing every key of `keys` whose string value is empty, with the flag
// that sets it, e.g. "missing required key 'eval.run' (set it in the config or pass --run)".
void require_keys(const ResolvedConfig& config,
                  const std::vector<std::pair<std::string, std::string>>& keys);

// Writes `dir/config.resolved.yaml` (atomically) and returns its path.
std::string write_resolved_config(const ResolvedConfig& config, const std::string& dir);

// The configuration reference in Markdown (the body of docs/configuration.md's key table).
std::string configuration_reference();

}  // namespace dgr
