#include "distributed/input_probe.h"

#include <torch/torch.h>

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "core/model/training.h"
#include "core/util/error.h"
#include "core/util/hash.h"
#include "distributed/example_batch.h"

namespace dgr::distributed {
namespace {

constexpr uint64_t kProbeStream = 0x70726f6265ULL;  // "probe"
constexpr int kDrawsPerExample = 8;

struct Sums {
  double nll = 0;
  double tokens = 0;
};

// NLL of b's targets after the sources whose encoder output is `encoder_out` [B, S, D].
Sums target_nll(model::BartModel& bart, const ExampleBatch& b, const torch::Tensor& encoder_out) {
  const torch::Tensor logits =
      bart->lm_logits(bart->decode(b.decoder_input, encoder_out, b.attention_mask));  // [B, T, V]
  const model::LossSums loss =
      model::label_smoothed_cross_entropy(logits, b.labels, 0.0, kIgnoreLabel);
  return {loss.nll.item<double>(), static_cast<double>(loss.tokens)};
}

// Σ over rows of the mean over hidden units of the standard deviation over the row's tokens.
double spread_sum(const torch::Tensor& out, const torch::Tensor& attention_mask) {
  const torch::Tensor mask = attention_mask.ne(0).unsqueeze(-1).to(out.dtype());  // [B, S, 1]
  const torch::Tensor count = mask.sum(1).clamp_min(1.0);                         // [B, 1]
  const torch::Tensor mean = (out * mask).sum(1) / count;                         // [B, D]
  const torch::Tensor centred = (out - mean.unsqueeze(1)) * mask;                 // [B, S, D]
  const torch::Tensor variance = centred.pow(2).sum(1) / count;                   // [B, D]
  return variance.sqrt().mean(1).sum().item<double>();
}

}  // namespace

InputProbe::InputProbe(const data::Stage1ExampleFile& store, int count, uint64_t seed)
    : store_path_(store.path()) {
  const uint64_t rows = store.size();
  if (count <= 0 || rows < 2) return;
  SplitMixStream stream(seed, kProbeStream, 0, 0);
  std::vector<uint64_t> draws;
  std::set<uint64_t> seen;
  const uint64_t wanted = std::min<uint64_t>(rows, uint64_t{kDrawsPerExample} * count);
  while (draws.size() < wanted) {
    const uint64_t row = stream.uniform(rows);
    if (seen.insert(row).second) draws.push_back(row);
  }
  std::set<std::string> sources;
  std::set<std::vector<int32_t>> targets, source_tokens;
  for (data::Stage1Example& e : store.read(draws)) {
    if (static_cast<int>(examples_.size()) == count) break;
    if (e.target.empty() || e.source.empty()) continue;
    if (!sources.insert(e.source_id).second) continue;
    if (!source_tokens.insert(e.source).second || !targets.insert(e.target).second) continue;
    examples_.push_back(std::move(e));
  }
  if (examples_.size() < 2) examples_.clear();
}

ProbeResult InputProbe::measure(model::BartModel& bart, const model::BartConfig& config,
                                const torch::Device& device, Communicator& control) const {
  ProbeResult result;
  if (!enabled()) return result;
  const size_t n = examples_.size();
  std::vector<data::Stage1Example> own, shuffled;
  for (size_t i = static_cast<size_t>(control.rank()); i < n;
       i += static_cast<size_t>(control.size())) {
    own.push_back(examples_[i]);
    data::Stage1Example wrong = examples_[i];
    wrong.source = examples_[(i + 1) % n].source;  // another example's source, own prompt
    shuffled.push_back(std::move(wrong));
  }
  // [nll true, tokens true, nll shuffled, tokens shuffled, spread sum, rows]
  double sums[6] = {0, 0, 0, 0, 0, 0};
  if (!own.empty()) {
    const bool was_training = bart->is_training();
    bart->eval();
    {
      torch::NoGradGuard no_grad;
      ExampleBatch true_batch, wrong_batch;
      try {
        true_batch = collate_examples(own, config, device);
        wrong_batch = collate_examples(shuffled, config, device);
      } catch (const DataError& e) {
        throw DataError(store_path_ + ": " + e.what());
      }
      // The true batch is encoded once, for its NLL and its spread.
      const torch::Tensor true_out = bart->encode(true_batch.input_ids, true_batch.attention_mask);
      const Sums t = target_nll(bart, true_batch, true_out);
      const Sums w = target_nll(bart, wrong_batch,
                                bart->encode(wrong_batch.input_ids, wrong_batch.attention_mask));
      sums[0] = t.nll;
      sums[1] = t.tokens;
      sums[2] = w.nll;
      sums[3] = w.tokens;
      sums[4] = spread_sum(true_out, true_batch.attention_mask);
      sums[5] = static_cast<double>(own.size());
    }
    bart->train(was_training);
  }
  control.all_reduce(sums, 6, DataType::kFloat64, ReduceOp::kSum);
  result.nll_true = sums[0] / std::max(1.0, sums[1]);
  result.nll_shuffled = sums[2] / std::max(1.0, sums[3]);
  result.gap = result.nll_shuffled - result.nll_true;
  result.encoder_spread = sums[4] / std::max(1.0, sums[5]);
  result.examples = static_cast<int64_t>(n);
  return result;
}

}  // namespace dgr::distributed
