// The hyper-parameters of a BART seq2seq model, read from and written to a Hugging Face
// `config.json` (the keys of `BartConfig` in transformers), so that `facebook/bart-*` checkpoint
// directories load directly and ours load back into HF. No torch here: launch code reads it.
//
// Guarantees: a config returned by `preset` or `read_bart_config` has passed `validate`
// (positive sizes, heads dividing d_model, special ids inside the vocabulary, a supported
// activation); mBART variants (pre-LayerNorm) are rejected, not silently loaded as BART.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dgr::model {

struct BartConfig {
  int64_t vocab_size = 50265;
  int64_t d_model = 1024;
  int64_t encoder_layers = 12;
  int64_t decoder_layers = 12;
  int64_t encoder_attention_heads = 16;
  int64_t decoder_attention_heads = 16;
  int64_t encoder_ffn_dim = 4096;
  int64_t decoder_ffn_dim = 4096;
  int64_t max_position_embeddings = 1024;  // learned positions; the table has 2 more rows

  int64_t pad_token_id = 1;
  int64_t bos_token_id = 0;
  int64_t eos_token_id = 2;
  int64_t decoder_start_token_id = 2;

  std::string activation_function = "gelu";  // "gelu" (exact erf form) or "relu"
  bool scale_embedding = false;              // multiply token embeddings by sqrt(d_model)
  double dropout = 0.1;
  double attention_dropout = 0.0;
  double activation_dropout = 0.0;
  double init_std = 0.02;
  double layer_norm_eps = 1e-5;  // not an HF BART key (nn.LayerNorm's default); read if present

  // "tiny" (d 32, 2+2 layers, 4 heads, ffn 64, 64 positions: for tests), "mini" (128, 2+2, 4,
  // 512, 128: learning tests that must run in a minute), "small" (256, 3+3,
  // 4, 1024, 256: trained from scratch on small corpora in minutes on a CPU), "bart-base"
  // (768, 6+6, 12, 3072, 1024) or "bart-large" (1024, 12+12, 16, 4096, 1024), with the given
  // vocabulary size. ConfigError for an unknown name.
  static BartConfig preset(const std::string& name, int64_t vocab_size = 50265);
};

// Throws ConfigError naming `source` and the offending key when the config cannot describe a
// BART model (non-positive sizes, d_model not divisible by the heads, special ids outside the
// vocabulary, unsupported activation, dropout outside [0, 1)).
void validate(const BartConfig& config, const std::string& source);

// Reads an HF config.json. Unknown keys are ignored; a missing required size key, a value of
// the wrong type, model_type other than "bart", normalize_before / add_final_layer_norm true
// (mBART) or tie_word_embeddings false give ConfigError naming the file and the key. IoError when
// the file cannot be read.
BartConfig read_bart_config(const std::string& path);

// Writes an HF-compatible config.json (model_type "bart", architectures
// ["BartForConditionalGeneration"], every field above), atomically.
void write_bart_config(const BartConfig& config, const std::string& path);

// The encoder input of a query as BART was trained on it: <s> query </s>, the query truncated
// so that the whole fits max_position_embeddings.
std::vector<int64_t> bart_encoder_input(const std::vector<int32_t>& query,
                                        const BartConfig& config);

}  // namespace dgr::model
