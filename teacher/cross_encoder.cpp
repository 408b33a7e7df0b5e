#include "teacher/cross_encoder.h"

#include <glog/logging.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <optional>

#include "core/model/bert.h"
#include "core/model/pretrained.h"
#include "core/model/torch_runtime.h"
#include "core/text/wordpiece.h"
#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::teacher {
namespace {

namespace fs = std::filesystem;

std::string join(const std::string& dir, const char* name) {
  return (fs::path(dir) / name).string();
}

}  // namespace

struct CrossEncoderTeacher::Impl {
  Impl(const std::string& checkpoint_dir, const data::Corpus& corpus_ref, CrossEncoderOptions opts)
      : dir(checkpoint_dir), corpus(corpus_ref), options(std::move(opts)) {}

  // Ids of `text`; DataError naming the teacher and `what` (the query or passage) otherwise.
  std::vector<text::TokenId> encode(const std::string& text, const std::string& what) const {
    try {
      return tokenizer->encode(text);
    } catch (const DataError& e) {
      throw DataError("cross-encoder " + dir + ": " + what + ": " + e.what());
    }
  }

  // The score of `query` against each of `passages` (all encoded).
  std::vector<float> score_pairs(const std::vector<text::TokenId>& query,
                                 const std::vector<std::vector<text::TokenId>>& passages);

  std::string dir;
  const data::Corpus& corpus;
  CrossEncoderOptions options;
  model::BertConfig config;
  model::BertForSequenceClassification model{nullptr};
  torch::Device device{torch::kCPU};
  std::optional<text::WordPieceTokenizer> tokenizer;
  int64_t max_length = 0;
  int64_t score_column = 0;  // the logit that is the score
};

std::vector<float> CrossEncoderTeacher::Impl::score_pairs(
    const std::vector<text::TokenId>& query,
    const std::vector<std::vector<text::TokenId>>& passages) {
  const size_t n = passages.size();
  std::vector<text::PairEncoding> pairs;
  pairs.reserve(n);
  for (const auto& passage : passages) {
    pairs.push_back(tokenizer->build_pair(query, passage, static_cast<size_t>(max_length)));
  }
  // Longest first, so each batch holds pairs of similar length and little padding.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return pairs[a].input_ids.size() > pairs[b].input_ids.size();
  });

  std::vector<float> scores(n);
  c10::InferenceMode inference;
  const auto batch = static_cast<size_t>(options.batch_size);
  for (size_t begin = 0; begin < n; begin += batch) {
    const size_t rows = std::min(n, begin + batch) - begin;
    const size_t width = pairs[order[begin]].input_ids.size();
    std::vector<int64_t> ids(rows * width, tokenizer->pad_id());
    std::vector<int64_t> types(rows * width, 0);
    std::vector<int64_t> mask(rows * width, 0);
    for (size_t r = 0; r < rows; ++r) {
      const text::PairEncoding& pair = pairs[order[begin + r]];
      std::copy(pair.input_ids.begin(), pair.input_ids.end(), ids.begin() + r * width);
      std::copy(pair.token_type_ids.begin(), pair.token_type_ids.end(), types.begin() + r * width);
      std::fill_n(mask.begin() + r * width, pair.input_ids.size(), 1);
    }
    auto tensor = [&](std::vector<int64_t>& values) {  // [rows, width] on the model's device
      return torch::from_blob(values.data(),
                              {static_cast<int64_t>(rows), static_cast<int64_t>(width)},
                              torch::kLong)
          .to(device);
    };
    const torch::Tensor logits = model->forward(tensor(ids), tensor(types), tensor(mask));
    const torch::Tensor column =
        logits.select(1, score_column).to(torch::kCPU, torch::kFloat32).contiguous();  // [rows]
    const float* values = column.data_ptr<float>();
    for (size_t r = 0; r < rows; ++r)
      scores[order[begin + r]] = values[r];
  }
  return scores;
}

