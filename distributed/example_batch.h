// Stage-1 examples (query or passage segment -> identifier of one view) as the tensors of one
// teacher-forced micro-batch. The stage-1 trainer trains on them; the distillation trainer's
// generation loss (CE_title, CE_body) uses the same batches.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "core/model/bart_config.h"
#include "data/stage1_examples.h"

namespace dgr::distributed {

// The label of prompt and padding positions, skipped by the loss.
constexpr int64_t kIgnoreLabel = -100;

// Encoder input <s> source </s>, decoder input [start] + prompt + target[:-1], labels
// kIgnoreLabel on the prompt + target; everything right-padded.
struct ExampleBatch {
  torch::Tensor input_ids;       // [B, S]
  torch::Tensor attention_mask;  // [B, S]
  torch::Tensor decoder_input;   // [B, T]
  torch::Tensor labels;          // [B, T], kIgnoreLabel on prompt and padding
  int64_t target_tokens = 0;
};

// DataError naming the example's source when prompt + target exceed the model's positions or
// a token is outside the model's vocabulary.
ExampleBatch collate_examples(const std::vector<data::Stage1Example>& examples,
                              const model::BartConfig& config, const torch::Device& device);

}  // namespace dgr::distributed
