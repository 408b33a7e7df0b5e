// BERT (Devlin et al. 2019) with a sequence-classification head as a torch module whose tensor
// names are exactly those of Hugging Face's BertForSequenceClassification
// ("bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.attention.self.query.weight",
// ..., "bert.pooler.dense.weight", "classifier.weight"), so an HF safetensors checkpoint, e.g. a
// `cross-encoder/ms-marco-MiniLM-L-6-v2` directory, loads by name (core/model/state_dict.h).
// Learned absolute positions from 0, token type embeddings, post-LayerNorm layers, a pooler
// (dense + tanh on the first token) and a linear classifier on top of it.
//
// Guarantees: dropout only in train(); padding keys (attention_mask 0) are masked out of every
// attention, so a sequence's logits do not depend on how much padding its batch has
// (tests/model/bert_test.cpp pins this within 1e-5, and a forward pass against a reference
// written with plain torch ops); a checkpoint tensor that is unknown, missing or mis-shaped is
// a DataError naming it.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

#include "core/model/bert_config.h"

namespace dgr::model {

// "bert.embeddings": word + position + token type embeddings, LayerNorm, dropout.
class BertEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit BertEmbeddingsImpl(const BertConfig& config);
  // input_ids, token_type_ids [B, S] -> [B, S, H]; positions are 0 .. S-1.
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& token_type_ids);

  torch::nn::Embedding word_embeddings{nullptr};        // [V, H], padding row pad_token_id
  torch::nn::Embedding position_embeddings{nullptr};    // [max_position_embeddings, H]
  torch::nn::Embedding token_type_embeddings{nullptr};  // [type_vocab_size, H]
  torch::nn::LayerNorm layer_norm{nullptr};             // HF name "LayerNorm"

 private:
  double dropout_;
};
TORCH_MODULE(BertEmbeddings);

// "attention.self": the query, key and value projections and the scaled dot-product attention.
class BertSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit BertSelfAttentionImpl(const BertConfig& config);
  // x [B, S, H], blocked [B, 1, 1, S] bool (true = the key is padding) -> context [B, S, H]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& blocked);

  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};

 private:
  int64_t heads_;
  int64_t head_dim_;
  double dropout_;
};
TORCH_MODULE(BertSelfAttention);

// "attention.output" and "output": dense, dropout, then LayerNorm of the residual sum.
class BertResidualOutputImpl : public torch::nn::Module {
 public:
  BertResidualOutputImpl(int64_t in_features, const BertConfig& config);
  // x [B, S, in_features], residual [B, S, H] -> [B, S, H]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual);

  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};  // HF name "LayerNorm"

 private:
  double dropout_;
};
TORCH_MODULE(BertResidualOutput);

// "attention": self-attention and its output block.
class BertAttentionImpl : public torch::nn::Module {
 public:
  explicit BertAttentionImpl(const BertConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& blocked);

  BertSelfAttention self{nullptr};
  BertResidualOutput output{nullptr};
};
TORCH_MODULE(BertAttention);

// "intermediate": dense to intermediate_size, then the activation.
class BertIntermediateImpl : public torch::nn::Module {
 public:
  explicit BertIntermediateImpl(const BertConfig& config);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear dense{nullptr};

 private:
  std::string activation_;
};
TORCH_MODULE(BertIntermediate);

// "encoder.layer.N": attention, then the feed-forward block, each post-LayerNorm.
class BertLayerImpl : public torch::nn::Module {
 public:
  explicit BertLayerImpl(const BertConfig& config);
  // x [B, S, H], blocked [B, 1, 1, S] -> [B, S, H]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& blocked);

  BertAttention attention{nullptr};
  BertIntermediate intermediate{nullptr};
  BertResidualOutput output{nullptr};
};
TORCH_MODULE(BertLayer);

// "bert.encoder": the layers.
class BertEncoderImpl : public torch::nn::Module {
 public:
  explicit BertEncoderImpl(const BertConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& blocked);

  torch::nn::ModuleList layer{nullptr};
};
TORCH_MODULE(BertEncoder);

