// The hyper-parameters of a BERT encoder with a sequence-classification head, read from and
// written to a Hugging Face `config.json` (the keys of `BertConfig` in transformers), so that
// `cross-encoder/*` checkpoint directories load directly. No torch here: launch code reads it.
//
// Guarantees: a config returned by `read_bert_config` or `BertConfig::preset` has passed
// `validate` (positive sizes, heads dividing hidden_size, a supported activation, absolute
// positions, an encoder without cross-attention); variants dgr's BERT does not implement are
// rejected with the key that says so, never loaded as something else.
#pragma once

#include <cstdint>
#include <string>

namespace dgr::model {

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  int64_t pad_token_id = 0;
  // Outputs of the classifier: HF's num_labels, i.e. the size of id2label when the file has one.
  int64_t num_labels = 2;

  // "gelu" (exact erf form), "gelu_new" / "gelu_pytorch_tanh" (tanh approximation) or "relu".
  std::string hidden_act = "gelu";
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  double classifier_dropout = -1.0;  // < 0: none given, hidden_dropout_prob applies (as in HF)
  double initializer_range = 0.02;
  double layer_norm_eps = 1e-12;

  // "tiny" (hidden 32, 2 layers, 2 heads, intermediate 37, 64 positions: for tests),
  // "minilm-l6" (384, 6, 12, 1536, 512: the ms-marco-MiniLM-L-6 cross-encoders) or "bert-base"
  // (768, 12, 12, 3072, 512), with the given vocabulary size and labels. ConfigError for an
  // unknown name.
  static BertConfig preset(const std::string& name, int64_t vocab_size = 30522,
                           int64_t num_labels = 1);
};

// Throws ConfigError naming `source` and the offending key when the config cannot describe a
// BERT classifier (non-positive sizes, hidden_size not divisible by the heads, pad_token_id
// outside the vocabulary, unsupported activation, dropout outside [0, 1)).
void validate(const BertConfig& config, const std::string& source);

// Reads an HF config.json. Unknown keys are ignored; a missing size key, a value of the wrong
// type, model_type other than "bert", position_embedding_type other than "absolute",
// is_decoder or add_cross_attention true give ConfigError naming the file and the key. The
// number of labels is HF's: the size of id2label when present, else num_labels, else 2. IoError
// when the file cannot be read.
BertConfig read_bert_config(const std::string& path);

// Writes an HF-compatible config.json (model_type "bert", architectures
// ["BertForSequenceClassification"], id2label / label2id for num_labels, every field above),
// atomically.
void write_bert_config(const BertConfig& config, const std::string& path);

}  // namespace dgr::model
