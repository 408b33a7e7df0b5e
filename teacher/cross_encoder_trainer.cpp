#include "teacher/cross_encoder_trainer.h"

#include <glog/logging.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <unordered_map>

#include "core/model/bert.h"
#include "core/model/pretrained.h"
#include "core/model/training.h"
#include "core/text/wordpiece.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/progress.h"
#include "core/util/timing.h"
#include "distributed/communicator.h"
#include "distributed/data_parallel_trainer.h"
#include "distributed/gradient_reducer.h"
#include "distributed/sharded_optimizer.h"
#include "distributed/training_setup.h"

namespace dgr::teacher {

using namespace distributed;  // NOLINT(google-build-using-namespace): the loop and its parts
using config::option_key;
using config::OptionError;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using text::TokenId;

// The negatives of the before/after evaluation come from this "epoch": a stream no training
// epoch uses.
constexpr uint64_t kEvalStream = std::numeric_limits<uint64_t>::max();

// The negatives of group `g` in `epoch`: without replacement from its candidates, then (when the
// pool is short) uniformly from the corpus, never a judged-relevant passage or a repeat.
std::vector<uint32_t> draw_negatives(const CrossEncoderGroup& group, uint64_t g, size_t corpus_size,
                                     int n, uint64_t seed, uint64_t epoch) {
  std::mt19937_64 rng((seed ^ 0xC2B2AE3D27D4EB4Full) * 0x9E3779B97F4A7C15ull +
                      epoch * 0x100000001B3ull + g);
  std::vector<uint32_t> pool = group.candidates;
  std::vector<uint32_t> out;
  const auto want = static_cast<size_t>(n);
  for (size_t i = 0; i < pool.size() && out.size() < want; ++i) {
    const size_t j = i + static_cast<size_t>(rng() % (pool.size() - i));
    std::swap(pool[i], pool[j]);
    out.push_back(pool[i]);
  }
  while (out.size() < want) {
    const auto p = static_cast<uint32_t>(rng() % corpus_size);
    if (p == group.positive ||
        std::binary_search(group.relevant.begin(), group.relevant.end(), p) ||
        std::find(out.begin(), out.end(), p) != out.end()) {
      continue;
    }
    out.push_back(p);
  }
  return out;
}

// Token ids of queries and passages, encoded once and kept (a group's passages recur with
// every epoch's draw).
class EncodingCache {
 public:
  EncodingCache(const text::WordPieceTokenizer& tokenizer, const data::Corpus& corpus)
      : tokenizer_(tokenizer), corpus_(corpus) {}

  const std::vector<TokenId>& passage(uint32_t p) {
    auto it = passages_.find(p);
    if (it != passages_.end()) return it->second;
    const data::Passage& passage = corpus_[p];
    const std::string text =
        passage.title.empty() ? passage.text : passage.title + ": " + passage.text;
    return passages_.emplace(p, encode(text, "passage '" + passage.id + "'")).first->second;
  }
  const std::vector<TokenId>& query(const CrossEncoderGroup& group) {
    auto it = queries_.find(group.query_id);
    if (it != queries_.end()) return it->second;
    return queries_.emplace(group.query_id, encode(group.query, "query '" + group.query_id + "'"))
        .first->second;
  }

