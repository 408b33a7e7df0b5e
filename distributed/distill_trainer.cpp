#include "distributed/distill_trainer.h"

#include <glog/logging.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <random>

#include "core/model/bart.h"
#include "core/model/training.h"
#include "core/rank/passage_score.h"
#include "core/rank/ranking_loss.h"
#include "core/text/bpe_tokenizer.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/memory.h"
#include "core/util/progress.h"
#include "core/util/timing.h"
#include "data/distill_set.h"
#include "data/stage1_examples.h"
#include "distributed/communicator.h"
#include "distributed/data_parallel_trainer.h"
#include "distributed/example_batch.h"
#include "distributed/gradient_reducer.h"
#include "distributed/training_setup.h"

namespace dgr::distributed {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Held-out candidates go through the decoder this many at a time (40 keys each at most).
constexpr size_t kEvalChunk = 8;

using config::key_name;
using config::option_key;
using config::OptionError;

rank::PassageScoreOptions score_options(const DistillInputs& in) {
  rank::PassageScoreOptions o;
  o.alpha = in.scoring.alpha;
  o.beta = in.scoring.beta;
  o.smoothing = in.scoring.smoothing;
  o.corpus_tokens = in.corpus_tokens;
  o.title_positions = in.title_positions;
  o.pq_positions = in.pq_positions;
  return o;
}

rank::KeyPrompts key_prompts(const DistillInputs& in) {
  rank::KeyPrompts p;
  p.title = {in.title_prefix, in.title_end};
  p.pseudo_query = {in.pq_prefix, in.pq_end};
  return p;
}

// The rows a run uses: the eligible queries, split into held-out and training rows.
struct RowPlan {
  std::vector<uint64_t> training;  // ascending
  std::vector<uint64_t> heldout;   // ascending
  int64_t unused = 0;
};

RowPlan plan_rows(const data::DistillSetFile& set, const TrainOptions& train,
                  const DistillOptions& d, uint64_t seed) {
  RowPlan plan;
  std::vector<uint64_t> eligible;
  const auto summaries = set.summaries(d.relevance_threshold);
  for (uint64_t r = 0; r < summaries.size(); ++r) {
    const int32_t negatives = summaries[r].candidates - summaries[r].positives;
    if (summaries[r].positives >= d.min_positives && negatives >= d.min_negatives) {
      eligible.push_back(r);
    } else {
      ++plan.unused;
    }
  }
  if (eligible.empty()) {
    throw DataError(set.path() + ": none of its " + std::to_string(set.size()) +
                    " queries has at least " + key_name(option_key(d, d.min_positives)) + " (" +
                    std::to_string(d.min_positives) +
                    ") candidates labelled >= " + std::to_string(d.relevance_threshold) + " and " +
                    key_name(option_key(d, d.min_negatives)) + " (" +
                    std::to_string(d.min_negatives) + ") other candidates");
  }
  // The held-out rows: the first of a permutation of their own (epoch −1 of the seed).
  const std::vector<uint64_t> order = epoch_order(eligible.size(), seed, -1);
  const size_t heldout = std::min<size_t>(static_cast<size_t>(d.holdout), eligible.size());
  for (size_t i = 0; i < order.size(); ++i)
    (i < heldout ? plan.heldout : plan.training).push_back(eligible[order[i]]);
  std::sort(plan.heldout.begin(), plan.heldout.end());
  std::sort(plan.training.begin(), plan.training.end());
  if (static_cast<int64_t>(plan.training.size()) < train.global_batch) {
    throw OptionError("{} (" + std::to_string(train.global_batch) + ") is larger than the " +
                          std::to_string(plan.training.size()) + " training queries of " +
                          set.path() + " (" + std::to_string(eligible.size()) + " usable, {} " +
                          std::to_string(heldout) + " held out)",
                      {option_key(train, train.global_batch), option_key(d, d.holdout)});
  }
  return plan;
}

// Queries as encoder input: ` text` tokens truncated to max_query_length, <s> ... </s>,
// right-padded. ids [Q, S], mask [Q, S].
std::pair<torch::Tensor, torch::Tensor> encode_queries(const text::BpeTokenizer& tokenizer,
                                                       const std::vector<std::string>& texts,
                                                       int64_t max_query_length,
                                                       const model::BartConfig& config,
                                                       const torch::Device& device) {
  std::vector<std::vector<int64_t>> inputs;
  size_t longest = 1;
  for (const std::string& text : texts) {
    std::vector<int32_t> ids = tokenizer.encode(" " + text);
    if (static_cast<int64_t>(ids.size()) > max_query_length) {
      ids.resize(static_cast<size_t>(max_query_length));
    }
    inputs.push_back(model::bart_encoder_input(ids, config));
    longest = std::max(longest, inputs.back().size());
  }
  const auto q = static_cast<int64_t>(texts.size());
  auto ids = torch::full({q, static_cast<int64_t>(longest)}, config.pad_token_id, torch::kInt64);
  auto mask = torch::zeros({q, static_cast<int64_t>(longest)}, torch::kInt64);
  auto ids_a = ids.accessor<int64_t, 2>();
  auto mask_a = mask.accessor<int64_t, 2>();
  for (int64_t i = 0; i < q; ++i) {
    const auto& in = inputs[static_cast<size_t>(i)];
    for (size_t t = 0; t < in.size(); ++t) {
      ids_a[i][static_cast<int64_t>(t)] = in[t];
      mask_a[i][static_cast<int64_t>(t)] = 1;
    }
  }
  return {ids.to(device), mask.to(device)};
}

// A stored candidate's keys as the passage score takes them; DataError for a token outside the
// model's vocabulary (a set made with another tokenizer).
rank::CandidateKeys candidate_keys(const data::DistillCandidate& c, int64_t query,
                                   int64_t vocab_size, const std::string& where) {
  rank::CandidateKeys out;
  out.query = query;
  out.keys.reserve(c.keys.size());
  for (const data::DistillKey& k : c.keys) {
    for (int32_t t : k.tokens) {
      if (t >= vocab_size) {
        throw DataError(where + ": key token " + std::to_string(t) +
                        " is outside the model's vocabulary of " + std::to_string(vocab_size) +
                        " (was the set made with another tokenizer?)");
      }
    }
    out.keys.push_back({k.view, k.tokens, k.count});
  }
  return out;
}

std::string where_in_set(const std::string& path, const data::DistillQuery& q, uint64_t row) {
  return path + ": query '" + q.query_id + "' (row " + std::to_string(row) + ")";
}

// ----- agreement of an order with the teacher's ------------------------------------------

// Indices by score descending, ties by index.
std::vector<size_t> order_by(const std::vector<double>& scores) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  return order;
}

double kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y) {
  double concordant = 0, discordant = 0, ties_x = 0, ties_y = 0;
  const size_t n = x.size();
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      const double dx = x[i] - x[j], dy = y[i] - y[j];
      if (dx == 0) ties_x += 1;
      if (dy == 0) ties_y += 1;
      if (dx == 0 || dy == 0) continue;
      ((dx > 0) == (dy > 0) ? concordant : discordant) += 1;
    }
  }
  const double pairs = static_cast<double>(n) * static_cast<double>(n - (n > 0)) / 2;
  const double denominator = std::sqrt((pairs - ties_x) * (pairs - ties_y));
  return denominator > 0 ? (concordant - discordant) / denominator : 0.0;
}

// nDCG@10 of the order of `student` when the teacher's k-th best (k < 10) has gain 10 − k.
double ndcg10_against_teacher(const std::vector<double>& student,
                              const std::vector<double>& teacher) {
  constexpr size_t kDepth = 10;
  std::vector<double> gain(student.size(), 0.0);
  const std::vector<size_t> ideal = order_by(teacher);
  double idcg = 0;
  for (size_t k = 0; k < std::min(kDepth, ideal.size()); ++k) {
    gain[ideal[k]] = static_cast<double>(kDepth - k);
    idcg += gain[ideal[k]] / std::log2(static_cast<double>(k) + 2);
  }
  const std::vector<size_t> order = order_by(student);
  double dcg = 0;
  for (size_t k = 0; k < std::min(kDepth, order.size()); ++k)
    dcg += gain[order[k]] / std::log2(static_cast<double>(k) + 2);
  return idcg > 0 ? dcg / idcg : 0.0;
}

