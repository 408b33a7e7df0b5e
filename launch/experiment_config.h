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

#include "core/rank/loss_names.h"
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
  std::string baseline;
  int randomization_trials = 10000;
};

struct ModelOptions {
  std::string init_from;
  std::string arch = "bart-large";
  std::string device = "cpu";
};

struct SearchOptions {
  int beam_size = 15;
  std::vector<std::string> views;
  int title_max_length = 15;
  int body_max_length = 10;
  int pq_max_length = 30;
  bool keep_history = true;
  int batch_size = 8;
  int max_query_length = 64;
  bool rescore = false;
};

struct ScoringOptions {
  double alpha = 2.0;
  double beta = 0.8;
  double smoothing = 5.0;
  int max_hits = 1500;
  int fully_score = 1500;
  bool unigram_evidence = true;
  int unigram_top = 5000;
  int depth = 100;
};

struct RetrieveOptions {
  std::string queries = "judged";
  std::string run;
  std::string tag = "dgr";
  bool dump_keys = false;
  int max_keys_per_passage = 40;
  bool evaluate = true;
};

struct ExamplesOptions {
  std::string path;
  int titles_per_query = 3;
  int spans_per_query = 10;
  int pseudo_queries_per_query = 5;
  int span_length = 10;
  bool unsupervised = true;
  int unsup_spans = 3;
  int unsup_titles = 1;
  int unsup_pseudo_queries = 2;
  int source_length = 64;
  int relevance_threshold = 1;
};

// Stage 1's copy warm start (data/copy_task.h).
struct CopyWarmStartOptions {
  int steps = 0;
  double lr = 1e-3;
  int warmup_steps = 50;
  int length = 16;
  double mix = 0.0;
};

// Stage 1's guard against a model that ignores its input (distributed/input_probe.h).
struct InputProbeOptions {
  int examples = 32;
  int every = 100;
  double min_gap = 0.1;
  int check_after = 500;
};

struct TrainOptions {
  std::string stage = "stage1";
  int global_batch = 32;
  int micro_batch = 0;
  int max_steps = 0;
  int epochs = 1;
  double lr = 3e-5;
  int warmup_steps = 500;
  std::string decay = "linear";
  double end_lr = 0.0;
  double weight_decay = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double adam_eps = 1e-8;
  double clip_norm = 0.1;
  double label_smoothing = 0.1;
  double dropout = -1.0;
  int checkpoint_every = 1000;
  int keep_last = 3;
  int log_every = 10;
  std::string backend = "mpi";
  double bucket_mb = 25.0;
  std::string overlap = "auto";
  int zero_stage = 0;
  bool resume = true;
  std::string export_dir;
  CopyWarmStartOptions copy;
  InputProbeOptions probe;
};

struct Bm25TeacherOptions {
  double k1 = 0.9;
  double b = 0.4;
  bool quantize_lengths = true;
  std::string stemmer = "porter";
  bool stop_words = true;
  int top_k = 1000;
  std::string queries = "judged";
  std::string run;
  std::string tag = "bm25";
  bool evaluate = true;
};

struct CrossEncoderTeacherOptions {
  std::string checkpoint;
  int batch_size = 32;
  int max_length = 0;
  bool lowercase = true;
  std::string device = "cpu";
};

struct TeacherTrainOptions {
  std::string arch = "tiny";
  std::string vocab;
  int vocab_size = 8000;
  int vocab_min_frequency = 2;
  bool lowercase = true;
  int negatives = 7;
  int negative_depth = 100;
  int relevance_threshold = 1;
  int max_length = 0;
  int global_batch = 16;
  int micro_batch = 0;
  int max_steps = 0;
  int epochs = 1;
  double lr = 1e-4;
  int warmup_steps = 0;
  std::string decay = "linear";
  double end_lr = 0.0;
  double weight_decay = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double adam_eps = 1e-8;
  double clip_norm = 1.0;
  double dropout = -1.0;
  int log_every = 10;
  int eval_groups = 64;
  std::string backend = "mpi";
  double bucket_mb = 25.0;
  std::string overlap = "auto";
  int zero_stage = 0;
  int checkpoint_every = 1000;
  int keep_last = 3;
  bool resume = true;
  std::string export_dir;
};