// "bert.pooler": tanh(dense(hidden state of the first token)).
class BertPoolerImpl : public torch::nn::Module {
 public:
  explicit BertPoolerImpl(const BertConfig& config);
  // hidden [B, S, H] -> [B, H]
  torch::Tensor forward(const torch::Tensor& hidden);

  torch::nn::Linear dense{nullptr};
};
TORCH_MODULE(BertPooler);

// "bert": embeddings, encoder, pooler.
class BertModelImpl : public torch::nn::Module {
 public:
  explicit BertModelImpl(const BertConfig& config);
  const BertConfig& config() const { return config_; }

  // input_ids [B, S] int64; token_type_ids [B, S] (undefined: all 0); attention_mask [B, S]
  // (nonzero = token, 0 = padding; undefined: no padding) -> hidden states [B, S, H].
  // DataError when S exceeds max_position_embeddings, the shapes disagree, or an id or token
  // type is outside its embedding table.
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& token_type_ids,
                        const torch::Tensor& attention_mask);

  BertEmbeddings embeddings{nullptr};
  BertEncoder encoder{nullptr};
  BertPooler pooler{nullptr};

 private:
  BertConfig config_;
};
TORCH_MODULE(BertModel);

// BertForSequenceClassification: logits = classifier(dropout(pooler output)).
class BertForSequenceClassificationImpl : public torch::nn::Module {
 public:
  // Random init as HF's _init_weights (normal(0, initializer_range), zero biases and padding
  // row, LayerNorm 1/0): seed with torch::manual_seed first for reproducibility. On the CPU,
  // float32.
  explicit BertForSequenceClassificationImpl(const BertConfig& config);
  const BertConfig& config() const { return config_; }

  // As BertModel::forward -> logits [B, num_labels].
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& token_type_ids,
                        const torch::Tensor& attention_mask);

  BertModel bert{nullptr};
  torch::nn::Linear classifier{nullptr};

 private:
  BertConfig config_;
};
TORCH_MODULE(BertForSequenceClassification);

// Names of tensors some checkpoints carry that hold no weights (HF's position_ids and
// token_type_ids index buffers, with and without "bert."): skipped on load. Any other unknown
// tensor is an error.
std::vector<std::string> bert_ignored_buffers();

// Loads one safetensors file (F32, F16 or BF16; converted to the module's dtype) into `model`
// by HF name. Accepts names without the "bert." prefix (a bare BertModel's), and the
// "LayerNorm.gamma" / "LayerNorm.beta" names of old checkpoints, as transformers does. DataError
// naming the file and the tensor for an unknown, missing or mis-shaped tensor (nothing is
// modified then).
void load_bert_weights(BertForSequenceClassification& model, const std::string& safetensors_path);

struct PretrainedBertClassifier {
  BertConfig config;
  BertForSequenceClassification model{nullptr};  // in eval mode, on the requested device
};

// Reads dir/config.json and dir/model.safetensors; `device` as parse_device (core/model/
// pretrained.h): "cpu", "cuda" or "cuda:N". IoError naming a missing file, ConfigError for a bad
// config or device, DataError for bad weights.
PretrainedBertClassifier load_bert_classifier(const std::string& dir,
                                              const std::string& device = "cpu");

// Writes a checkpoint directory that load_bert_classifier, CrossEncoderTeacher and transformers'
// BertForSequenceClassification.from_pretrained read: dir/config.json (`config`, which must
// describe `model`'s sizes: it may differ in dropout rates, e.g. a training-only dropout),
// dir/model.safetensors (every tensor under its HF name, metadata {"format": "pt"}) and, when
// `tokenizer_dir` is given, copies of its vocab.txt (required) and tokenizer_config.json (when
// present). A new `dir` is written under a temporary name and renamed into place; in an existing
// `dir` each file is replaced atomically and other files are kept. ConfigError when `config`
// does not describe `model`, IoError when a file cannot be read or written.
void save_bert_classifier(const BertForSequenceClassification& model, const BertConfig& config,
                          const std::string& dir, const std::string& tokenizer_dir = "");

}  // namespace dgr::model