double mrr10(const std::vector<double>& scores, const std::vector<bool>& positive) {
  const std::vector<size_t> order = order_by(scores);
  for (size_t k = 0; k < std::min<size_t>(10, order.size()); ++k) {
    if (positive[order[k]]) return 1.0 / static_cast<double>(k + 1);
  }
  return 0.0;
}

// Everything a step of one rank needs about one of its queries.
struct StepQuery {
  uint64_t row = 0;
  data::DistillQuery query;
  std::vector<std::vector<uint32_t>> lists;  // candidate indices, positive first
  std::optional<data::Stage1Example> title, body;
};

class DistillRun : public Objective {
 public:
  DistillRun(Communicator& comm, Communicator& control, const TrainingRun& run,
             const TrainOptions& train, const DistillOptions& distill, const DistillInputs& inputs,
             std::unique_ptr<rank::RankingLoss> loss)
      : comm_(comm),
        control_(control),
        run_(run),
        train_(train),
        distill_(distill),
        inputs_(inputs),
        set_(data::DistillSetFile::open(inputs.set_path)),
        tokenizer_(text::BpeTokenizer::load(inputs.tokenizer_dir)),
        loaded_(load_training_model(run.init_from, run.device, train.dropout)),
        device_(model::parse_device(run.device)),
        bart_(loaded_.pretrained.model),
        config_(loaded_.pretrained.config),
        prompts_(key_prompts(inputs)),
        scoring_(score_options(inputs)),
        loss_(std::move(loss)) {
    if (tokenizer_.vocab_size() > config_.vocab_size) {
      throw DataError(inputs.tokenizer_dir + ": the tokenizer's " +
                      std::to_string(tokenizer_.vocab_size()) + " tokens do not fit the " +
                      std::to_string(config_.vocab_size) + "-token vocabulary of the model " +
                      run.init_from);
    }
    plan_ = plan_rows(set_, train, distill, run.seed);
    if (distill.lambda_gen > 0) {
      examples_ = data::Stage1ExampleFile::open(inputs.examples_path);
      source_rows_ = examples_.supervised_rows();
    }
  }

  DistillTrainReport run();

  // The objective: training queries of the set (plan_.training) as rows; counts are the
  // lists and the title and body target tokens of the step, sums the list losses and the
  // title and body losses and NLLs.
  uint64_t rows() const override { return plan_.training.size(); }
  size_t sum_count() const override { return 5; }
  std::vector<int64_t> prepare(const StepShare& share) override;
  torch::Tensor forward(int64_t first, int64_t count, const std::vector<int64_t>& counts,
                        std::vector<double>& sums) override;
  StepOutcome outcome(const std::vector<double>& sums, const std::vector<int64_t>& counts) override;
  void at_start(TrainLog& log) override { record_agreement(0, log); }
  void after_log(int64_t step, bool last, TrainLog& log) override {
    if (distill_.eval_every > 0 && step % distill_.eval_every == 0 && !last)
      record_agreement(step, log);
  }
  void at_end(int64_t step, TrainLog& log) override { record_agreement(step, log); }

 private:
  // The held-out agreement at `step`, logged and kept for the report.
  void record_agreement(int64_t step, TrainLog& log);
  // This rank's queries of a global batch, with their lists and generation examples.
  std::vector<StepQuery> prepare(const std::vector<uint64_t>& rows, int64_t epoch) const;
  // The queries through the encoder: output [Q, S, D] and mask [Q, S].
  std::pair<torch::Tensor, torch::Tensor> encode(
      const std::vector<const data::DistillQuery*>& queries);
  // The student's scores of candidates `which` of each query (one query per entry, encoded by
  // encode()).
  torch::Tensor score(const std::pair<torch::Tensor, torch::Tensor>& encoded,
                      const std::vector<const data::DistillQuery*>& queries,
                      const std::vector<std::vector<uint32_t>>& which,
                      const std::vector<uint64_t>& rows);
  // Collective: the held-out agreement with the current weights.
  DistillAgreement evaluate(int64_t step);