struct TeacherOptions {
  std::string kind = "bm25";
  std::string run;
  std::string missing_pair = "error";
  Bm25TeacherOptions bm25;
  TeacherTrainOptions train;
  CrossEncoderTeacherOptions cross_encoder;
  std::string candidates = "retrieve";
  std::string candidates_dir;
  int num_candidates = 200;
  int max_keys = 40;
  std::string qrels;
  std::string out;
};

struct DistillOptions {
  std::string set;
  std::string loss = "distilled_ranknet";
  double lambda_rank = 1.0;
  double lambda_gen = 500.0;
  double margin = 300.0;
  double margin_step = 100.0;
  double first_weight = 3.0;
  double sigma = 1.0;
  double temperature = 1.0;
  double teacher_temperature = 1.0;
  int top_positives = 1;
  int random_positives = 1;
  int top_negatives = 1;
  int random_negatives = 3;
  int relevance_threshold = 1;
  int min_positives = 1;
  int min_negatives = 16;
  std::string on_nonfinite = "skip";
  int max_nonfinite_steps = 20;
  int holdout = 32;
  int eval_candidates = 50;
  int eval_every = 0;
};

struct SyntheticQueriesOptions {
  int passages = 0;
  int queries_per_passage = 2;
  std::vector<std::string> kinds{"terms", "span"};
  int min_words = 3;
  int max_words = 8;
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
void visit(V& v, SearchOptions& o) {
  v.field("beam_size", o.beam_size, "Beams per query and view of constrained beam search.");
  v.field("views", o.views,
          "Views to generate (title, body, pseudo_queries); empty = every view the index holds.");
  v.field("title_max_length", o.title_max_length,
          "Longest generated title, in tokens (end marker included).");
  v.field("body_max_length", o.body_max_length, "Longest generated body n-gram, in tokens.");
  v.field("pq_max_length", o.pq_max_length,
          "Longest generated pseudo-query, in tokens (end marker included).");
  v.field("keep_history", o.keep_history,
          "Every partial hypothesis becomes a key (SEAL); false keeps only the final beams.");
  v.field("batch_size", o.batch_size, "Queries decoded together.");
  v.field("max_query_length", o.max_query_length, "Query tokens given to the encoder.");
  v.field("rescore", o.rescore,
          "Rescore every key by teacher forcing. Beam search's own sums are already the keys' "
          "log-probabilities without length penalty (equal up to float rounding), so this only "
          "costs time; it is here for parity with SEAL.");
}

template <class V>
void visit(V& v, ScoringOptions& o) {
  v.field("alpha", o.alpha, "Exponent of a key's log-odds weight (SEAL: 2).");
  v.field("beta", o.beta, "Coverage weight: share of a key's weight that depends on new tokens.");
  v.field("smoothing", o.smoothing,
          "Added to counts in P(n) = (F(n) + s) / (N + s); N is the corpus tokens for body keys "
          "and, for title and pseudo-query keys, the count of their start marker (the keys can "
          "only start there).");
  v.field("max_hits", o.max_hits, "Keys occurring more often than this nominate no candidates.");
  v.field("fully_score", o.fully_score, "Candidates scored with every key (the top by evidence).");
  v.field("unigram_evidence", o.unigram_evidence,
          "Add the first decoding step's token log-odds (no exponent) to passage scores.");
  v.field("unigram_top", o.unigram_top, "Tokens of the first step kept as unigram evidence.");
  v.field("depth", o.depth, "Passages ranked per query (run file depth).");
}

template <class V>
void visit(V& v, RetrieveOptions& o) {
  v.field("queries", config::Choice{o.queries, {"judged", "all"}},
          "Queries to retrieve for: those with judgments in data.qrels, or every query.");
  v.field("run", o.run, "Run file written by `dgr retrieve`; empty = <run.out>/run.trec.");
  v.field("tag", o.tag, "Run tag (last column of the run file).");
  v.field("dump_keys", o.dump_keys,
          "Also write <run.out>/keys.jsonl: each ranked passage's matched keys (distillation).");
  v.field("max_keys_per_passage", o.max_keys_per_passage,
          "Matched keys kept per passage in keys.jsonl (DGR uses 40).");
  v.field("evaluate", o.evaluate, "Evaluate the run against data.qrels when it is set.");
}

template <class V>
void visit(V& v, ExamplesOptions& o) {
  v.field("path", o.path,
          "HDF5 file of stage-1 examples: written by `dgr examples build`, read by `dgr train`; "
          "empty = <run.out>/stage1_examples.h5.");
  v.field("titles_per_query", o.titles_per_query,
          "Copies of each positive passage's title example per training query.");
  v.field("spans_per_query", o.spans_per_query,
          "Body spans per (query, positive), preferring overlap with the query.");
  v.field("pseudo_queries_per_query", o.pseudo_queries_per_query,
          "Pseudo-query examples per (query, positive) when pseudo-queries are indexed.");
  v.field("span_length", o.span_length, "Tokens of a body-span identifier.");
  v.field("unsupervised", o.unsupervised,
          "Also make corpus examples: a passage segment -> its title / a span / a pseudo-query.");
  v.field("unsup_spans", o.unsup_spans, "Corpus examples per passage with a span target.");
  v.field("unsup_titles", o.unsup_titles, "Corpus examples per passage with its title as target.");
  v.field("unsup_pseudo_queries", o.unsup_pseudo_queries,
          "Corpus examples per passage with a pseudo-query target.");
  v.field("source_length", o.source_length, "Tokens of the passage segment of a corpus example.");
  v.field("relevance_threshold", o.relevance_threshold,
          "Smallest qrels grade that makes a passage a positive of a training query.");
}

template <class V>
void visit(V& v, CopyWarmStartOptions& o) {
  v.field("steps", o.steps,
          "Stage 1 only: optimizer steps on random-token copies (source = target) before the "
          "identifier examples; they come on top of max_steps. Models trained from scratch need "
          "them (a few hundred) to keep the encoder from collapsing; 0 = none.");
  v.field("lr", o.lr, "Peak learning rate of the copy steps (constant after their warm-up).");
  v.field("warmup_steps", o.warmup_steps, "Linear warm-up of the copy steps.");
  v.field("length", o.length,
          "Tokens of the longest copied sequence; lengths are uniform in [length/2, length].");
  v.field("mix", o.mix,
          "Fraction of every later step's global batch made of copies (rounded to whole "
          "examples; the rest are identifier examples): keeps the encoder reading its input "
          "while the targets offer a language-model shortcut. 0 = none.");
}

template <class V>
void visit(V& v, InputProbeOptions& o) {
  v.field("examples", o.examples,
          "Stage 1 only: examples of the fixed probe batch (distinct sources and targets); "
          "0 = no probe.");
  v.field("every", o.every,
          "Steps between probes (also at step 0 and the last step); each writes probe_gap, "
          "probe_nll_true, probe_nll_shuffled and encoder_spread to train_log.jsonl.");
  v.field("min_gap", o.min_gap,
          "Smallest NLL gap (nats per target token) between targets after another example's "
          "source and after their own that shows the model reads its input.");
  v.field("check_after", o.check_after,
          "Identifier steps (after the copy warm start) from which a probe gap below min_gap "
          "stops the run with an error (the model ignores its input); the switch from copies to "
          "identifiers dips the gap for a few hundred steps. 0 = only log.");
}

template <class V>
void visit(V& v, TrainOptions& o) {
  v.field("stage", config::Choice{o.stage, {"stage1", "distill"}},
          "What `dgr train` trains: stage1 (identifiers from the stage-1 example store) or "
          "distill (DGR: ranking losses on the distillation set plus the generation loss, see "
          "distill.*).");
  v.field("global_batch", o.global_batch,
          "Examples per optimizer step over all ranks (cut into equal per-rank pieces); with "
          "stage distill, queries of the distillation set.");
  v.field("micro_batch", o.micro_batch,
          "Examples per forward/backward on a rank; a rank accumulates global_batch / (ranks x "
          "micro_batch) of them per step (one all-reduce per step). 0 = global_batch / ranks. "
          "The same micro_batch on any number of ranks computes the very same update.");
  v.field("max_steps", o.max_steps, "Optimizer steps; 0 = epochs x rows / global_batch.");
  v.field("epochs", o.epochs, "Passes over the examples when max_steps is 0.");
  v.field("lr", o.lr, "Peak learning rate.");
  v.field("warmup_steps", o.warmup_steps, "Linear warm-up steps from 0 to the peak rate.");
  v.field("decay", config::Choice{o.decay, {"linear", "constant", "polynomial"}},
          "Learning-rate decay after warm-up (to end_lr at the last step).");
  v.field("end_lr", o.end_lr, "Learning rate at the last step.");
  v.field("weight_decay", o.weight_decay,
          "AdamW decoupled weight decay (not applied to biases and LayerNorm weights).");
  v.field("beta1", o.beta1, "AdamW beta1.");
  v.field("beta2", o.beta2, "AdamW beta2.");
  v.field("adam_eps", o.adam_eps, "AdamW epsilon.");
  v.field("clip_norm", o.clip_norm, "Global gradient-norm clip; 0 disables.");
  v.field("label_smoothing", o.label_smoothing, "Label smoothing of the cross-entropy.");
  v.field("dropout", o.dropout,
          "Dropout during training; negative = the model config's. With dropout > 0 results "
          "depend on the number of ranks (each rank draws its own masks).");
  v.field("checkpoint_every", o.checkpoint_every,
          "Steps between checkpoints (and one at the end).");
  v.field("keep_last", o.keep_last, "Checkpoints kept; 0 keeps all.");
  v.field("log_every", o.log_every, "Steps between lines of train_log.jsonl and progress.");
  v.field("backend", config::Choice{o.backend, {"mpi", "nccl"}},
          "Gradient all-reduce: MPI on host memory or NCCL on GPUs.");
  v.field("bucket_mb", o.bucket_mb, "Gradient bucket size in MB (reverse registration order).");
  v.field("overlap", config::Choice{o.overlap, {"auto", "true", "false"}},
          "true: all-reduce each bucket from a communication thread as soon as backward has "
          "produced it; false: all buckets after backward. auto: true with nccl or when a core "
          "per node is left for the communication thread (ranks x threads < cores), else false "
          "(on fully used cores the thread slows backward more than it hides).");
  v.field("zero_stage", o.zero_stage,
          "0: every rank holds the AdamW state; 1: ZeRO-1, the state is sharded over the ranks "
          "(reduce-scatter of gradients, all-gather of parameters).");
  v.field("resume", o.resume, "Continue from <run.out>/checkpoints/latest when it exists.");
  v.field("export_dir", o.export_dir,
          "The trained model in Hugging Face layout (for --init-from); empty = <run.out>/model.");
  v.section("copy", o.copy, "Stage 1's copy warm start on random-token sequences.");
  v.section("probe", o.probe,
            "Stage 1's probe of whether the model reads its input (NLL gap, encoder spread).");
}

template <class V>
void visit(V& v, Bm25TeacherOptions& o) {
  v.field("k1", o.k1, "BM25 term-frequency saturation k1 (Anserini's default 0.9).");
  v.field("b", o.b, "BM25 length normalisation b in [0, 1] (Anserini's default 0.4).");
  v.field("quantize_lengths", o.quantize_lengths,
          "Score with Lucene's one-byte passage lengths (exact below 40, then 4 significant "
          "bits), as Anserini does; false uses exact lengths.");
  v.field("stemmer", config::Choice{o.stemmer, {"porter", "english", "none"}},
          "Stemmer of the analyzer: porter (Lucene's PorterStemFilter, Anserini's default), "
          "english (Snowball Porter2) or none.");
  v.field("stop_words", o.stop_words, "Drop Lucene's 33 English stop words.");
  v.field("top_k", o.top_k, "Passages ranked per query by `dgr teacher bm25-run` (run depth).");
  v.field("queries", config::Choice{o.queries, {"judged", "all"}},
          "Queries `dgr teacher bm25-run` ranks for: those judged in data.qrels, or all.");
  v.field("run", o.run, "Run file written by `dgr teacher bm25-run`; empty = <run.out>/bm25.trec.");
  v.field("tag", o.tag, "Run tag of the BM25 run (last column).");
  v.field("evaluate", o.evaluate, "Evaluate the BM25 run against data.qrels when it is set.");
}

template <class V>
void visit(V& v, CrossEncoderTeacherOptions& o) {
  v.field("checkpoint", o.checkpoint,
          "Hugging Face checkpoint directory of a BERT cross-encoder (config.json, "
          "model.safetensors, vocab.txt), e.g. cross-encoder/ms-marco-MiniLM-L-6-v2.");
  v.field("batch_size", o.batch_size, "(query, passage) pairs per forward pass.");
  v.field("max_length", o.max_length,
          "Tokens per pair, specials included; 0 = the model's limit (max_position_embeddings, "
          "or tokenizer_config.json's model_max_length when smaller).");
  v.field("lowercase", o.lowercase,
          "Lowercase and strip accents when tokenizer_config.json does not say (do_lower_case).");
  v.field("device", o.device, "Where the cross-encoder runs: cpu, cuda or cuda:N.");
}

template <class V>
void visit(V& v, TeacherTrainOptions& o) {
  v.field("arch", config::Choice{o.arch, {"tiny", "minilm-l6", "bert-base"}},
          "BERT size made by `dgr teacher init`: tiny (tests), minilm-l6 or bert-base.");
  v.field("vocab", o.vocab,
          "`dgr teacher init`: an existing WordPiece vocab.txt to use; empty = build one from the "
          "corpus and the training queries.");
  v.field("vocab_size", o.vocab_size,
          "`dgr teacher init`: size of the built vocabulary (specials and characters included).");
  v.field("vocab_min_frequency", o.vocab_min_frequency,
          "`dgr teacher init`: whole words seen fewer times stay out of the built vocabulary.");
  v.field("lowercase", o.lowercase,
          "`dgr teacher init`: lowercase and strip accents (tokenizer_config.json do_lower_case).");
  v.field("negatives", o.negatives, "Sampled negatives per (query, positive) group.");
  v.field("negative_depth", o.negative_depth,
          "Negatives are drawn from BM25's top passages of the query, judged-relevant ones "
          "removed.");
  v.field("relevance_threshold", o.relevance_threshold,
          "Smallest grade of a training judgment that makes a positive.");
  v.field("max_length", o.max_length,
          "Tokens per (query, passage) pair, specials included; 0 = max_position_embeddings.");
  v.field("global_batch", o.global_batch, "Groups per update, over all ranks.");
  v.field("micro_batch", o.micro_batch,
          "Groups per forward/backward on a rank (gradient accumulation); 0 = global_batch / "
          "ranks.");
  v.field("max_steps", o.max_steps, "Updates to run; 0 = epochs x groups / global_batch.");
  v.field("epochs", o.epochs, "Passes over the groups when max_steps is 0.");
  v.field("lr", o.lr, "Peak learning rate.");
  v.field("warmup_steps", o.warmup_steps, "Linear warm-up steps.");
  v.field("decay", config::Choice{o.decay, {"linear", "constant", "polynomial"}},
          "Learning-rate decay after warm-up.");
  v.field("end_lr", o.end_lr, "Learning rate at the last step (linear / polynomial decay).");
  v.field("weight_decay", o.weight_decay,
          "AdamW decoupled weight decay (not applied to biases and LayerNorm weights).");
  v.field("beta1", o.beta1, "AdamW beta1.");
  v.field("beta2", o.beta2, "AdamW beta2.");
  v.field("adam_eps", o.adam_eps, "AdamW epsilon.");
  v.field("clip_norm", o.clip_norm, "Global gradient-norm clip; 0 disables.");
  v.field("dropout", o.dropout,
          "Dropout during training; negative = the model config's. With dropout > 0 results "
          "depend on the number of ranks (each rank draws its own masks).");
  v.field("log_every", o.log_every, "Steps between lines of train_log.jsonl.");
  v.field("eval_groups", o.eval_groups,
          "Training groups scored before and after training for the pairwise ranking accuracy "
          "of the report; 0 = none.");
  v.field("backend", config::Choice{o.backend, {"mpi", "nccl"}},
          "Gradient all-reduce: MPI on host memory or NCCL on GPUs.");
  v.field("bucket_mb", o.bucket_mb, "Gradient bucket size in MB.");
  v.field("overlap", config::Choice{o.overlap, {"auto", "true", "false"}},
          "All-reduce each bucket as soon as backward has produced it (true), after backward "
          "(false), or auto: as train.overlap decides.");
  v.field("zero_stage", o.zero_stage,
          "0: every rank holds the AdamW state; 1: ZeRO-1, the state is sharded over the ranks.");
  v.field("checkpoint_every", o.checkpoint_every,
          "Steps between checkpoints in <run.out>/checkpoints (and one at the end).");
  v.field("keep_last", o.keep_last, "Checkpoints kept; 0 keeps all.");
  v.field("resume", o.resume, "Continue from <run.out>/checkpoints/latest when it exists.");
  v.field("export_dir", o.export_dir,
          "The trained cross-encoder in Hugging Face layout; empty = <run.out>/model.");
}

template <class V>
void visit(V& v, TeacherOptions& o) {
  v.field("kind", config::Choice{o.kind, {"bm25", "run-file", "cross-encoder"}},
          "The teacher whose scores are distilled: BM25 over data.corpus, the scores of a "
          "TREC run (teacher.run), or a BERT cross-encoder (teacher.cross_encoder).");
  v.field("run", o.run, "TREC run whose scores the run-file teacher replays.");
  v.field("missing_pair", config::Choice{o.missing_pair, {"error", "fill"}},
          "Run-file teacher, a candidate the run does not score: error, or fill (below the "
          "query's lowest score).");
  v.section("bm25", o.bm25, "The BM25 teacher and `dgr teacher bm25-run`.");
  v.section("train", o.train,
            "`dgr teacher init` and `dgr teacher train`: a cross-encoder teacher made from "
            "training judgments.");
  v.section("cross_encoder", o.cross_encoder, "The cross-encoder teacher.");
  v.field("candidates", config::Choice{o.candidates, {"retrieve", "bm25"}},
          "Candidates `dgr teacher rank` scores per training query: the stage-1 retrieval "
          "(run + keys.jsonl of `dgr retrieve` in teacher.candidates_dir), or BM25's top "
          "passages (no keys, student score 0).");
  v.field("candidates_dir", o.candidates_dir,
          "Output directory of `dgr retrieve` (with retrieve.dump_keys) holding the candidates.");
  v.field("num_candidates", o.num_candidates,
          "Candidates kept per query (M; the candidate generator's top M).");
  v.field("max_keys", o.max_keys, "Matched keys kept per candidate.");
  v.field("qrels", o.qrels,
          "Judgments of the training queries (labels; a query is a training query when it has "
          "one); empty = <data.dataset>/qrels/<data.train_split>.tsv, or data.qrels without a "
          "dataset.");
  v.field("out", o.out,
          "Distillation set written by `dgr teacher rank`; empty = <run.out>/distill.h5.");
}

template <class V>
void visit(V& v, DistillOptions& o) {
  v.field("set", o.set, "Distillation set to train on; empty = teacher.out.");
  v.field("loss", config::Choice{o.loss, rank::ranking_loss_names()},
          "Ranking loss L_rank over each list (positive first, negatives in teacher order): DGR's "
          "distilled RankNet, its logistic form, LTRGR's margin loss, ListNet, KL to the "
          "teacher's softmax, or LambdaLoss (NDCG-Loss2).");
  v.field("lambda_rank", o.lambda_rank, "Weight of L_rank in the total loss.");
  v.field("lambda_gen", o.lambda_gen,
          "Weight of the generation loss 0.5 CE_title + 0.5 CE_body (the query's stage-1 "
          "examples, examples.path); 0 needs no example store.");
  v.field("margin", o.margin, "Margin M of distilled_ranknet and margin.");
  v.field("margin_step", o.margin_step,
          "distilled_ranknet: the margin grows by this per position between the pair.");
  v.field("first_weight", o.first_weight,
          "Weight of the pairs of a list's positive (distilled_ranknet, ranknet_logistic); later "
          "rows weigh 1/(i+1).");
  v.field("sigma", o.sigma, "Slope of the logistic pair loss (ranknet_logistic, lambdaloss).");
  v.field("temperature", o.temperature,
          "Softmax temperature of the student's scores (listnet, kl).");
  v.field("teacher_temperature", o.teacher_temperature,
          "Softmax temperature of the teacher's scores (listnet, kl).");
  v.field("top_positives", o.top_positives,
          "Per query and step: the teacher's best positives, each heading a list.");
  v.field("random_positives", o.random_positives,
          "Per query and step: more positives drawn at random, each heading a list.");
  v.field("top_negatives", o.top_negatives,
          "Per query and step: the teacher's best negatives, in every list.");
  v.field("random_negatives", o.random_negatives,
          "Per query and step: more negatives drawn at random, in every list.");
  v.field("relevance_threshold", o.relevance_threshold,
          "Smallest label that makes a candidate a positive.");
  v.field("min_positives", o.min_positives, "Queries with fewer positive candidates are not used.");
  v.field("min_negatives", o.min_negatives,
          "Queries with fewer negative candidates are not used (the paper keeps queries with more "
          "than 15).");
  v.field("on_nonfinite", config::Choice{o.on_nonfinite, {"skip", "abort"}},
          "A step whose loss or gradient norm is not finite: skip it (no update, counted and "
          "logged) or abort the run.");
  v.field("max_nonfinite_steps", o.max_nonfinite_steps,
          "With on_nonfinite skip: abort once this many steps were skipped.");
  v.field("holdout", o.holdout,
          "Queries held out of training (drawn with run.seed) on which the student's candidate "
          "order is compared with the teacher's before, during and after training.");
  v.field("eval_candidates", o.eval_candidates,
          "Candidates per held-out query scored in that comparison (the candidate generator's "
          "first).");
  v.field("eval_every", o.eval_every,
          "Steps between held-out comparisons; 0 = before and after training only.");
}

template <class V>
void visit(V& v, SyntheticQueriesOptions& o) {
  v.field("passages", o.passages,
          "Passages that get synthetic queries, drawn by run.seed without replacement; 0 = all.");
  v.field("queries_per_passage", o.queries_per_passage,
          "Queries made from each drawn passage, cycling through `kinds`.");
  v.field("kinds", o.kinds,
          "terms: the passage's N highest-idf words in their order; span: N consecutive words of "
          "one sentence.");
  v.field("min_words", o.min_words, "Fewest words of a synthetic query.");
  v.field("max_words", o.max_words, "Most words of a synthetic query.");
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
          "Overrides (\"key=value\", as --set takes them) for stage-1 training only.");
  v.field("candidates", o.candidates,
          "Overrides for the retrieval of the training queries' candidates.");
  v.field("teacher", o.teacher, "Overrides for the teacher stage.");
  v.field("distill", o.distill, "Overrides for DGR distillation (and the LTRGR baseline).");
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
