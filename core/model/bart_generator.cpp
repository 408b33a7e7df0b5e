#include "core/model/bart_generator.h"

#include <glog/logging.h>
#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "core/util/error.h"

namespace dgr::model {
namespace {

torch::Device device_of(const BartModel& model) {
  auto parameters = model->parameters();
  return parameters.empty() ? torch::Device(torch::kCPU) : parameters.front().device();
}

}  // namespace

BartGenerator::BartGenerator(BartModel model)
    : model_(std::move(model)), device_(device_of(model_)) {
  model_->eval();
  select_on_device_ = device_.is_cuda();
}

int64_t BartGenerator::vocab_size() const {
  return model_->config().vocab_size;
}

TokenId BartGenerator::decoder_start_token() const {
  return static_cast<TokenId>(model_->config().decoder_start_token_id);
}

std::pair<torch::Tensor, torch::Tensor> BartGenerator::encode(
    const std::vector<std::vector<TokenId>>& queries) {
  const auto& config = model_->config();
  std::vector<std::vector<int64_t>> inputs;
  inputs.reserve(queries.size());
  int64_t longest = 0;
  for (const auto& query : queries) {
    inputs.push_back(bart_encoder_input(query, config));
    longest = std::max<int64_t>(longest, static_cast<int64_t>(inputs.back().size()));
  }
  const auto q = static_cast<int64_t>(inputs.size());
  auto ids = torch::full({q, longest}, config.pad_token_id, torch::kLong);  // [Q, S]
  auto mask = torch::zeros({q, longest}, torch::kLong);                     // [Q, S]
  auto ids_a = ids.accessor<int64_t, 2>();
  auto mask_a = mask.accessor<int64_t, 2>();
  for (int64_t i = 0; i < q; ++i) {
    for (size_t t = 0; t < inputs[i].size(); ++t) {
      ids_a[i][t] = inputs[i][t];
      mask_a[i][t] = 1;
    }
  }
  ids = ids.to(device_);
  mask = mask.to(device_);
  return {model_->encode(ids, mask), mask};  // [Q, S, D], [Q, S]
}

void BartGenerator::start(const std::vector<std::vector<TokenId>>& queries) {
  c10::InferenceMode inference;
  std::tie(encoder_out_, encoder_mask_) = encode(queries);
  initial_ = model_->start_decoding(encoder_out_, encoder_mask_);
  state_ = initial_;
}

void BartGenerator::restart() {
  CHECK(initial_.encoder_padding.defined()) << "BartGenerator::restart before start";
  state_ = initial_;  // tensors are never modified in place: a copy is a snapshot
}

void BartGenerator::reorder(const std::vector<int64_t>& parents) {
  const int64_t rows = state_.rows();
  for (int64_t parent : parents) {
    CHECK(parent >= 0 && parent < rows)
        << "BartGenerator::reorder: row " << parent << " of a state with " << rows << " rows";
  }
  c10::InferenceMode inference;
  auto index = torch::tensor(parents, torch::kLong);
  state_.reorder(index);
}

search::LogProbs BartGenerator::step(const std::vector<TokenId>& tokens, int64_t tokens_per_row) {
  step_on_device(tokens, tokens_per_row);
  c10::InferenceMode inference;
  log_probs_ = device_log_probs_.to(torch::kCPU).contiguous();
  return {log_probs_.data_ptr<float>(), log_probs_.size(0), log_probs_.size(1)};
}

void BartGenerator::step_on_device(const std::vector<TokenId>& tokens, int64_t tokens_per_row) {
  const int64_t rows = state_.rows();
  CHECK_GT(tokens_per_row, 0) << "BartGenerator::step without tokens";
  CHECK_EQ(static_cast<int64_t>(tokens.size()), rows * tokens_per_row)
      << "BartGenerator::step: tokens for " << rows << " rows of " << tokens_per_row;
  c10::InferenceMode inference;
  auto ids = torch::tensor(std::vector<int64_t>(tokens.begin(), tokens.end()), torch::kLong)
                 .view({rows, tokens_per_row})
                 .to(device_);                                     // [N, n]
  auto hidden = model_->decode_hidden(state_, ids).select(1, -1);  // [N, D]
  auto logits = model_->lm_logits(hidden).to(torch::kFloat32);     // [N, V]
  device_log_probs_ = torch::log_softmax(logits, -1);
}

std::vector<std::vector<search::Extension>> BartGenerator::select_extensions(
    const search::ExtensionRequest& request) {
  CHECK(device_log_probs_.defined()) << "BartGenerator::select_extensions before a step";
  return select_top_extensions(device_log_probs_, request);
}

std::vector<std::vector<search::Extension>> select_top_extensions(
    const torch::Tensor& log_probs, const search::ExtensionRequest& request) {
  c10::InferenceMode inference;
  const int64_t rows = log_probs.size(0);
  const int64_t vocab = log_probs.size(1);
  CHECK(!request.begin.empty() && request.begin.front() == 0 &&
        static_cast<int64_t>(request.begin.back()) == rows)
      << "select_top_extensions: groups do not cover the " << rows << " rows";
  CHECK_EQ(static_cast<int64_t>(request.base.size()), rows) << "select_top_extensions: bases";
  const size_t groups = request.begin.size() - 1;
  std::vector<std::vector<search::Extension>> out(groups);
  if (groups == 0 || request.k == 0 || rows == 0) return out;
  const torch::Device device = log_probs.device();
  const double neg_inf = -std::numeric_limits<double>::infinity();
  const auto on_device = torch::TensorOptions().dtype(torch::kDouble).device(device);
  // A host tensor copied without blocking the host where the copy can overlap (pinned memory).
  auto to_device = [&](std::vector<int64_t> values) {
    torch::Tensor host = torch::tensor(values, torch::kLong);
    if (device.is_cuda()) host = host.pin_memory();
    return host.to(device, /*non_blocking=*/true);
  };

  torch::Tensor scores = log_probs.to(torch::kDouble) +
                         torch::tensor(request.base, torch::kDouble).to(device).unsqueeze(1);
  scores.masked_fill_(scores.isnan(), neg_inf);  // never a hypothesis, as on the host
  if (request.allowed != nullptr) {
    std::vector<int64_t> flat;
    for (int64_t r = 0; r < rows; ++r) {
      for (const TokenId token : (*request.allowed)[static_cast<size_t>(r)])
        flat.push_back(r * vocab + static_cast<int64_t>(token));
    }
    torch::Tensor masked = torch::full({rows * vocab}, neg_inf, on_device);
    if (!flat.empty()) {
      const torch::Tensor index = to_device(std::move(flat));
      masked.index_copy_(0, index, scores.view({-1}).index_select(0, index));
    }
    scores = masked.view({rows, vocab});
  }
  // Every group in a row of its own, padded to the largest group with -inf.
  size_t widest = 0;
  for (size_t g = 0; g < groups; ++g)
    widest = std::max(widest, request.begin[g + 1] - request.begin[g]);
  const auto width = static_cast<int64_t>(widest);
  std::vector<int64_t> slot(static_cast<size_t>(rows));
  for (size_t g = 0; g < groups; ++g) {
    for (size_t r = request.begin[g]; r < request.begin[g + 1]; ++r)
      slot[r] = static_cast<int64_t>(g) * width + static_cast<int64_t>(r - request.begin[g]);
  }
  torch::Tensor padded =
      torch::full({static_cast<int64_t>(groups) * width, vocab}, neg_inf, on_device);
  padded.index_copy_(0, to_device(std::move(slot)), scores);
  padded = padded.view({static_cast<int64_t>(groups), width * vocab});
  const int64_t k = std::min<int64_t>(static_cast<int64_t>(request.k), width * vocab);
  auto [values, indices] = padded.topk(k, /*dim=*/1, /*largest=*/true, /*sorted=*/true);
  // A k-th score shared with an entry left out: which of the tied ones is kept is the beam
  // order's to decide, not topk's.
  const torch::Tensor kth = values.select(1, k - 1).unsqueeze(1);
  const torch::Tensor at_least = (padded >= kth).sum(1);
  const torch::Tensor values_h = values.to(torch::kCPU);
  const torch::Tensor indices_h = indices.to(torch::kCPU);
  const torch::Tensor kth_h = kth.to(torch::kCPU);
  const torch::Tensor at_least_h = at_least.to(torch::kCPU);
  for (size_t g = 0; g < groups; ++g) {
    const auto gi = static_cast<int64_t>(g);
    torch::Tensor v = values_h[gi];
    torch::Tensor i = indices_h[gi];
    const double kth_score = kth_h[gi][0].item<double>();
    if (kth_score > neg_inf && at_least_h[gi].item<int64_t>() > k) {
      auto [sorted, order] = torch::sort(padded[gi], /*stable=*/true, /*dim=*/0,
                                         /*descending=*/true);
      v = sorted.narrow(0, 0, k).to(torch::kCPU);
      i = order.narrow(0, 0, k).to(torch::kCPU);
    }
    const auto* score = v.data_ptr<double>();
    const auto* flat = i.data_ptr<int64_t>();
    std::vector<search::Extension>& chosen = out[g];
    for (int64_t j = 0; j < k; ++j) {
      if (!(score[j] > neg_inf)) break;  // sorted: the rest are -inf too
      const int64_t local = flat[j] / vocab;
      chosen.push_back(search::Extension{score[j], static_cast<int64_t>(request.begin[g]) + local,
                                         static_cast<TokenId>(flat[j] % vocab)});
    }
    std::sort(chosen.begin(), chosen.end(), search::better);
  }
  return out;
}

std::vector<double> BartGenerator::score_sequences(const std::vector<TokenId>& query,
                                                   const std::vector<std::vector<TokenId>>& prompts,
                                                   const std::vector<std::vector<TokenId>>& targets,
                                                   int64_t batch_size) {
  CHECK_EQ(prompts.size(), targets.size()) << "score_sequences: one prompt per target";
  CHECK_GT(batch_size, 0);
  const auto& config = model_->config();
  std::vector<double> scores(targets.size(), 0.0);

  // Pairs with something to score; decoder input = start + prompt + target[:-1].
  std::vector<size_t> pending;
  for (size_t i = 0; i < targets.size(); ++i) {
    if (targets[i].empty()) continue;
    const auto length = static_cast<int64_t>(prompts[i].size() + targets[i].size());
    if (length > config.max_position_embeddings) {
      throw DataError("score_sequences: prompt + target of " + std::to_string(length) +
                      " decoder positions exceeds max_position_embeddings " +
                      std::to_string(config.max_position_embeddings));
    }
    pending.push_back(i);
  }
  if (pending.empty()) return scores;

  c10::InferenceMode inference;
  auto [encoder_out, mask] = encode({query});  // [1, S, D], [1, S]
  const DecoderState one_row = model_->start_decoding(encoder_out, mask);

  for (size_t begin = 0; begin < pending.size(); begin += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(pending.size(), begin + static_cast<size_t>(batch_size));
    const auto b = static_cast<int64_t>(end - begin);
    int64_t longest = 0;
    for (size_t k = begin; k < end; ++k) {
      const size_t i = pending[k];
      longest =
          std::max<int64_t>(longest, static_cast<int64_t>(prompts[i].size() + targets[i].size()));
    }
    auto ids = torch::full({b, longest}, config.pad_token_id, torch::kLong);  // [b, T]
    // Flat positions (row * T + t) whose next token is a target token, and that token.
    std::vector<int64_t> positions, next_tokens, owner;
    auto ids_a = ids.accessor<int64_t, 2>();
    for (int64_t r = 0; r < b; ++r) {
      const size_t i = pending[begin + static_cast<size_t>(r)];
      const auto& prompt = prompts[i];
      const auto& target = targets[i];
      int64_t t = 0;
      ids_a[r][t++] = config.decoder_start_token_id;
      for (TokenId token : prompt)
        ids_a[r][t++] = token;
      for (size_t k = 0; k + 1 < target.size(); ++k)
        ids_a[r][t++] = target[k];
      for (size_t k = 0; k < target.size(); ++k) {
        positions.push_back(r * longest + static_cast<int64_t>(prompt.size() + k));
        next_tokens.push_back(target[k]);
        owner.push_back(r);
      }
    }
    DecoderState state = one_row;
    state.reorder(torch::zeros({b}, torch::kLong));
    auto hidden = model_->decode_hidden(state, ids.to(device_));  // [b, T, D]
    auto picked =
        hidden.reshape({b * longest, -1})
            .index_select(0, torch::tensor(positions, torch::kLong).to(device_));  // [K, D]
    auto log_probs =
        torch::log_softmax(model_->lm_logits(picked).to(torch::kFloat32), -1);  // [K, V]
    auto token_lp =
        log_probs.gather(1, torch::tensor(next_tokens, torch::kLong).to(device_).unsqueeze(1))
            .squeeze(1)
            .to(torch::kCPU, torch::kDouble);  // [K]
    auto lp = token_lp.accessor<double, 1>();
    for (size_t k = 0; k < owner.size(); ++k) {
      scores[pending[begin + static_cast<size_t>(owner[k])]] += lp[static_cast<int64_t>(k)];
    }
  }
  return scores;
}

}  // namespace dgr::model