 private:
  std::vector<TokenId> encode(const std::string& text, const std::string& what) const {
    try {
      return tokenizer_.encode(text);
    } catch (const DataError& e) {
      throw DataError("teacher train: " + what + ": " + e.what());
    }
  }
  const text::WordPieceTokenizer& tokenizer_;
  const data::Corpus& corpus_;
  std::unordered_map<uint32_t, std::vector<TokenId>> passages_;
  std::unordered_map<std::string, std::vector<TokenId>> queries_;
};

// A micro-batch of G groups as [G·(1+n), S] pair tensors, the positive first in each group.
struct PairBatch {
  torch::Tensor input_ids;       // [G·(1+n), S]
  torch::Tensor token_type_ids;  // [G·(1+n), S]
  torch::Tensor attention_mask;  // [G·(1+n), S]
  int64_t groups = 0;
  int64_t per_group = 0;  // 1 + n
};

PairBatch collate(const std::vector<uint64_t>& group_ids, const std::vector<CrossEncoderGroup>& all,
                  size_t corpus_size, int negatives, uint64_t seed, uint64_t epoch,
                  int64_t max_length, const text::WordPieceTokenizer& tokenizer,
                  EncodingCache& cache, const torch::Device& device) {
  std::vector<text::PairEncoding> pairs;
  size_t width = 1;
  for (uint64_t g : group_ids) {
    const CrossEncoderGroup& group = all[g];
    const std::vector<TokenId>& query = cache.query(group);
    std::vector<uint32_t> passages{group.positive};
    for (uint32_t p : draw_negatives(group, g, corpus_size, negatives, seed, epoch))
      passages.push_back(p);
    for (uint32_t p : passages) {
      pairs.push_back(
          tokenizer.build_pair(query, cache.passage(p), static_cast<size_t>(max_length)));
      width = std::max(width, pairs.back().input_ids.size());
    }
  }
  const auto rows = static_cast<int64_t>(pairs.size());
  const auto cols = static_cast<int64_t>(width);
  auto ids = torch::full({rows, cols}, static_cast<int64_t>(tokenizer.pad_id()), torch::kInt64);
  auto types = torch::zeros({rows, cols}, torch::kInt64);
  auto mask = torch::zeros({rows, cols}, torch::kInt64);
  auto ids_a = ids.accessor<int64_t, 2>();
  auto types_a = types.accessor<int64_t, 2>();
  auto mask_a = mask.accessor<int64_t, 2>();
  for (int64_t r = 0; r < rows; ++r) {
    const text::PairEncoding& pair = pairs[static_cast<size_t>(r)];
    for (size_t i = 0; i < pair.input_ids.size(); ++i) {
      ids_a[r][static_cast<int64_t>(i)] = pair.input_ids[i];
      types_a[r][static_cast<int64_t>(i)] = pair.token_type_ids[i];
      mask_a[r][static_cast<int64_t>(i)] = 1;
    }
  }
  PairBatch batch;
  batch.input_ids = ids.to(device);
  batch.token_type_ids = types.to(device);
  batch.attention_mask = mask.to(device);
  batch.groups = static_cast<int64_t>(group_ids.size());
  batch.per_group = 1 + negatives;
  return batch;
}

// The group scores [G, 1+n]: the classifier's logit 0 for one label, the "relevant" logit 1
// otherwise (as CrossEncoderTeacher scores).
torch::Tensor group_scores(model::BertForSequenceClassification& model, const PairBatch& b) {
  const torch::Tensor logits = model->forward(b.input_ids, b.token_type_ids, b.attention_mask);
  const int64_t column = logits.size(1) == 1 ? 0 : 1;
  return logits.select(1, column).reshape({b.groups, b.per_group}).to(torch::kFloat32);
}

// Fraction of (positive, negative) pairs ordered correctly (ties half) over the first groups.
double pair_accuracy(model::BertForSequenceClassification& model,
                     const std::vector<CrossEncoderGroup>& groups, size_t corpus_size,
                     int negatives, uint64_t seed, int64_t max_length,
                     const text::WordPieceTokenizer& tokenizer, EncodingCache& cache,
                     const torch::Device& device, int64_t count) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  double right = 0;
  int64_t pairs = 0;
  const int64_t chunk = 8;
  for (int64_t first = 0; first < count; first += chunk) {
    std::vector<uint64_t> ids;
    for (int64_t g = first; g < std::min(count, first + chunk); ++g)
      ids.push_back(static_cast<uint64_t>(g));
    const PairBatch b = collate(ids, groups, corpus_size, negatives, seed, kEvalStream, max_length,
                                tokenizer, cache, device);
    const torch::Tensor scores = group_scores(model, b).cpu();  // [G, 1+n]
    const torch::Tensor positive = scores.narrow(1, 0, 1);
    const torch::Tensor negatives = scores.narrow(1, 1, b.per_group - 1);
    right += (positive > negatives).sum().item<double>() +
             0.5 * (positive == negatives).sum().item<double>();
    pairs += negatives.numel();
  }
  model->train(was_training);
  return pairs > 0 ? right / static_cast<double>(pairs) : 0.0;
}

// The BERT classifier as a TrainableModel: checkpoints and the export keep the config as
// loaded and the tokenizer files of init_from.
class BertTrainable final : public TrainableModel {
 public:
  BertTrainable(model::BertForSequenceClassification& model, const model::BertConfig& config,
                std::string tokenizer_dir)
      : model_(model), config_(config), tokenizer_dir_(std::move(tokenizer_dir)) {}
  torch::nn::Module& module() override { return *model_; }
  void save_pretrained(const std::string& dir) const override {
    model::save_bert_classifier(model_, config_, dir, tokenizer_dir_);
  }
  void load_weights(const std::string& path) override { model::load_bert_weights(model_, path); }

