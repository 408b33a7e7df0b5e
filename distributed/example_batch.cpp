#include "distributed/example_batch.h"

#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "core/util/error.h"

namespace dgr::distributed {

ExampleBatch collate_examples(const std::vector<data::Stage1Example>& examples,
                              const model::BartConfig& config, const torch::Device& device) {
  ExampleBatch batch;
  const size_t n = examples.size();
  std::vector<std::vector<int64_t>> sources, decoder, labels;
  size_t max_s = 1, max_t = 1;
  for (const data::Stage1Example& e : examples) {
    // An id past the embedding table is an indexing crash inside torch; here it names the
    // example (a store made with another tokenizer than the model's).
    for (const std::vector<int32_t>* tokens : {&e.source, &e.prompt, &e.target}) {
      for (int32_t t : *tokens) {
        if (t < 0 || t >= config.vocab_size) {
          throw DataError(
              "stage-1 example of '" + e.source_id + "' (" + search::view_name(e.view) +
              "): token " + std::to_string(t) + " is outside the model's vocabulary of " +
              std::to_string(config.vocab_size) + " (was the store made with another tokenizer?)");
        }
      }
    }
    sources.push_back(model::bart_encoder_input(e.source, config));
    std::vector<int64_t> in{config.decoder_start_token_id};
    std::vector<int64_t> out;
    for (int32_t t : e.prompt) {
      in.push_back(t);
      out.push_back(kIgnoreLabel);
    }
    for (size_t i = 0; i < e.target.size(); ++i) {
      if (i + 1 < e.target.size()) in.push_back(e.target[i]);
      out.push_back(e.target[i]);
      ++batch.target_tokens;
    }
    // in: start + prompt + target[:-1] has the length of out: prompt + target.
    if (e.target.empty()) in.pop_back();
    if (static_cast<int64_t>(in.size()) > config.max_position_embeddings) {
      throw DataError("stage-1 example of '" + e.source_id + "': prompt + target of " +
                      std::to_string(in.size()) + " tokens exceed the model's " +
                      std::to_string(config.max_position_embeddings) + " positions");
    }
    max_s = std::max(max_s, sources.back().size());
    max_t = std::max(max_t, in.size());
    decoder.push_back(std::move(in));
    labels.push_back(std::move(out));
  }
  auto ids = torch::full({static_cast<int64_t>(n), static_cast<int64_t>(max_s)},
                         config.pad_token_id, torch::kInt64);
  auto mask = torch::zeros({static_cast<int64_t>(n), static_cast<int64_t>(max_s)}, torch::kInt64);
  auto dec = torch::full({static_cast<int64_t>(n), static_cast<int64_t>(max_t)},
                         config.pad_token_id, torch::kInt64);
  auto lab = torch::full({static_cast<int64_t>(n), static_cast<int64_t>(max_t)}, kIgnoreLabel,
                         torch::kInt64);
  auto ids_a = ids.accessor<int64_t, 2>();
  auto mask_a = mask.accessor<int64_t, 2>();
  auto dec_a = dec.accessor<int64_t, 2>();
  auto lab_a = lab.accessor<int64_t, 2>();
  for (size_t b = 0; b < n; ++b) {
    for (size_t i = 0; i < sources[b].size(); ++i) {
      ids_a[b][i] = sources[b][i];
      mask_a[b][i] = 1;
    }
    for (size_t i = 0; i < decoder[b].size(); ++i) {
      dec_a[b][i] = decoder[b][i];
      lab_a[b][i] = labels[b][i];
    }
  }
  batch.input_ids = ids.to(device);
  batch.attention_mask = mask.to(device);
  batch.decoder_input = dec.to(device);
  batch.labels = lab.to(device);
  return batch;
}

}  // namespace dgr::distributed
