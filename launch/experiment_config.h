// The experiment configuration: every YAML key dgr understands, as typed option structs whose
// initialisers are the defaults. docs/configuration.md is generated from these structs
// (`dgr config docs`) and a test fails when the two disagree.
//
// Resolution order, later wins: defaults < `extends` bases < the config file < `--set k=v`
// < subcommand flags (`--qrels`, `--run`, `--out`, ...). The resolved tree is written as
// `config.resolved.yaml` next to every output, and its SHA-256 goes into every artifact.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/util/config.h"

namespace dgr {

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

struct TokenizerOptions {
  std::string dir;
  int vocab_size = 8000;
  int min_frequency = 2;
};

struct IndexOptions {
  std::string dir;
  std::vector<std::string> views{"title", "body"};
  int shards = 0;
  std::string title_start = "</s>";
  std::string title_end = " @@";
  std::string pq_start = " ||";
  std::string pq_end = " @@";
  bool verify_checksums = true;
};

struct EvalOptions {
  std::string run;
  std::string system;
  std::vector<int> recall_at{5, 20, 100};
  std::vector<int> hits_at{5, 20, 100};
  std::vector<int> ndcg_at{10};
  int mrr_at = 10;
  bool map = true;
  int relevance_threshold = 1;
  bool missing_queries_count_as_zero = true;
};

struct ExperimentConfig {
  std::string name = "dgr";
  RunOptions run;
  DataOptions data;
  TokenizerOptions tokenizer;
  IndexOptions index;
  EvalOptions eval;
};

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
void visit(V& v, TokenizerOptions& o) {
  v.field("dir", o.dir,
          "Directory with vocab.json + merges.txt (byte-level BPE: BART's, or one made by "
          "`dgr tokenizer train`); `dgr tokenizer train` writes here.");
  v.field("vocab_size", o.vocab_size,
          "Vocabulary size learned by `dgr tokenizer train` (special tokens and 256 bytes "
          "included).");
  v.field("min_frequency", o.min_frequency,
          "`dgr tokenizer train` stops when no pair of symbols occurs this often.");
}

template <class V>
void visit(V& v, IndexOptions& o) {
  v.field("dir", o.dir, "Index directory: written by `dgr index build`, read by later stages.");
  v.field("views", o.views,
          "Identifier views to index: title (</s> title @@), body (title @@ text), "
          "pseudo_queries (|| query @@).");
  v.field("shards", o.shards,
          "Number of FM-index shards (contiguous passage ranges); 0 = one per MPI rank.");
  v.field("title_start", o.title_start, "Marker before a title (a special token or text).");
  v.field("title_end", o.title_end, "Marker after a title, before the body text.");
  v.field("pq_start", o.pq_start, "Marker before a pseudo-query.");
  v.field("pq_end", o.pq_end, "Marker after a pseudo-query.");
  v.field("verify_checksums", o.verify_checksums,
          "Re-hash every shard against the manifest when loading (sizes are always checked).");
}

template <class V>
void visit(V& v, EvalOptions& o) {
  v.field("run", o.run, "TREC run file to evaluate (dgr eval-run).");
  v.field("system", o.system, "Name of the evaluated system in tables; empty = the run's tag.");
  v.field("recall_at", o.recall_at, "Cut-offs of Recall@k.");
  v.field("hits_at", o.hits_at, "Cut-offs of hits@k (any relevant passage in the top k).");
  v.field("ndcg_at", o.ndcg_at, "Cut-offs of nDCG@k (gain = grade, log2 discount).");
  v.field("mrr_at", o.mrr_at, "Cut-off of MRR.");
  v.field("map", o.map, "Report MAP over the whole ranking.");
  v.field("relevance_threshold", o.relevance_threshold,
          "Smallest grade that counts as relevant for binary metrics (TREC DL uses 2).");
  v.field("missing_queries_count_as_zero", o.missing_queries_count_as_zero,
          "Judged queries absent from the run score 0 (trec_eval -c); false skips them.");
}

template <class V>
void visit(V& v, ExperimentConfig& o) {
  v.field("name", o.name, "Name of the experiment, used in tables and logs.");
  v.section("run", o.run, "Output, seeds, threads and logging.");
  v.section("data", o.data, "Input data: corpus, queries, judgments.");
  v.section("tokenizer", o.tokenizer, "The byte-level BPE vocabulary.");
  v.section("index", o.index, "Identifier views and the sharded FM-index.");
  v.section("eval", o.eval, "Metrics and their cut-offs.");
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

// Throws ConfigError listing every key of `keys` whose string value is empty, with the flag
// that sets it, e.g. "missing required key 'eval.run' (set it in the config or pass --run)".
void require_keys(const ResolvedConfig& config,
                  const std::vector<std::pair<std::string, std::string>>& keys);

// Writes `dir/config.resolved.yaml` (atomically) and returns its path.
std::string write_resolved_config(const ResolvedConfig& config, const std::string& dir);

// The configuration reference in Markdown (the body of docs/configuration.md's key table).
std::string configuration_reference();

}  // namespace dgr