 private:
  model::BertForSequenceClassification& model_;
  const model::BertConfig& config_;
  std::string tokenizer_dir_;
};

// Localised contrastive estimation as an objective: the rows are the groups; a group's loss is
// −log softmax(scores)[positive]; the step's loss is their sum over the global batch divided by
// its size (known in advance: no counts to exchange). Sums: loss, positives ranked first.
class CrossEncoderObjective : public Objective {
 public:
  CrossEncoderObjective(model::BertForSequenceClassification& bert,
                        const std::vector<CrossEncoderGroup>& groups, size_t corpus_size,
                        const TeacherTrainOptions& job, uint64_t seed, int64_t max_length,
                        const text::WordPieceTokenizer& tokenizer, EncodingCache& cache,
                        const torch::Device& device, int ranks, bool root,
                        CrossEncoderTrainReport& report)
      : bert_(bert),
        groups_(groups),
        corpus_size_(corpus_size),
        job_(job),
        seed_(seed),
        max_length_(max_length),
        tokenizer_(tokenizer),
        cache_(cache),
        device_(device),
        ranks_(ranks),
        root_(root),
        report_(report) {}

  uint64_t rows() const override { return groups_.size(); }
  size_t sum_count() const override { return 2; }

  std::vector<int64_t> prepare(const StepShare& share) override {
    const auto micro = static_cast<size_t>(share.micro_batch);
    batches_.clear();
    for (size_t first = 0; first < share.rows.size(); first += micro) {
      const std::vector<uint64_t> part(
          share.rows.begin() + static_cast<std::ptrdiff_t>(first),
          share.rows.begin() + static_cast<std::ptrdiff_t>(first + micro));
      batches_.push_back(collate(part, groups_, corpus_size_, job_.negatives, seed_,
                                 static_cast<uint64_t>(share.epoch), max_length_, tokenizer_,
                                 cache_, device_));
    }
    return {};
  }

  torch::Tensor forward(int64_t first, int64_t count, const std::vector<int64_t>& /*counts*/,
                        std::vector<double>& sums) override {
    const torch::Tensor scores =
        group_scores(bert_, batches_[static_cast<size_t>(first / count)]);  // [G, 1+n]
    const torch::Tensor loss = -torch::log_softmax(scores, 1).select(1, 0).sum();
    sums[0] += loss.item<double>();
    sums[1] += scores.argmax(1).eq(0).sum().item<double>();
    // The reducer averages over the ranks, so N / B makes the update that of the summed group
    // losses divided by the global batch B.
    return loss * (static_cast<double>(ranks_) / static_cast<double>(job_.global_batch));
  }

  StepOutcome outcome(const std::vector<double>& sums,
                      const std::vector<int64_t>& /*counts*/) override {
    StepOutcome out;
    out.loss = sums[0] / static_cast<double>(job_.global_batch);
    out.fields = {{"accuracy", sums[1] / static_cast<double>(job_.global_batch)}};
    return out;
  }

  void at_end(int64_t /*step*/, TrainLog& /*log*/) override {
    if (report_.eval_groups > 0 && root_) {
      report_.final_pair_accuracy =
          pair_accuracy(bert_, groups_, corpus_size_, job_.negatives, seed_, max_length_,
                        tokenizer_, cache_, device_, report_.eval_groups);
    }
  }

 private:
  model::BertForSequenceClassification& bert_;
  const std::vector<CrossEncoderGroup>& groups_;
  size_t corpus_size_;
  const TeacherTrainOptions& job_;
  uint64_t seed_;
  int64_t max_length_;
  const text::WordPieceTokenizer& tokenizer_;
  EncodingCache& cache_;
  torch::Device device_;
  int ranks_;
  bool root_;
  CrossEncoderTrainReport& report_;
  std::vector<PairBatch> batches_;
};

}  // namespace

void check_teacher_train(const TeacherTrainOptions& job, int world_size) {
  if (job.negatives < 1) {
    throw OptionError("{} must be at least 1, got " + std::to_string(job.negatives),
                      {option_key(job, job.negatives)});
  }
  if (job.max_length < 0) throw OptionError("{} must be >= 0", {option_key(job, job.max_length)});
  check_training_options(job, world_size);
  if (job.eval_groups < 0) throw OptionError("{} must be >= 0", {option_key(job, job.eval_groups)});
}

