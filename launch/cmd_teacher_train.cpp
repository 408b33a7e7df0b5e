// `dgr teacher init` and `dgr teacher train`: a cross-encoder teacher made from training
// judgments, for data sets without a pretrained cross-encoder checkpoint (none can be
// downloaded where dgr runs offline).
//
// Usage:
//
//   # 1. A fresh BERT classifier with its own WordPiece vocabulary, built from the corpus and
//   #    the training queries (or --vocab FILE to reuse a BERT vocab.txt):
//   dgr teacher init --dataset ../shared/data/cranfield --out runs/ce-init
//       --set teacher.train.arch=minilm-l6 --set teacher.train.vocab_size=8000
//
//   # 2. Fine-tune it on the training split's judgments, one positive and teacher.train.negatives
//   #    BM25 negatives per group, data-parallel over the MPI ranks:
//   mpirun -np 4 dgr teacher train --dataset ../shared/data/cranfield
//       --init-from runs/ce-init --out runs/ce --set teacher.train.epochs=20
//       --set teacher.train.lr=1e-4 --set teacher.train.warmup_steps=100
//
//   # 3. runs/ce/model is a Hugging Face BertForSequenceClassification directory (config.json,
//   #    model.safetensors, vocab.txt, tokenizer_config.json): use it as the cross-encoder
//   #    teacher's checkpoint, or load it in transformers.
//
// `init` writes config.json (num_labels 1), model.safetensors (BERT's init, seeded by run.seed),
// vocab.txt ([PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, then every character seen as "c" and
// "##c", then the most frequent whole words; core/text/wordpiece_vocab.h) and
// tokenizer_config.json (do_lower_case: teacher.train.lowercase).
// `train` builds the groups on every rank (the same BM25 index and ranking everywhere, as
// `dgr teacher bm25-run` does), trains (distributed/cross_encoder_trainer.h), writes
// <out>/train_log.jsonl, <out>/train_report.json and the model to <out>/model (or
// teacher.train.export_dir). Checkpoints go to <run.out>/checkpoints every
// teacher.train.checkpoint_every steps; a rerun resumes from the latest (teacher.train.resume).
#include <glog/logging.h>

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/eval/qrels.h"
#include "core/model/safetensors.h"
#include "core/model/torch_runtime.h"
#include "core/text/wordpiece_vocab.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "data/dataset.h"
#include "distributed/mpi_context.h"
#include "launch/cli_common.h"
#include "teacher/bm25.h"
#include "teacher/cross_encoder_trainer.h"