CrossEncoderTeacher::CrossEncoderTeacher(const std::string& checkpoint_dir,
                                         const data::Corpus& corpus, CrossEncoderOptions options)
    : impl_(std::make_unique<Impl>(checkpoint_dir, corpus, std::move(options))) {
  Impl& s = *impl_;
  if (s.options.batch_size < 1) {
    throw ConfigError("cross-encoder: batch_size must be at least 1, got " +
                      std::to_string(s.options.batch_size));
  }
  if (s.options.max_length < 0) {
    throw ConfigError(
        "cross-encoder: max_length must be 0 (from the checkpoint) or positive, got " +
        std::to_string(s.options.max_length));
  }
  const std::string config_path = join(checkpoint_dir, "config.json");
  const std::string weights_path = join(checkpoint_dir, "model.safetensors");
  const std::string vocab_path = join(checkpoint_dir, "vocab.txt");
  const std::string tokenizer_config_path = join(checkpoint_dir, "tokenizer_config.json");
  std::vector<std::string> missing;
  for (const auto& path : {config_path, weights_path, vocab_path}) {
    if (!file_exists(path)) missing.push_back(path);
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& path : missing)
      list += (list.empty() ? "" : ", ") + path;
    throw IoError("cross-encoder checkpoint directory " + checkpoint_dir + ": missing " + list);
  }

  s.device = model::parse_device(s.options.device);
  s.config = model::read_bert_config(config_path);
  if (s.config.type_vocab_size < 2) {
    throw ConfigError(config_path +
                      ": key \"type_vocab_size\": " + std::to_string(s.config.type_vocab_size) +
                      " token type(s) cannot tell the query from the passage (a cross-encoder "
                      "needs 2)");
  }

  // The tokenizer: tokenizer_config.json decides lowercasing when it says; the options otherwise.
  text::WordPieceOptions defaults;
  defaults.lowercase = s.options.lowercase;
  text::BertTokenizerConfig tokenizer_config{defaults, std::nullopt};
  if (file_exists(tokenizer_config_path)) {
    tokenizer_config = text::read_bert_tokenizer_config(tokenizer_config_path, defaults);
  }
  s.tokenizer.emplace(text::WordPieceTokenizer::load(vocab_path, tokenizer_config.options));
  if (s.tokenizer->vocab_size() > s.config.vocab_size) {
    throw DataError(vocab_path + ": " + std::to_string(s.tokenizer->vocab_size()) +
                    " tokens, but the model's embedding table has vocab_size " +
                    std::to_string(s.config.vocab_size) + " (" + config_path + ")");
  }

  const int64_t positions = s.config.max_position_embeddings;
  if (s.options.max_length > 0) {
    if (s.options.max_length > positions) {
      throw ConfigError("cross-encoder: max_length " + std::to_string(s.options.max_length) +
                        " exceeds the model's max_position_embeddings " +
                        std::to_string(positions) + " (" + config_path + ")");
    }
    s.max_length = s.options.max_length;
  } else {
    s.max_length = std::min(positions, tokenizer_config.model_max_length.value_or(positions));
  }
  if (s.max_length < 3) {
    throw ConfigError("cross-encoder: max_length " + std::to_string(s.max_length) +
                      " leaves no room for [CLS] query [SEP] passage [SEP]");
  }
  s.score_column = s.config.num_labels == 1 ? 0 : 1;

  s.model = model::BertForSequenceClassification(s.config);
  model::load_bert_weights(s.model, weights_path);
  s.model->to(s.device);
  s.model->eval();

  LOG(INFO) << "cross-encoder " << checkpoint_dir << ": BERT " << s.config.num_hidden_layers
            << " layers x " << s.config.hidden_size << ", " << s.config.num_labels
            << " label(s) (score = logit " << s.score_column << "), vocabulary "
            << s.tokenizer->vocab_size()
            << (tokenizer_config.options.lowercase ? " uncased" : " cased") << ", max_length "
            << s.max_length << ", batch " << s.options.batch_size << ", on " << s.device.str();
}

CrossEncoderTeacher::~CrossEncoderTeacher() = default;

std::string CrossEncoderTeacher::name() const {
  return "cross-encoder:" + impl_->dir;
}

std::string CrossEncoderTeacher::passage_text(const data::Passage& passage) {
  if (passage.title.empty()) return passage.text;
  return passage.title + ": " + passage.text;
}

std::vector<float> CrossEncoderTeacher::score(const std::string& query_id,
                                              const std::string& query_text,
                                              const std::vector<std::string>& passage_ids) {
  Impl& s = *impl_;
  if (passage_ids.empty()) return {};
  const std::string context = "cross-encoder teacher, query '" + query_id + "'";
  const auto query = s.encode(query_text, "query '" + query_id + "'");
  std::vector<std::vector<text::TokenId>> passages;
  passages.reserve(passage_ids.size());
  for (const std::string& id : passage_ids) {
    const data::Passage& passage = s.corpus[s.corpus.index_of(id, context)];
    passages.push_back(s.encode(passage_text(passage), "passage '" + id + "'"));
  }
  return s.score_pairs(query, passages);
}

std::vector<float> CrossEncoderTeacher::score_texts(const std::string& query_text,
                                                    const std::vector<std::string>& passage_texts) {
  Impl& s = *impl_;
  if (passage_texts.empty()) return {};
  const auto query = s.encode(query_text, "query");
  std::vector<std::vector<text::TokenId>> passages;
  passages.reserve(passage_texts.size());
  for (size_t i = 0; i < passage_texts.size(); ++i) {
    passages.push_back(s.encode(passage_texts[i], "passage " + std::to_string(i) + " of the call"));
  }
  return s.score_pairs(query, passages);
}

int64_t CrossEncoderTeacher::max_length() const {
  return impl_->max_length;
}

int64_t CrossEncoderTeacher::num_labels() const {
  return impl_->config.num_labels;
}

}  // namespace dgr::teacher