CrossEncoderTrainReport train_cross_encoder(Communicator& comm, Communicator& control,
                                            const data::Corpus& corpus,
                                            const std::vector<CrossEncoderGroup>& groups,
                                            const TrainingRun& run,
                                            const TeacherTrainOptions& job) {
  const auto start = Clock::now();
  const int64_t ranks = comm.size();
  const int64_t rank = comm.rank();
  const bool root = rank == 0;
  check_teacher_train(job, comm.size());
  if (groups.empty()) throw DataError("teacher train: no training groups");
  for (const CrossEncoderGroup& group : groups) {
    if (group.positive >= corpus.size() ||
        std::any_of(group.candidates.begin(), group.candidates.end(),
                    [&](uint32_t p) { return p >= corpus.size(); })) {
      throw DataError("teacher train: query '" + group.query_id +
                      "': a passage index outside the corpus of " + std::to_string(corpus.size()));
    }
    if (group.candidates.size() < static_cast<size_t>(job.negatives) &&
        corpus.size() < group.relevant.size() + static_cast<size_t>(job.negatives) + 1) {
      throw OptionError("{} (" + std::to_string(job.negatives) + "): the corpus of " +
                            std::to_string(corpus.size()) +
                            " passages has too few unjudged passages for query '" + group.query_id +
                            "'",
                        {option_key(job, job.negatives)});
    }
  }
  const auto n_groups = static_cast<int64_t>(groups.size());
  const int64_t total_steps = training_steps(job, n_groups, "training groups");

  // The model and its tokenizer, as CrossEncoderTeacher reads them.
  const std::string vocab_path = (fs::path(run.init_from) / "vocab.txt").string();
  const std::string tokenizer_config_path =
      (fs::path(run.init_from) / "tokenizer_config.json").string();
  if (!file_exists(vocab_path)) {
    throw IoError("cross-encoder directory " + run.init_from + ": missing " + vocab_path);
  }
  text::WordPieceOptions tokenizer_options;
  if (file_exists(tokenizer_config_path)) {
    tokenizer_options = text::read_bert_tokenizer_config(tokenizer_config_path).options;
  }
  const text::WordPieceTokenizer tokenizer =
      text::WordPieceTokenizer::load(vocab_path, tokenizer_options);
  model::PretrainedBertClassifier pretrained =
      model::load_bert_classifier(run.init_from, run.device);
  const torch::Device device = model::parse_device(run.device);
  const model::BertConfig saved_config = pretrained.config;
  if (tokenizer.vocab_size() > saved_config.vocab_size) {
    throw DataError(vocab_path + ": " + std::to_string(tokenizer.vocab_size()) +
                    " tokens, but the model's embedding table has vocab_size " +
                    std::to_string(saved_config.vocab_size));
  }
  if (saved_config.type_vocab_size < 2) {
    throw ConfigError(run.init_from +
                      "/config.json: key \"type_vocab_size\": a cross-encoder "
                      "needs 2 token types");
  }
  const int64_t positions = saved_config.max_position_embeddings;
  if (job.max_length > positions) {
    throw OptionError("{} (" + std::to_string(job.max_length) +
                          ") exceeds the model's max_position_embeddings " +
                          std::to_string(positions),
                      {option_key(job, job.max_length)});
  }
  const int64_t max_length = job.max_length > 0 ? job.max_length : positions;
  if (max_length < 3) {
    throw OptionError("{} must be at least 3", {option_key(job, job.max_length)});
  }
  if (job.dropout >= 0) {
    // The layers read their dropout rates from the config: rebuild with the trainer's rate.
    model::BertConfig config = saved_config;
    config.hidden_dropout_prob = job.dropout;
    config.attention_probs_dropout_prob = job.dropout;
    config.classifier_dropout = job.dropout;
    pretrained.model = model::BertForSequenceClassification(config);
    model::load_bert_weights(pretrained.model,
                             (fs::path(run.init_from) / "model.safetensors").string());
    pretrained.model->to(device);
  }
  model::BertForSequenceClassification& bert = pretrained.model;
  EncodingCache cache(tokenizer, corpus);

  CrossEncoderTrainReport report;
  report.eval_groups = std::min<int64_t>(job.eval_groups, n_groups);
  if (root && report.eval_groups > 0) {
    report.initial_pair_accuracy =
        pair_accuracy(bert, groups, corpus.size(), job.negatives, run.seed, max_length, tokenizer,
                      cache, device, report.eval_groups);
  }

  TrainingPhase phase;
  phase.steps = total_steps;
  phase.schedule = lr_schedule(job, total_steps);
  phase.stored_rows = job.global_batch;
  CrossEncoderObjective objective(bert, groups, corpus.size(), job, run.seed, max_length, tokenizer,
                                  cache, device, static_cast<int>(ranks), root, report);
  BertTrainable trainable(bert, saved_config, run.init_from);
  const DataParallelJob loop{job, run, "teacher train", "groups_per_s", {}};
  const DataParallelReport trained =
      train_data_parallel(comm, control, trainable, loop, {phase}, objective);
  report.first_step = trained.first_step;
  report.steps = trained.steps;
  report.first_loss = trained.first_loss;
  report.final_loss = trained.final_loss;
  report.first_accuracy = trained.first_fields.value("accuracy", 0.0);
  report.final_accuracy = trained.final_fields.value("accuracy", 0.0);
  report.export_dir = trained.export_dir;
  report.seconds = seconds_since(start);
  report.groups_per_second = trained.items_per_second;
  report.exposed_comm_fraction = trained.exposed_comm_fraction;
  report.optimizer_state_bytes = trained.optimizer_state_bytes;
  return report;
}