  Communicator& comm_;
  Communicator& control_;
  const TrainingRun& run_;
  const TrainOptions& train_;
  const DistillOptions& distill_;
  const DistillInputs& inputs_;
  data::DistillSetFile set_;
  text::BpeTokenizer tokenizer_;
  TrainingModel loaded_;
  torch::Device device_;
  model::BartModel& bart_;
  const model::BartConfig& config_;
  rank::KeyPrompts prompts_;
  rank::PassageScoreOptions scoring_;
  std::unique_ptr<rank::RankingLoss> loss_;
  RowPlan plan_;
  data::Stage1ExampleFile examples_;
  std::map<std::string, data::Stage1ExampleFile::SourceRows> source_rows_;
  DistillTrainReport report_;
  std::vector<StepQuery> step_;  // this rank's queries of the current step
};

std::vector<StepQuery> DistillRun::prepare(const std::vector<uint64_t>& rows, int64_t epoch) const {
  std::vector<StepQuery> out(rows.size());
  std::vector<uint64_t> wanted;  // stage-1 rows, in (query, title, body) order
  std::vector<std::pair<size_t, bool>> owner;
  std::vector<data::DistillQuery> read = set_.read(rows);  // one read for the step's rows
  for (size_t i = 0; i < rows.size(); ++i) {
    StepQuery& q = out[i];
    q.row = rows[i];
    q.query = std::move(read[i]);
    const uint64_t seed = rank::mix_seed(run_.seed, static_cast<uint64_t>(epoch), rows[i]);
    std::vector<float> teacher;
    std::vector<bool> positive;
    for (const data::DistillCandidate& c : q.query.candidates) {
      teacher.push_back(c.teacher_score);
      positive.push_back(c.label >= distill_.relevance_threshold);
    }
    q.lists = rank::sample_lists(teacher, positive, distill_.sampling, seed);
    if (distill_.lambda_gen > 0) {
      const auto found = source_rows_.find(q.query.query_id);
      if (found == source_rows_.end()) continue;
      std::mt19937_64 rng(seed ^ 0x9E3779B97F4A7C15ull);
      const auto& title = found->second.title;
      const auto& body = found->second.body;
      if (!title.empty()) {
        wanted.push_back(title[rng() % title.size()]);
        owner.emplace_back(i, true);
      }
      if (!body.empty()) {
        wanted.push_back(body[rng() % body.size()]);
        owner.emplace_back(i, false);
      }
    }
  }
  if (!wanted.empty()) {
    std::vector<data::Stage1Example> examples = examples_.read(wanted);
    for (size_t k = 0; k < examples.size(); ++k) {
      StepQuery& q = out[owner[k].first];
      (owner[k].second ? q.title : q.body) = std::move(examples[k]);
    }
  }
  return out;
}

std::pair<torch::Tensor, torch::Tensor> DistillRun::encode(
    const std::vector<const data::DistillQuery*>& queries) {
  std::vector<std::string> texts;
  for (const data::DistillQuery* q : queries)
    texts.push_back(q->query);
  auto [ids, mask] = encode_queries(tokenizer_, texts, inputs_.max_query_length, config_, device_);
  torch::Tensor out = bart_->encode(ids, mask);  // [Q, S, D]
  return {std::move(out), std::move(mask)};
}

torch::Tensor DistillRun::score(const std::pair<torch::Tensor, torch::Tensor>& encoded,
                                const std::vector<const data::DistillQuery*>& queries,
                                const std::vector<std::vector<uint32_t>>& which,
                                const std::vector<uint64_t>& rows) {
  std::vector<rank::CandidateKeys> candidates;
  for (size_t i = 0; i < queries.size(); ++i) {
    const std::string where = where_in_set(set_.path(), *queries[i], rows[i]);
    for (uint32_t c : which[i]) {
      candidates.push_back(candidate_keys(queries[i]->candidates[c], static_cast<int64_t>(i),
                                          config_.vocab_size, where));
    }
  }
  return rank::score_candidates(bart_, encoded.first, encoded.second, candidates, prompts_,
                                scoring_);
}

