#include "core/model/bart.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "core/model/dropout.h"
#include "core/util/error.h"

namespace dgr::model {
namespace {

// The most negative finite value of `type`: masked scores get it instead of -inf so that a row
// with every key masked (a query of padding only) gives a uniform softmax, never NaN.
c10::Scalar lowest(c10::ScalarType type) {
  switch (type) {
    case torch::kHalf:
      return -65504.0;
    case torch::kBFloat16:
      return -3.38e38;
    case torch::kDouble:
      return std::numeric_limits<double>::lowest();
    default:
      return std::numeric_limits<float>::lowest();
  }
}

torch::nn::LayerNorm layer_norm(const BartConfig& config) {
  return torch::nn::LayerNorm(
      torch::nn::LayerNormOptions({config.d_model}).eps(config.layer_norm_eps));
}

torch::Tensor activation(const torch::Tensor& x, const std::string& name) {
  // validate() admits only these two; HF's "gelu" is the exact erf form.
  return name == "relu" ? torch::relu(x) : torch::gelu(x);
}

// [N, T, D] -> [N, H, T, Dh]
torch::Tensor split_heads(const torch::Tensor& x, int64_t heads) {
  return x.view({x.size(0), x.size(1), heads, x.size(2) / heads}).transpose(1, 2);
}

}  // namespace

// ---- attention ------------------------------------------------------------------------------

BartAttentionImpl::BartAttentionImpl(int64_t d_model, int64_t heads, double dropout)
    : heads_(heads),
      head_dim_(d_model / heads),
      scaling_(1.0 / std::sqrt(static_cast<double>(d_model / heads))),
      dropout_(dropout) {
  // HF's registration order, so module_state() lists tensors as HF's state_dict does.
  k_proj = register_module("k_proj", torch::nn::Linear(d_model, d_model));
  v_proj = register_module("v_proj", torch::nn::Linear(d_model, d_model));
  q_proj = register_module("q_proj", torch::nn::Linear(d_model, d_model));
  out_proj = register_module("out_proj", torch::nn::Linear(d_model, d_model));
}

std::pair<torch::Tensor, torch::Tensor> BartAttentionImpl::key_values(const torch::Tensor& x) {
  return {split_heads(k_proj(x), heads_), split_heads(v_proj(x), heads_)};  // [N, H, T, Dh]
}

torch::Tensor BartAttentionImpl::attend(const torch::Tensor& x, const torch::Tensor& keys,
                                        const torch::Tensor& values, const torch::Tensor& blocked) {
  const int64_t n = x.size(0), tq = x.size(1);
  auto q = split_heads(q_proj(x) * scaling_, heads_);      // [N, H, Tq, Dh]
  auto scores = torch::matmul(q, keys.transpose(-1, -2));  // [N, H, Tq, Tk]
  if (blocked.defined()) scores = scores.masked_fill(blocked, lowest(scores.scalar_type()));
  auto probs = torch::softmax(scores, -1);
  probs = model::dropout(probs, dropout_, is_training());
  auto out = torch::matmul(probs, values);                         // [N, H, Tq, Dh]
  out = out.transpose(1, 2).reshape({n, tq, heads_ * head_dim_});  // [N, Tq, D]
  return out_proj(out);
}

// ---- layers ---------------------------------------------------------------------------------

BartEncoderLayerImpl::BartEncoderLayerImpl(const BartConfig& config) : config_(config) {
  self_attn = register_module(
      "self_attn",
      BartAttention(config.d_model, config.encoder_attention_heads, config.attention_dropout));
  self_attn_layer_norm = register_module("self_attn_layer_norm", layer_norm(config));
  fc1 = register_module("fc1", torch::nn::Linear(config.d_model, config.encoder_ffn_dim));
  fc2 = register_module("fc2", torch::nn::Linear(config.encoder_ffn_dim, config.d_model));
  final_layer_norm = register_module("final_layer_norm", layer_norm(config));
}

torch::Tensor BartEncoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& padding) {
  const bool train = is_training();
  auto [keys, values] = self_attn->key_values(x);
  auto h = self_attn->attend(x, keys, values, padding);
  h = model::dropout(h, config_.dropout, train);
  auto y = self_attn_layer_norm(x + h);

  h = activation(fc1(y), config_.activation_function);
  h = model::dropout(h, config_.activation_dropout, train);
  h = model::dropout(fc2(h), config_.dropout, train);
  return final_layer_norm(y + h);
}