int64_t write_initial_cross_encoder(const std::string& dir, const std::string& arch,
                                    const std::vector<std::string>& vocab, bool lowercase,
                                    uint64_t seed) {
  text::WordPieceOptions options;
  options.lowercase = lowercase;
  // Checks the specials are present (DataError naming them otherwise).
  const text::WordPieceTokenizer tokenizer(vocab, options, dir + "/vocab.txt");
  model::BertConfig config =
      model::BertConfig::preset(arch, static_cast<int64_t>(vocab.size()), /*num_labels=*/1);
  config.pad_token_id = tokenizer.pad_id();
  model::validate(config, dir + "/config.json");
  torch::manual_seed(seed);
  model::BertForSequenceClassification bert(config);
  int64_t parameters = 0;
  for (const torch::Tensor& p : bert->parameters())
    parameters += p.numel();

  // The tokenizer files go into a side directory first, so that save_bert_classifier writes
  // the whole checkpoint under a temporary name and renames it into place.
  fs::path target = fs::path(dir);
  if (!target.has_filename()) target = target.parent_path();
  const std::string staging = target.string() + ".tokenizer.tmp." + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(staging, ec);
  ensure_directory(staging);
  try {
    std::string lines;
    for (const std::string& token : vocab) {
      if (token.find_first_of("\r\n") != std::string::npos) {
        throw DataError(dir + "/vocab.txt: a token contains a line break");
      }
      lines += token + "\n";
    }
    write_file_atomic((fs::path(staging) / "vocab.txt").string(), lines);
    const text::WordPieceSpecialTokens& special = options.special;
    const nlohmann::json tokenizer_config = {{"tokenizer_class", "BertTokenizer"},
                                             {"do_lower_case", lowercase},
                                             {"strip_accents", nullptr},
                                             {"tokenize_chinese_chars", true},
                                             {"model_max_length", config.max_position_embeddings},
                                             {"pad_token", special.pad},
                                             {"unk_token", special.unk},
                                             {"cls_token", special.cls},
                                             {"sep_token", special.sep},
                                             {"mask_token", special.mask}};
    write_file_atomic((fs::path(staging) / "tokenizer_config.json").string(),
                      tokenizer_config.dump(2) + "\n");
    model::save_bert_classifier(bert, config, dir, staging);
  } catch (...) {
    fs::remove_all(staging, ec);
    throw;
  }
  fs::remove_all(staging, ec);
  return parameters;
}

CrossEncoderTrainReport train_cross_encoder(MpiContext& mpi, const data::Corpus& corpus,
                                            const std::vector<CrossEncoderGroup>& groups,
                                            const TrainingRun& run,
                                            const TeacherTrainOptions& job) {
  // Gradients travel on the configured backend; the few scalars of a step stay in host memory
  // on MPI, whatever the backend.
  TrainingCommunicators comms = make_training_communicators(job, run, mpi);
  return train_cross_encoder(*comms.gradients, comms.control(), corpus, groups, run, job);
}

}  // namespace dgr::teacher