DistillAgreement DistillRun::evaluate(int64_t step) {
  DistillAgreement a;
  a.step = step;
  const size_t total = plan_.heldout.size();
  const auto size = static_cast<size_t>(comm_.size());
  const auto rank = static_cast<size_t>(comm_.rank());
  const size_t lo = total * rank / size, hi = total * (rank + 1) / size;
  double sums[7] = {0, 0, 0, 0, 0, 0, 0};  // τ, nDCG, MRR, stored τ, nDCG, MRR, queries
  {
    torch::NoGradGuard no_grad;
    bart_->eval();
    // This rank's held-out rows, read at once.
    const std::vector<uint64_t> mine(plan_.heldout.begin() + static_cast<std::ptrdiff_t>(lo),
                                     plan_.heldout.begin() + static_cast<std::ptrdiff_t>(hi));
    const std::vector<data::DistillQuery> held = set_.read(mine);
    for (size_t i = lo; i < hi; ++i) {
      const uint64_t row = plan_.heldout[i];
      const data::DistillQuery& q = held[i - lo];
      const size_t n = std::min(q.candidates.size(), static_cast<size_t>(distill_.eval_candidates));
      std::vector<double> student, teacher, stored;
      std::vector<bool> positive;
      // The query is encoded once; its candidates go through the decoder chunk by chunk.
      const auto encoded = encode({&q});
      for (size_t begin = 0; begin < n; begin += kEvalChunk) {
        std::vector<uint32_t> chunk;
        for (size_t c = begin; c < std::min(n, begin + kEvalChunk); ++c)
          chunk.push_back(static_cast<uint32_t>(c));
        const torch::Tensor s =
            score(encoded, {&q}, {chunk}, {row}).to(torch::kCPU, torch::kDouble).contiguous();
        student.insert(student.end(), s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
      }
      for (size_t c = 0; c < n; ++c) {
        teacher.push_back(q.candidates[c].teacher_score);
        stored.push_back(q.candidates[c].student_score);
        positive.push_back(q.candidates[c].label >= distill_.relevance_threshold);
      }
      sums[0] += kendall_tau_b(student, teacher);
      sums[1] += ndcg10_against_teacher(student, teacher);
      sums[2] += mrr10(student, positive);
      sums[3] += kendall_tau_b(stored, teacher);
      sums[4] += ndcg10_against_teacher(stored, teacher);
      sums[5] += mrr10(stored, positive);
      sums[6] += 1;
    }
    bart_->train();
  }
  control_.all_reduce(sums, 7, DataType::kFloat64, ReduceOp::kSum);
  a.queries = static_cast<int64_t>(sums[6]);
  const double n = std::max(1.0, sums[6]);
  a.kendall_tau = sums[0] / n;
  a.ndcg10 = sums[1] / n;
  a.mrr10 = sums[2] / n;
  a.stored_kendall_tau = sums[3] / n;
  a.stored_ndcg10 = sums[4] / n;
  a.stored_mrr10 = sums[5] / n;
  return a;
}

nlohmann::json agreement_json(const DistillAgreement& a) {
  return {{"step", a.step},
          {"eval",
           {{"queries", a.queries},
            {"kendall_tau", a.kendall_tau},
            {"ndcg10", a.ndcg10},
            {"mrr10", a.mrr10},
            {"stored_kendall_tau", a.stored_kendall_tau},
            {"stored_ndcg10", a.stored_ndcg10},
            {"stored_mrr10", a.stored_mrr10}}}};
}

// The generation loss of some examples: label-smoothed and plain sums, target tokens.
model::LossSums generation_loss(model::BartModel& bart, const std::vector<data::Stage1Example>& e,
                                const model::BartConfig& config, const torch::Device& device,
                                double label_smoothing) {
  if (e.empty()) return {};
  const ExampleBatch b = collate_examples(e, config, device);
  const torch::Tensor logits = bart->forward(b.input_ids, b.attention_mask, b.decoder_input);
  return model::label_smoothed_cross_entropy(logits, b.labels, label_smoothing, kIgnoreLabel);
}

double value_of(const torch::Tensor& t) {
  return t.defined() ? t.item<double>() : 0.0;
}

std::vector<int64_t> DistillRun::prepare(const StepShare& share) {
  std::vector<uint64_t> mine;
  for (uint64_t i : share.rows)
    mine.push_back(plan_.training[i]);
  step_ = prepare(mine, share.epoch);
  // The counts that normalise each term: lists, title target tokens, body target tokens.
  std::vector<int64_t> counts = {0, 0, 0};
  for (const StepQuery& q : step_) {
    counts[0] += static_cast<int64_t>(q.lists.size());
    if (q.title) counts[1] += static_cast<int64_t>(q.title->target.size());
    if (q.body) counts[2] += static_cast<int64_t>(q.body->target.size());
  }
  return counts;
}

torch::Tensor DistillRun::forward(int64_t first, int64_t count, const std::vector<int64_t>& counts,
                                  std::vector<double>& sums) {
  const auto ranks = static_cast<double>(comm_.size());
  auto scale = [&](int64_t n) { return n > 0 ? ranks / static_cast<double>(n) : 0.0; };
  const double rank_scale = distill_.lambda_rank * scale(counts[0]);
  const double title_scale = distill_.lambda_gen * 0.5 * scale(counts[1]);
  const double body_scale = distill_.lambda_gen * 0.5 * scale(counts[2]);

  // Each query's sampled candidates are scored once, then gathered into its lists.
  std::vector<const data::DistillQuery*> batch_queries;
  std::vector<std::vector<uint32_t>> which;
  std::vector<uint64_t> batch_rows;
  std::vector<std::vector<int64_t>> list_slots;  // per list: positions in the score vector
  std::vector<std::vector<float>> list_teacher;
  std::vector<data::Stage1Example> titles, bodies;
  int64_t scored = 0;
  for (int64_t i = first; i < first + count; ++i) {
    const StepQuery& q = step_[static_cast<size_t>(i)];
    if (q.title) titles.push_back(*q.title);
    if (q.body) bodies.push_back(*q.body);
    if (q.lists.empty()) continue;
    std::vector<uint32_t> unique;
    for (const auto& list : q.lists)
      unique.insert(unique.end(), list.begin(), list.end());
    std::sort(unique.begin(), unique.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    for (const auto& list : q.lists) {
      std::vector<int64_t> slots;
      std::vector<float> teacher;
      for (uint32_t c : list) {
        const auto at = std::lower_bound(unique.begin(), unique.end(), c) - unique.begin();
        slots.push_back(scored + at);
        teacher.push_back(q.query.candidates[c].teacher_score);
      }
      list_slots.push_back(std::move(slots));
      list_teacher.push_back(std::move(teacher));
    }
    scored += static_cast<int64_t>(unique.size());
    batch_queries.push_back(&q.query);
    which.push_back(std::move(unique));
    batch_rows.push_back(q.row);
  }
  torch::Tensor total;
  auto add = [&](const torch::Tensor& term) { total = total.defined() ? total + term : term; };
  if (!list_slots.empty()) {
    const torch::Tensor scores =
        score(encode(batch_queries), batch_queries, which, batch_rows);  // [C]
    size_t m = 0;
    for (const auto& slots : list_slots)
      m = std::max(m, slots.size());
    const auto l = static_cast<int64_t>(list_slots.size());
    const auto width = static_cast<int64_t>(m);
    auto index = torch::zeros({l, width}, torch::kInt64);
    auto valid = torch::zeros({l, width}, torch::kBool);
    auto teacher = torch::zeros({l, width}, torch::kFloat32);
    for (int64_t r = 0; r < l; ++r) {
      const auto& slots = list_slots[static_cast<size_t>(r)];
      for (size_t j = 0; j < slots.size(); ++j) {
        const auto c = static_cast<int64_t>(j);
        index[r][c] = slots[j];
        valid[r][c] = true;
        teacher[r][c] = list_teacher[static_cast<size_t>(r)][j];
      }
    }
    rank::RankingBatch lists;
    lists.student = scores.index_select(0, index.flatten().to(scores.device())).view({l, width});
    lists.teacher = teacher.to(scores.device());
    lists.mask = valid.to(scores.device());
    const torch::Tensor list_sum = loss_->list_losses(lists).sum();
    sums[0] += list_sum.item<double>();
    add(list_sum * rank_scale);
  }
  const model::LossSums title =
      generation_loss(bart_, titles, config_, device_, train_.label_smoothing);
  const model::LossSums body =
      generation_loss(bart_, bodies, config_, device_, train_.label_smoothing);
  sums[1] += value_of(title.loss);
  sums[2] += value_of(title.nll);
  sums[3] += value_of(body.loss);
  sums[4] += value_of(body.nll);
  if (title.loss.defined()) add(title.loss * title_scale);
  if (body.loss.defined()) add(body.loss * body_scale);
  return total;
}

StepOutcome DistillRun::outcome(const std::vector<double>& sums,
                                const std::vector<int64_t>& counts) {
  auto mean = [](double sum, int64_t count) {
    return count > 0 ? sum / static_cast<double>(count) : 0.0;
  };
  const double rank_loss = mean(sums[0], counts[0]);
  const double ce_title = mean(sums[1], counts[1]);
  const double ce_body = mean(sums[3], counts[2]);
  StepOutcome out;
  out.loss = distill_.lambda_rank * rank_loss + distill_.lambda_gen * 0.5 * (ce_title + ce_body);
  out.fields = {{"rank_loss", finite_or_null(rank_loss)}, {"ce_title", finite_or_null(ce_title)},
                {"ce_body", finite_or_null(ce_body)},     {"nll_title", mean(sums[2], counts[1])},
                {"nll_body", mean(sums[4], counts[2])},   {"lists", counts[0]}};
  return out;
}

void DistillRun::record_agreement(int64_t step, TrainLog& log) {
  if (plan_.heldout.empty()) return;
  const DistillAgreement a = evaluate(step);
  report_.agreement.push_back(a);
  log.write(agreement_json(a));
  LOG_IF(INFO, comm_.rank() == 0) << "held-out agreement with the teacher at step " << step << " ("
                                  << a.queries << " queries): Kendall tau " << a.kendall_tau
                                  << ", nDCG@10 " << a.ndcg10 << ", MRR@10 " << a.mrr10;
}

DistillTrainReport DistillRun::run() {
  const auto start = Clock::now();
  const auto rows = static_cast<int64_t>(plan_.training.size());
  const int64_t total_steps = training_steps(train_, rows, "training queries");
  TrainingPhase phase;
  phase.steps = total_steps;
  phase.schedule = lr_schedule(train_, total_steps);
  phase.stored_rows = train_.global_batch;
  NonFinitePolicy nonfinite;
  nonfinite.skip = distill_.on_nonfinite == "skip";
  nonfinite.max_skipped = distill_.max_nonfinite_steps;
  nonfinite.policy_key = option_key(distill_, distill_.on_nonfinite);
  nonfinite.max_skipped_key = option_key(distill_, distill_.max_nonfinite_steps);
  const DataParallelJob job{train_, run_, "distill", "queries_per_s", nonfinite};

  report_.training_queries = rows;
  report_.heldout_queries = static_cast<int64_t>(plan_.heldout.size());
  report_.unused_queries = plan_.unused;
  LOG_IF(INFO, comm_.rank() == 0) << "distilling on " << rows << " training queries of "
                                  << inputs_.set_path << " (" << plan_.heldout.size()
                                  << " held out, " << plan_.unused
                                  << " with too few positives or negatives), " << total_steps
                                  << " steps, loss " << loss_->name();
  BartTrainable trainable(loaded_);
  const DataParallelReport run =
      train_data_parallel(comm_, control_, trainable, job, {phase}, *this);
  DistillTrainReport report = std::move(report_);
  report.first_step = run.first_step;
  report.steps = run.steps;
  report.first_loss = run.first_loss;
  report.final_loss = run.final_loss;
  // A taken step has a finite loss, so its rank loss is a number.
  report.first_rank_loss = run.first_fields.value("rank_loss", 0.0);
  report.final_rank_loss = run.final_fields.value("rank_loss", 0.0);
  report.skipped_steps = run.skipped_steps;
  report.export_dir = run.export_dir;
  report.seconds = seconds_since(start);
  report.queries_per_second = run.items_per_second;
  report.exposed_comm_fraction = run.exposed_comm_fraction;
  report.optimizer_state_bytes = run.optimizer_state_bytes;
  report.peak_rss_bytes = run.peak_rss_bytes;
  return report;
}

}  // namespace

void check_distill(const TrainOptions& train, const DistillOptions& d, const DistillInputs& inputs,
                   int world_size) {
  check_train_options(train, world_size);
  auto at_least = [&](const int& value, int low) {
    if (value < low) {
      throw OptionError(
          "{} must be at least " + std::to_string(low) + ", got " + std::to_string(value),
          {option_key(d, value)});
    }
  };
  auto finite_non_negative = [&](const double& value) {
    if (!std::isfinite(value) || value < 0) {
      throw OptionError("{} must be a finite number >= 0, got " + std::to_string(value),
                        {option_key(d, value)});
    }
  };
  finite_non_negative(d.lambda_rank);
  finite_non_negative(d.lambda_gen);
  if (d.lambda_rank == 0 && d.lambda_gen == 0) {
    throw OptionError("{} and {} are both 0: nothing to train",
                      {option_key(d, d.lambda_rank), option_key(d, d.lambda_gen)});
  }
  at_least(d.relevance_threshold, 1);
  at_least(d.min_positives, 1);
  at_least(d.min_negatives, 1);
  at_least(d.max_nonfinite_steps, 1);
  at_least(d.holdout, 0);
  at_least(d.eval_candidates, 2);
  at_least(d.eval_every, 0);
  if (d.on_nonfinite != "skip" && d.on_nonfinite != "abort") {
    throw OptionError("{} must be skip or abort, got '" + d.on_nonfinite + "'",
                      {option_key(d, d.on_nonfinite)});
  }
  if (inputs.max_query_length < 1) {
    throw ConfigError("distill: the query length limit must be at least 1, got " +
                      std::to_string(inputs.max_query_length));
  }
  if (inputs.corpus_tokens == 0) {
    throw ConfigError("distill: the index's corpus token count is 0 (no index loaded?)");
  }
  if (d.lambda_gen > 0 && inputs.examples_path.empty()) {
    throw OptionError("{} > 0 needs the stage-1 example store for the generation loss",
                      {option_key(d, d.lambda_gen)});
  }
  const std::vector<std::string>& losses = rank::ranking_loss_names();
  if (std::find(losses.begin(), losses.end(), d.loss) == losses.end()) {
    throw OptionError("{}: unknown ranking loss '" + d.loss + "'", {option_key(d, d.loss)});
  }
  rank::check_ranking_loss_options(d.ranking);
  rank::check_list_sampling(d.sampling);
}

DistillTrainReport train_distill(Communicator& comm, Communicator& control, const TrainingRun& run,
                                 const TrainOptions& train, const DistillOptions& distill,
                                 const DistillInputs& inputs) {
  check_distill(train, distill, inputs, comm.size());
  DistillRun distill_run(comm, control, run, train, distill, inputs,
                         rank::make_ranking_loss(distill.loss, distill.ranking));
  return distill_run.run();
}

DistillTrainReport train_distill(MpiContext& mpi, const TrainingRun& run, const TrainOptions& train,
                                 const DistillOptions& distill, const DistillInputs& inputs) {
  TrainingCommunicators comms = make_training_communicators(train, run, mpi);
  return train_distill(*comms.gradients, comms.control(), run, train, distill, inputs);
}

}  // namespace dgr::distributed
