// BART seq2seq (Lewis et al. 2020) as a torch module whose parameter names are exactly those of
// Hugging Face's BartForConditionalGeneration, so an HF safetensors file loads by name
// (core/model/state_dict.h) and ours loads back into HF. Post-LayerNorm blocks, learned
// positions with offset 2, layernorm_embedding, exact-erf GELU, token embeddings and LM head
// tied to `model.shared`.
//
// Guarantees: dropout only in train(); right padding is masked out of every attention over
// encoder keys; decoding through an explicit `DecoderState` (KV cache) gives the same logits as
// the full teacher-forced forward (tests/model/bart_test.cpp pins this within 1e-5); logits
// equal transformers' BartForConditionalGeneration on the same weights (pinned by a fixture
// computed with transformers 5.17 in the same test).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <map>
#include <string>
#include <vector>

#include "core/model/bart_config.h"

namespace dgr::model {

// Multi-head attention with HF's projection names: q_proj, k_proj, v_proj, out_proj.
class BartAttentionImpl : public torch::nn::Module {
 public:
  BartAttentionImpl(int64_t d_model, int64_t heads, double dropout);

  // Keys and values of `x` [N, T, D], split into heads: [N, H, T, Dh] each.
  std::pair<torch::Tensor, torch::Tensor> key_values(const torch::Tensor& x);
  // Attention of queries `x` [N, Tq, D] over `keys`/`values` [N, H, Tk, Dh]; `blocked` (bool,
  // broadcastable to [N, H, Tq, Tk]; undefined = nothing blocked) marks the keys each query
  // must not see. Returns [N, Tq, D].
  torch::Tensor attend(const torch::Tensor& x, const torch::Tensor& keys,
                       const torch::Tensor& values, const torch::Tensor& blocked);

  torch::nn::Linear k_proj{nullptr}, v_proj{nullptr}, q_proj{nullptr}, out_proj{nullptr};

 private:
  int64_t heads_;
  int64_t head_dim_;
  double scaling_;
  double dropout_;
};
TORCH_MODULE(BartAttention);

class BartEncoderLayerImpl : public torch::nn::Module {
 public:
  explicit BartEncoderLayerImpl(const BartConfig& config);
  // x [B, S, D], padding [B, 1, 1, S] (true = key is padding) -> [B, S, D]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& padding);

  BartAttention self_attn{nullptr};
  torch::nn::LayerNorm self_attn_layer_norm{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::LayerNorm final_layer_norm{nullptr};

 private:
  BartConfig config_;
};
TORCH_MODULE(BartEncoderLayer);

// One decoder layer's KV cache.
struct DecoderLayerCache {
  torch::Tensor self_keys, self_values;    // [N, H, T, Dh], T = positions decoded so far
  torch::Tensor cross_keys, cross_values;  // [N, H, S, Dh], from the encoder output, fixed
};

// The decoder's state between steps. Immutable tensors: every update makes new tensors, so a
// copy of a DecoderState is a cheap snapshot (BartGenerator::restart relies on this).
struct DecoderState {
  std::vector<DecoderLayerCache> layers;
  torch::Tensor encoder_padding;  // [N, 1, 1, S] bool: encoder position is padding
  int64_t length = 0;             // decoded positions per row

  int64_t rows() const { return encoder_padding.defined() ? encoder_padding.size(0) : 0; }
  // New row i = old row rows[i] (int64 [N'], repeats allowed), for every cached tensor.
  void reorder(const torch::Tensor& rows);
};

class BartDecoderLayerImpl : public torch::nn::Module {
 public:
  explicit BartDecoderLayerImpl(const BartConfig& config);
  // x [N, n, D] for the n positions after those in `cache`; appends their keys and values to
  // `cache`. self_blocked: bool broadcastable to [N, 1, n, T+n] (causal; undefined = none),
  // cross_blocked: [N, 1, 1, S] (encoder padding).
  torch::Tensor forward(const torch::Tensor& x, DecoderLayerCache& cache,
                        const torch::Tensor& self_blocked, const torch::Tensor& cross_blocked);