BartDecoderLayerImpl::BartDecoderLayerImpl(const BartConfig& config) : config_(config) {
  self_attn = register_module(
      "self_attn",
      BartAttention(config.d_model, config.decoder_attention_heads, config.attention_dropout));
  self_attn_layer_norm = register_module("self_attn_layer_norm", layer_norm(config));
  encoder_attn = register_module(
      "encoder_attn",
      BartAttention(config.d_model, config.decoder_attention_heads, config.attention_dropout));
  encoder_attn_layer_norm = register_module("encoder_attn_layer_norm", layer_norm(config));
  fc1 = register_module("fc1", torch::nn::Linear(config.d_model, config.decoder_ffn_dim));
  fc2 = register_module("fc2", torch::nn::Linear(config.decoder_ffn_dim, config.d_model));
  final_layer_norm = register_module("final_layer_norm", layer_norm(config));
}

torch::Tensor BartDecoderLayerImpl::forward(const torch::Tensor& x, DecoderLayerCache& cache,
                                            const torch::Tensor& self_blocked,
                                            const torch::Tensor& cross_blocked) {
  const bool train = is_training();
  auto [keys, values] = self_attn->key_values(x);  // [N, H, n, Dh]
  if (cache.self_keys.defined()) {
    keys = torch::cat({cache.self_keys, keys}, 2);  // [N, H, T + n, Dh]
    values = torch::cat({cache.self_values, values}, 2);
  }
  cache.self_keys = keys;
  cache.self_values = values;
  auto h = self_attn->attend(x, keys, values, self_blocked);
  h = model::dropout(h, config_.dropout, train);
  auto y = self_attn_layer_norm(x + h);

  h = encoder_attn->attend(y, cache.cross_keys, cache.cross_values, cross_blocked);
  h = model::dropout(h, config_.dropout, train);
  y = encoder_attn_layer_norm(y + h);

  h = activation(fc1(y), config_.activation_function);
  h = model::dropout(h, config_.activation_dropout, train);
  h = model::dropout(fc2(h), config_.dropout, train);
  return final_layer_norm(y + h);
}

BartStackImpl::BartStackImpl(const BartConfig& config, bool decoder) {
  // HF's BartLearnedPositionalEmbedding: positions are offset by 2 (fairseq's legacy rows).
  embed_positions = register_module(
      "embed_positions", torch::nn::Embedding(config.max_position_embeddings + 2, config.d_model));
  layers = register_module("layers", torch::nn::ModuleList());
  const int64_t count = decoder ? config.decoder_layers : config.encoder_layers;
  for (int64_t i = 0; i < count; ++i) {
    if (decoder) {
      layers->push_back(BartDecoderLayer(config));
    } else {
      layers->push_back(BartEncoderLayer(config));
    }
  }
  layernorm_embedding = register_module("layernorm_embedding", layer_norm(config));
}

BartCoreImpl::BartCoreImpl(const BartConfig& config) {
  shared = register_module(
      "shared", torch::nn::Embedding(torch::nn::EmbeddingOptions(config.vocab_size, config.d_model)
                                         .padding_idx(config.pad_token_id)));
  encoder = register_module("encoder", BartStack(config, /*decoder=*/false));
  decoder = register_module("decoder", BartStack(config, /*decoder=*/true));
}

// ---- the model ------------------------------------------------------------------------------

BartModelImpl::BartModelImpl(const BartConfig& config) : config_(config) {
  validate(config, "BartModel");
  model = register_module("model", BartCore(config));
  final_logits_bias = register_buffer("final_logits_bias", torch::zeros({1, config.vocab_size}));

  // HF's _init_weights, in module order so that a seed reproduces the model.
  torch::NoGradGuard no_grad;
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* linear = module->as<torch::nn::Linear>()) {
      linear->weight.normal_(0.0, config.init_std);
      linear->bias.zero_();
    } else if (auto* embedding = module->as<torch::nn::Embedding>()) {
      embedding->weight.normal_(0.0, config.init_std);
      if (auto pad = embedding->options.padding_idx()) embedding->weight[*pad].zero_();
    }
  }
}

torch::Tensor BartModelImpl::embed(BartStack& stack, const torch::Tensor& ids,
                                   int64_t first_position) {
  const int64_t n = ids.size(1);
  // The lookup's gradient is sparse: the rows of the batch's tokens only. The shared matrix is
  // also the LM head, whose gradient is dense, and autograd adds the lookups' rows into it.
  // A dense lookup gradient (torch::nn::Embedding's) would zero and add two more matrices of
  // vocabulary x d_model per backward: 25-30% of the `small` arch's backward
  // (bench/scripts/train_step_compare.sh). The sum is the same up to float rounding.
  const auto& shared = model->shared;
  auto tokens = torch::embedding(shared->weight, ids, shared->options.padding_idx().value_or(-1),
                                 /*scale_grad_by_freq=*/false, /*sparse=*/true);  // [N, n, D]
  if (config_.scale_embedding) tokens = tokens * std::sqrt(static_cast<double>(config_.d_model));
  auto positions = torch::arange(first_position + 2, first_position + 2 + n,
                                 torch::TensorOptions().dtype(torch::kLong).device(ids.device()));
  auto x = tokens + stack->embed_positions(positions);  // [N, n, D] + [n, D]
  x = stack->layernorm_embedding(x);
  return model::dropout(x, config_.dropout, is_training());
}

