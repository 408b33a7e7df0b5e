// BART behind beam search's `search::StepModel`: the queries are encoded once per start(), the
// decoder's KV cache (DecoderState) is kept, reordered and restarted here, and each step's
// log-softmax is handed out in place as a contiguous float32 CPU matrix. Also the teacher-forced
// rescoring of generated keys (Σ log p without length penalty) used by intersective scoring.
//
// Guarantees: step() equals log_softmax of the full teacher-forced forward over the same tokens
// (tests/model/bart_generator_test.cpp); no autograd state is kept (inference mode); the model
// is put in eval mode by the constructor and must stay so while the generator is used.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "core/model/bart.h"
#include "core/search/step_model.h"

namespace dgr::model {

using search::TokenId;

class BartGenerator : public search::StepModel {
 public:
  // Runs on the device of the model's parameters.
  explicit BartGenerator(BartModel model);

  int64_t vocab_size() const override;
  TokenId decoder_start_token() const override;
  // Queries as bart_encoder_input: <s> query </s>, truncated to max_position_embeddings,
  // right-padded with pad_token_id into one batch.
  void start(const std::vector<std::vector<TokenId>>& queries) override;
  void restart() override;
  void reorder(const std::vector<int64_t>& parents) override;
  // Returns [rows × vocab] log-probabilities of the token after the last one of each row,
  // valid until the next call.
  search::LogProbs step(const std::vector<TokenId>& tokens, int64_t tokens_per_row) override;

  // On a GPU the beam's extensions are chosen there (select_top_extensions) and only they come
  // back to the host; on the CPU step()'s scan is as fast. set_device_selection switches it (tests
  // run the device path on the CPU).
  bool selects_on_device() const override { return select_on_device_; }
  void set_device_selection(bool on) { select_on_device_ = on; }
  void step_on_device(const std::vector<TokenId>& tokens, int64_t tokens_per_row) override;
  std::vector<std::vector<search::Extension>> select_extensions(
      const search::ExtensionRequest& request) override;

  // Teacher-forced log-probability of each target given `query` and its prompt:
  // Σ_t log p(target_t | query, decoder_start + prompt + target_<t), for every pair
  // (prompts[i], targets[i]); an empty target scores 0. Pairs are run `batch_size` at a time,
  // right-padded; independent of start()/step() state. DataError when a decoder input exceeds
  // max_position_embeddings.
  std::vector<double> score_sequences(const std::vector<TokenId>& query,
                                      const std::vector<std::vector<TokenId>>& prompts,
                                      const std::vector<std::vector<TokenId>>& targets,
                                      int64_t batch_size = 64);

  const BartConfig& config() const { return model_->config(); }
  int64_t rows() const { return state_.rows(); }

 private:
  // Encoder output [Q, S, D] and mask [Q, S] of `queries` on the model's device.
  std::pair<torch::Tensor, torch::Tensor> encode(const std::vector<std::vector<TokenId>>& queries);

  BartModel model_;
  torch::Device device_;
  torch::Tensor encoder_out_;   // [Q, S, D]
  torch::Tensor encoder_mask_;  // [Q, S]
  DecoderState initial_;        // one row per query, empty self-attention cache
  DecoderState state_;
  torch::Tensor log_probs_;         // [rows, V] float32, CPU, contiguous: what step() points into
  torch::Tensor device_log_probs_;  // [rows, V] float32 on the model's device
  bool select_on_device_ = false;
};

// The choice of StepModel::select_extensions over `log_probs` ([rows, V] float, on any device):
// per group, the best request.k (base[r] + log p) with a finite score, in the beam order. The
// scores are added in double as the host scan adds them and the top k taken on the device; a
// group whose k-th score is tied with one left out is settled by a stable sort, whose order
// among equal scores (row, then token) is the beam order's. Only G x k scores and indices, and
// the allowed tokens' flat indices, cross to and from the device.
std::vector<std::vector<search::Extension>> select_top_extensions(
    const torch::Tensor& log_probs, const search::ExtensionRequest& request);

}  // namespace dgr::model