  BartAttention self_attn{nullptr};
  torch::nn::LayerNorm self_attn_layer_norm{nullptr};
  BartAttention encoder_attn{nullptr};
  torch::nn::LayerNorm encoder_attn_layer_norm{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::LayerNorm final_layer_norm{nullptr};

 private:
  BartConfig config_;
};
TORCH_MODULE(BartDecoderLayer);

// "model.encoder" / "model.decoder": positions, layers, layernorm_embedding. The token
// embedding is model.shared (passed in, not registered here: HF's embed_tokens is a tie).
class BartStackImpl : public torch::nn::Module {
 public:
  BartStackImpl(const BartConfig& config, bool decoder);

  torch::nn::Embedding embed_positions{nullptr};  // [max_pos + 2, D]
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm layernorm_embedding{nullptr};
};
TORCH_MODULE(BartStack);

// "model": shared token embedding, encoder, decoder.
class BartCoreImpl : public torch::nn::Module {
 public:
  explicit BartCoreImpl(const BartConfig& config);

  torch::nn::Embedding shared{nullptr};  // [V, D], padding row pad_token_id
  BartStack encoder{nullptr};
  BartStack decoder{nullptr};
};
TORCH_MODULE(BartCore);

// BartForConditionalGeneration.
class BartModelImpl : public torch::nn::Module {
 public:
  // Random init as HF's _init_weights (normal(0, init_std), zero biases and padding row,
  // LayerNorm 1/0): seed with torch::manual_seed first for reproducibility. On the CPU, float32.
  explicit BartModelImpl(const BartConfig& config);

  const BartConfig& config() const { return config_; }

  // input_ids [B, S] int64, attention_mask [B, S] (nonzero = token) -> encoder output [B, S, D]
  torch::Tensor encode(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);

  // Teacher forcing: logits [B, T, V] for decoder_input_ids [B, T] (starting with the decoder
  // start token). Right padding of decoder_input_ids is allowed: the causal mask keeps it out of
  // earlier positions, and the logits at padded positions are meaningless (callers ignore them).
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                        const torch::Tensor& decoder_input_ids);

  // The decoder's hidden states [B, T, D] for the teacher-forced decoder_input_ids [B, T].
  torch::Tensor decode(const torch::Tensor& decoder_input_ids, const torch::Tensor& encoder_out,
                       const torch::Tensor& attention_mask);
  // hidden [..., D] -> logits [..., V] = hidden · sharedᵀ + final_logits_bias
  torch::Tensor lm_logits(const torch::Tensor& hidden);

  // An empty cache for encoder_out [N, S, D] / attention_mask [N, S]: the cross-attention keys
  // and values of every layer are computed here, once.
  DecoderState start_decoding(const torch::Tensor& encoder_out,
                              const torch::Tensor& attention_mask);
  // Appends tokens [N, n] at positions state.length.. (causal among themselves too) and
  // returns their logits [N, n, V]. Throws DataError past max_position_embeddings.
  torch::Tensor decode_step(DecoderState& state, const torch::Tensor& tokens);
  // decode_step without the LM head: hidden states [N, n, D] (to take logits of a few rows).
  torch::Tensor decode_hidden(DecoderState& state, const torch::Tensor& tokens);

  BartCore model{nullptr};
  torch::Tensor final_logits_bias;  // buffer [1, V]

 private:
  // Token + position embedding, layernorm_embedding, dropout: [N, n] -> [N, n, D].
  torch::Tensor embed(BartStack& stack, const torch::Tensor& ids, int64_t first_position);

  BartConfig config_;
};
TORCH_MODULE(BartModel);

// HF names of the tensors tied to model.shared.weight, for StateLoadOptions::aliases.
std::map<std::string, std::string> bart_tied_weights();

}  // namespace dgr::model