namespace dgr::cli {
namespace {

namespace fs = std::filesystem;

const InputFlag kModelOutFlag{"--out", "model.init_from",
                              "Cross-encoder directory to write (model.init_from)"};
const InputFlag kVocabFlag{"--vocab", "teacher.train.vocab",
                           "An existing WordPiece vocab.txt (teacher.train.vocab)"};

std::vector<std::string> read_vocab_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::string line;
  for (char c : read_file(path)) {
    if (c == '\n') {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(line);
      line.clear();
    } else {
      line += c;
    }
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

int teacher_init(distributed::MpiContext& mpi, const ResolvedConfig& config,
                 const GlobalOptions& global) {
  const config::KeyScope option_keys(config.options);  // components' errors name their keys
  require_keys(config, {{"model.init_from", "--out"}});
  const ExperimentConfig& o = config.options;
  const TeacherTrainOptions& t = o.teacher.train;
  if (t.vocab.empty()) {
    require_keys(config, {{"data.corpus", "--corpus or --dataset"}});
    if (t.vocab_size < 1 || t.vocab_min_frequency < 1) {
      throw ConfigError(
          "teacher.train.vocab_size and teacher.train.vocab_min_frequency must be "
          "at least 1");
    }
  }
  start_logging(config, mpi, global);
  // Rank 0 writes the directory; the others wait (init is cheap).
  if (mpi.is_root()) {
    model::configure_threads(o.run.threads, 1);
    std::vector<std::string> vocab;
    std::string origin;
    if (!t.vocab.empty()) {
      vocab = read_vocab_lines(t.vocab);
      origin = t.vocab;
    } else {
      text::WordPieceVocabOptions options;
      options.vocab_size = static_cast<size_t>(t.vocab_size);
      options.min_frequency = static_cast<uint64_t>(t.vocab_min_frequency);
      options.tokenizer.lowercase = t.lowercase;
      text::WordPieceVocabBuilder builder(options);
      const data::Corpus corpus = data::load_corpus(o.data.corpus, o.data.corpus_format);
      for (const data::Passage& p : corpus) {
        builder.add(p.title.empty() ? p.text : p.title + ": " + p.text,
                    o.data.corpus + ": passage '" + p.id + "'");
      }
      size_t queries_added = 0;
      // The training queries' words too, when there are training judgments.
      const std::string qrels_path = o.data.dataset.empty() && o.data.qrels.empty()
                                         ? std::string()
                                         : training_qrels_path(o.data, "teacher init");
      if (!o.data.queries.empty() && !qrels_path.empty() && file_exists(qrels_path)) {
        const data::Queries queries = data::load_queries(o.data.queries);
        const eval::Qrels qrels = data::read_qrels(qrels_path);
        for (const data::Query& q : queries) {
          if (!qrels.by_query.count(q.id)) continue;
          builder.add(q.text, o.data.queries + ": query '" + q.id + "'");
          ++queries_added;
        }
      }
      text::WordPieceVocabStats stats;
      vocab = builder.build(&stats);
      origin = "built from " + std::to_string(corpus.size()) + " passages and " +
               std::to_string(queries_added) +
               " training queries: " + std::to_string(stats.characters) + " characters, " +
               std::to_string(stats.whole_words) + " whole words of " +
               std::to_string(stats.distinct_words);
      if (stats.characters_dropped > 0) {
        origin += "; " + std::to_string(stats.characters_dropped) +
                  " rare characters left out (raise teacher.train.vocab_size)";
      }
    }
    const int64_t parameters = teacher::write_initial_cross_encoder(
        o.model.init_from, t.arch, vocab, t.lowercase, static_cast<uint64_t>(o.run.seed));
    std::cout << "wrote " << o.model.init_from << ": BERT cross-encoder " << t.arch << ", "
              << parameters << " parameters, vocabulary of " << vocab.size() << " (" << origin
              << ")\n";
  }
  mpi.barrier();
  return 0;
}

struct GroupStats {
  size_t queries = 0;           // judged queries that gave at least one group
  size_t missing_queries = 0;   // judged query ids the query file lacks
  size_t unknown_passages = 0;  // judged passage ids the corpus lacks
  size_t short_pools = 0;       // groups with fewer candidates than negatives
};

// One group per (judged query, passage of grade >= threshold), in qrels order; candidates are
// BM25's top negative_depth without the query's judged-relevant passages.
std::vector<teacher::CrossEncoderGroup> make_groups(
    const data::Corpus& corpus, const data::Queries& queries, const eval::Qrels& qrels,
    const teacher::Bm25Index& index, const TeacherTrainOptions& t, int threads, GroupStats* stats) {
  std::vector<teacher::CrossEncoderGroup> groups;
  std::vector<std::string> texts;
  std::vector<size_t> first_group;  // per searched query
  for (const auto& [query_id, judged] : qrels.by_query) {
    const auto q = queries.find(query_id);
    if (!q) {
      ++stats->missing_queries;
      continue;
    }
    std::vector<uint32_t> relevant;
    for (const auto& [passage_id, grade] : judged) {
      if (grade < t.relevance_threshold) continue;
      const auto p = corpus.find(passage_id);
      if (!p) {
        ++stats->unknown_passages;
        continue;
      }
      relevant.push_back(static_cast<uint32_t>(*p));
    }
    if (relevant.empty()) continue;
    std::vector<uint32_t> sorted = relevant;
    std::sort(sorted.begin(), sorted.end());
    first_group.push_back(groups.size());
    texts.push_back(queries[*q].text);
    for (uint32_t p : relevant) {
      teacher::CrossEncoderGroup group;
      group.query_id = query_id;
      group.query = queries[*q].text;
      group.positive = p;
      group.relevant = sorted;
      groups.push_back(std::move(group));
    }
    ++stats->queries;
  }
  if (groups.empty()) {
    throw DataError("teacher train: no judged query has a passage of grade >= " +
                    std::to_string(t.relevance_threshold) + " in the corpus");
  }
  const std::vector<std::vector<teacher::Bm25Hit>> hits =
      teacher::search_batch(index, texts, static_cast<size_t>(t.negative_depth), threads);
  for (size_t q = 0; q < texts.size(); ++q) {
    const size_t end = q + 1 < first_group.size() ? first_group[q + 1] : groups.size();
    const std::vector<uint32_t>& relevant = groups[first_group[q]].relevant;
    std::vector<uint32_t> candidates;
    for (const teacher::Bm25Hit& hit : hits[q]) {
      if (!std::binary_search(relevant.begin(), relevant.end(), hit.passage)) {
        candidates.push_back(hit.passage);
      }
    }
    for (size_t g = first_group[q]; g < end; ++g) {
      groups[g].candidates = candidates;
      if (candidates.size() < static_cast<size_t>(t.negatives)) ++stats->short_pools;
    }
  }
  return groups;
}

// About the disk the trained cross-encoder takes, for the pre-flight check of the output
// directory (the export; each checkpoint takes as much again, plus AdamW's 2x): its weights in
// float32 (4 bytes per parameter of init_from's model.safetensors, whatever dtype that stores) and
// 16 MiB for the vocabulary, configs, report and logs. Without init_from's weights only the margin
// (the model's loader then names the missing file).
uint64_t trained_model_bytes(const std::string& init_from) {
  const std::string weights = (fs::path(init_from) / "model.safetensors").string();
  uint64_t bytes = 16ull << 20;
  if (!file_exists(weights)) return bytes;
  return bytes + sizeof(float) * safetensors_value_count(model::read_safetensors_header(weights));
}

int teacher_train(distributed::MpiContext& mpi, const ResolvedConfig& config,
                  const GlobalOptions& global) {
  const config::KeyScope option_keys(config.options);  // components' errors name their keys
  require_keys(config, {{"model.init_from", "--init-from"},
                        {"data.corpus", "--corpus or --dataset"},
                        {"data.queries", "--queries or --dataset"}});
  const ExperimentConfig& o = config.options;
  const TeacherTrainOptions& t = o.teacher.train;
  const std::string qrels_path = training_qrels_path(o.data, "teacher train");
  if (t.negative_depth < 1) {
    throw ConfigError("teacher.train.negative_depth must be at least 1, got " +
                      std::to_string(t.negative_depth));
  }
  check_backend_device(t, o.model.device);
  teacher::check_teacher_train(t, mpi.size());
  distributed::TrainingRun run = training_run(config, mpi);
  const teacher::Bm25Options& bm25 = o.teacher.bm25;
  teacher::validate(bm25);

  // Pre-flight: an output directory that cannot take the model fails now, not after training;
  // rank 0's IoError ends every rank (run_on_all_ranks), the others wait in the barrier.
  if (mpi.is_root()) {
    check_output_directory(o.run.out, trained_model_bytes(o.model.init_from), "the trained model");
  }
  mpi.barrier();
  start_logging(config, mpi, global);
  const int threads = model::configure_threads(o.run.threads, mpi.ranks_on_node());
  run.overlap = resolve_overlap(t.overlap, t.backend, threads, mpi.ranks_on_node());

  // Every rank builds the same groups: the inputs and BM25 are deterministic.
  const data::Corpus corpus = data::load_corpus(o.data.corpus, o.data.corpus_format);
  const data::Queries queries = data::load_queries(o.data.queries);
  const eval::Qrels qrels = data::read_qrels(qrels_path);
  const teacher::Bm25Index index = teacher::Bm25Index::build(corpus, bm25, threads, o.data.corpus);
  GroupStats stats;
  const std::vector<teacher::CrossEncoderGroup> groups =
      make_groups(corpus, queries, qrels, index, t, threads, &stats);
  LOG_IF(INFO, mpi.is_root()) << "teacher train: " << groups.size() << " groups from "
                              << stats.queries << " judged queries of " << qrels_path << " ("
                              << stats.missing_queries << " query ids not in " << o.data.queries
                              << ", " << stats.unknown_passages
                              << " passage ids not in the corpus, " << stats.short_pools
                              << " groups topped up with random negatives)";
  LOG_IF(INFO, mpi.is_root()) << "training on " << mpi.size() << " rank(s) x " << threads
                              << " thread(s), global batch " << t.global_batch << " groups of 1 + "
                              << t.negatives;

  const teacher::CrossEncoderTrainReport report =
      teacher::train_cross_encoder(mpi, corpus, groups, run, t);
  if (mpi.is_root()) {
    write_resolved_config(config, o.run.out);
    const nlohmann::json summary = {{"groups", groups.size()},
                                    {"queries", stats.queries},
                                    {"ranks", mpi.size()},
                                    {"steps", report.steps},
                                    {"first_loss", report.first_loss},
                                    {"final_loss", report.final_loss},
                                    {"first_accuracy", report.first_accuracy},
                                    {"final_accuracy", report.final_accuracy},
                                    {"eval_groups", report.eval_groups},
                                    {"initial_pair_accuracy", report.initial_pair_accuracy},
                                    {"final_pair_accuracy", report.final_pair_accuracy},
                                    {"seconds", report.seconds},
                                    {"groups_per_second", report.groups_per_second},
                                    {"exposed_comm_fraction", report.exposed_comm_fraction},
                                    {"model", report.export_dir},
                                    {"config_hash", config.hash}};
    write_file_atomic((fs::path(o.run.out) / "train_report.json").string(), summary.dump(2) + "\n");
    std::cout << std::setprecision(4) << "trained " << report.steps << " steps on " << mpi.size()
              << " rank(s) x " << threads << " thread(s) in " << report.seconds << " s: loss "
              << report.first_loss << " -> " << report.final_loss << ", positive ranked first "
              << report.first_accuracy << " -> " << report.final_accuracy << "; "
              << report.groups_per_second << " groups/s; exposed communication "
              << 100 * report.exposed_comm_fraction << "% of step time\n";
    if (report.eval_groups > 0) {
      std::cout << "pairwise accuracy (positive above a sampled negative) on " << report.eval_groups
                << " training groups: " << report.initial_pair_accuracy << " before, "
                << report.final_pair_accuracy << " after\n";
    }
    std::cout << "wrote " << o.run.out << "/train_log.jsonl, " << o.run.out
              << "/train_report.json, model in " << report.export_dir << "\n";
  }
  return 0;
}

}  // namespace

void add_teacher_train_commands(CLI::App& teacher_app, Command& selected,
                                const GlobalOptions& global) {
  auto init_inputs = std::make_shared<ConfigInputs>();
  CLI::App* init = teacher_app.add_subcommand(
      "init",
      "Write a freshly initialised BERT cross-encoder (teacher.train.arch, run.seed) with a "
      "WordPiece vocabulary built from the corpus and training queries, or --vocab");
  init_inputs->attach(init, {kDatasetFlag, kCorpusFlag, kQueriesFlag, kModelOutFlag, kVocabFlag});
  init->callback([init_inputs, &selected, &global] {
    selected.needs_mpi = true;
    selected.run = [init_inputs, &global](distributed::MpiContext* mpi) {
      return teacher_init(*mpi, init_inputs->resolve(), global);
    };
  });

  auto train_inputs = std::make_shared<ConfigInputs>();
  CLI::App* train = teacher_app.add_subcommand(
      "train",
      "Fine-tune a cross-encoder on the training judgments with BM25-sampled negatives, "
      "data-parallel over MPI ranks; exports it in Hugging Face layout");
  train_inputs->attach(
      train, {kInitFromFlag, kDatasetFlag, kCorpusFlag, kQueriesFlag, kQrelsFlag, kOutFlag});
  train->callback([train_inputs, &selected, &global] {
    selected.needs_mpi = true;
    selected.run = [train_inputs, &global](distributed::MpiContext* mpi) {
      return teacher_train(*mpi, train_inputs->resolve(), global);
    };
  });
}

}  // namespace dgr::cli