torch::Tensor BartModelImpl::encode(const torch::Tensor& input_ids,
                                    const torch::Tensor& attention_mask) {
  const int64_t b = input_ids.size(0), s = input_ids.size(1);
  if (s > config_.max_position_embeddings) {
    throw DataError("BartModel::encode: input of " + std::to_string(s) +
                    " tokens exceeds max_position_embeddings " +
                    std::to_string(config_.max_position_embeddings));
  }
  auto padding = attention_mask.eq(0).view({b, 1, 1, s});  // [B, 1, 1, S]
  auto x = embed(model->encoder, input_ids, 0);            // [B, S, D]
  for (auto& layer : *model->encoder->layers) {
    x = layer->as<BartEncoderLayer>()->forward(x, padding);
  }
  return x;
}

DecoderState BartModelImpl::start_decoding(const torch::Tensor& encoder_out,
                                           const torch::Tensor& attention_mask) {
  const int64_t n = encoder_out.size(0), s = encoder_out.size(1);
  DecoderState state;
  state.encoder_padding = attention_mask.to(encoder_out.device()).eq(0).view({n, 1, 1, s});
  for (auto& layer : *model->decoder->layers) {
    DecoderLayerCache cache;
    std::tie(cache.cross_keys, cache.cross_values) =
        layer->as<BartDecoderLayer>()->encoder_attn->key_values(encoder_out);  // [N, H, S, Dh]
    state.layers.push_back(std::move(cache));
  }
  return state;
}

torch::Tensor BartModelImpl::decode_hidden(DecoderState& state, const torch::Tensor& ids) {
  const int64_t n = ids.size(1), past = state.length;
  if (ids.size(0) != state.rows()) {
    throw DataError("BartModel decoder: " + std::to_string(ids.size(0)) +
                    " rows of tokens for a decoder state of " + std::to_string(state.rows()) +
                    " rows");
  }
  if (past + n > config_.max_position_embeddings) {
    throw DataError("BartModel decoder: " + std::to_string(past + n) +
                    " positions exceed max_position_embeddings " +
                    std::to_string(config_.max_position_embeddings));
  }
  // Causal mask among the new positions; one new position sees every cached one.
  torch::Tensor causal;
  if (n > 1) {
    auto options = torch::TensorOptions().dtype(torch::kLong).device(ids.device());
    auto query_pos = torch::arange(past, past + n, options).unsqueeze(1);  // [n, 1]
    auto key_pos = torch::arange(0, past + n, options).unsqueeze(0);       // [1, T + n]
    causal = key_pos.gt(query_pos).view({1, 1, n, past + n});
  }
  auto x = embed(model->decoder, ids, past);  // [N, n, D]
  size_t i = 0;
  for (auto& layer : *model->decoder->layers) {
    x = layer->as<BartDecoderLayer>()->forward(x, state.layers[i++], causal, state.encoder_padding);
  }
  state.length += n;
  return x;
}

torch::Tensor BartModelImpl::decode(const torch::Tensor& decoder_input_ids,
                                    const torch::Tensor& encoder_out,
                                    const torch::Tensor& attention_mask) {
  auto state = start_decoding(encoder_out, attention_mask);
  return decode_hidden(state, decoder_input_ids);
}

torch::Tensor BartModelImpl::lm_logits(const torch::Tensor& hidden) {
  return torch::linear(hidden, model->shared->weight, final_logits_bias.view({-1}));
}

torch::Tensor BartModelImpl::forward(const torch::Tensor& input_ids,
                                     const torch::Tensor& attention_mask,
                                     const torch::Tensor& decoder_input_ids) {
  auto encoder_out = encode(input_ids, attention_mask);                      // [B, S, D]
  return lm_logits(decode(decoder_input_ids, encoder_out, attention_mask));  // [B, T, V]
}

torch::Tensor BartModelImpl::decode_step(DecoderState& state, const torch::Tensor& tokens) {
  return lm_logits(decode_hidden(state, tokens));  // [N, n, V]
}

void DecoderState::reorder(const torch::Tensor& rows) {
  auto index = rows.to(encoder_padding.device(), torch::kLong);
  auto select = [&](torch::Tensor& t) {
    if (t.defined()) t = t.index_select(0, index);
  };
  select(encoder_padding);
  for (auto& layer : layers) {
    select(layer.self_keys);
    select(layer.self_values);
    select(layer.cross_keys);
    select(layer.cross_values);
  }
}

std::map<std::string, std::string> bart_tied_weights() {
  return {{"model.encoder.embed_tokens.weight", "model.shared.weight"},
          {"model.decoder.embed_tokens.weight", "model.shared.weight"},
          {"lm_head.weight", "model.shared.weight"}};
}

}  // namespace dgr::model
