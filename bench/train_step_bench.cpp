// One stage-1 training step of dgr's BART model in C++ (forward, fairseq's label-smoothed loss,
// backward, AdamW), timed phase by phase on a fixed random batch: the C++ side of
// bench/scripts/train_step_compare.sh, whose Python side (bench/scripts/train_step.py) builds the
// same layers in Python PyTorch on the same libtorch. Prints one JSON line with the median
// seconds per step and per phase.
//
// On a GPU (--device cuda) each phase ends with a device synchronisation, --precision bf16 runs
// the forward under bf16 autocast (fp32 master weights, as train.precision: bf16), and the line
// adds samples/s, the model FLOPs of a step (matrix products and attention, forward and backward
// = 3 x forward, counted from the architecture) as TFLOP/s, and, with --peak-tflops, the model
// FLOPs utilisation (MFU) against that peak.
//
// Like for like with the Python side: --save-weights/--save-batch write the model's initial
// weights (Hugging Face names) and the batch as safetensors, --weights/--batch read them, so both
// programs start from the same numbers; --check 1 runs one dropout-free step and prints its mean
// token loss and a few gradient norms instead of timings (bench/scripts/train_step_compare.sh
// compares the two before it times anything).
//
//   train_step_bench [--arch bart-base] [--batch 8] [--source-len 32] [--target-len 16]
//                    [--steps 5] [--warmup 2] [--threads 1] [--dropout 0.1] [--device cpu]
//                    [--precision fp32] [--peak-tflops 0] [--weights F] [--batch-file F]
//                    [--save-weights F] [--save-batch F] [--check 0]
//                    [--attention-dropout 0.1] [--activation-dropout 0.1] [--profile F]
//
// --profile F: after the timed steps, three more steps under torch's autograd profiler, written
// to F as a Chrome trace (bench/scripts/profile_compare.py sets it beside the Python side's).
#include <ATen/record_function.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/model/bart.h"
#include "core/model/bart_config.h"
#include "core/model/safetensors.h"
#include "core/model/state_dict.h"
#include "core/model/training.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args = {{"arch", "bart-base"},
                                             {"vocab", "50265"},
                                             {"batch", "8"},
                                             {"source-len", "32"},
                                             {"target-len", "16"},
                                             {"steps", "5"},
                                             {"warmup", "2"},
                                             {"threads", "1"},
                                             {"dropout", "0.1"},
                                             {"device", "cpu"},
                                             {"precision", "fp32"},
                                             {"peak-tflops", "0"},
                                             {"weights", ""},
                                             {"batch-file", ""},
                                             {"save-weights", ""},
                                             {"save-batch", ""},
                                             {"check", "0"},
                                             {"attention-dropout", "0.1"},
                                             {"activation-dropout", "0.1"},
                                             {"profile", ""}};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    if (key.rfind("--", 0) != 0 || !args.count(key.substr(2))) {
      std::cerr << "train_step_bench: unknown option " << key << "\n";
      return 2;
    }
    args[key.substr(2)] = argv[i + 1];
  }
  const int64_t batch = std::stoll(args["batch"]);
  const int64_t source_len = std::stoll(args["source-len"]);
  const int64_t target_len = std::stoll(args["target-len"]);
  const int steps = std::stoi(args["steps"]);
  const int warmup = std::stoi(args["warmup"]);
  const int threads = std::stoi(args["threads"]);
  const int64_t vocab = std::stoll(args["vocab"]);

  torch::set_num_threads(threads);
  torch::manual_seed(7);
  dgr::model::BartConfig config = dgr::model::BartConfig::preset(args["arch"], vocab);
  config.dropout = std::stod(args["dropout"]);
  config.attention_dropout = std::stod(args["attention-dropout"]);
  config.activation_dropout = std::stod(args["activation-dropout"]);
  const bool check = args["check"] == "1";
  if (check) config.dropout = config.attention_dropout = config.activation_dropout = 0.0;
  dgr::model::BartModel model(config);
  if (!args["weights"].empty()) {
    dgr::model::load_state(*model, dgr::model::read_safetensors(args["weights"]), args["weights"]);
  }
  if (!args["save-weights"].empty()) {
    dgr::model::write_safetensors(args["save-weights"], dgr::model::module_state(*model));
  }
  const torch::Device device(args["device"]);
  const bool cuda = device.is_cuda();
  const dgr::model::Precision precision =
      dgr::model::parse_precision(args["precision"], "--precision");
  if (cuda) dgr::model::set_tf32_matmul(true);
  model->to(device);
  model->train();
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& item : model->named_parameters(true))
    named.emplace_back(item.key(), item.value());
  dgr::model::AdamW optimizer(named, dgr::model::AdamWOptions{});

  auto gen = torch::make_generator<at::CPUGeneratorImpl>(11);
  dgr::model::NamedTensors batch_tensors = {
      {"input_ids", torch::randint(4, vocab, {batch, source_len}, gen, torch::kLong)},
      {"decoder_input_ids", torch::randint(4, vocab, {batch, target_len}, gen, torch::kLong)},
      {"labels", torch::randint(4, vocab, {batch, target_len}, gen, torch::kLong)}};
  if (!args["batch-file"].empty()) batch_tensors = dgr::model::read_safetensors(args["batch-file"]);
  if (!args["save-batch"].empty()) {
    dgr::model::write_safetensors(args["save-batch"], batch_tensors);
  }
  auto batch_tensor = [&](const std::string& name) {
    for (const auto& [key, tensor] : batch_tensors) {
      if (key == name) return tensor.to(device);
    }
    std::cerr << "train_step_bench: the batch has no " << name << "\n";
    std::exit(2);
  };
  const torch::Tensor ids = batch_tensor("input_ids");
  const torch::Tensor mask = torch::ones_like(ids);
  const torch::Tensor dec = batch_tensor("decoder_input_ids");
  const torch::Tensor labels = batch_tensor("labels");
  auto sync = [&] {
    if (cuda) torch::cuda::synchronize();
  };
  const double tokens = static_cast<double>(labels.numel());

  if (check) {
    // One dropout-free step: the mean token loss and the gradient norms both sides compare.
    torch::Tensor summed;
    {
      const dgr::model::AutocastScope autocast(precision, device.type());
      summed = dgr::model::label_smoothed_cross_entropy(model->forward(ids, mask, dec), labels, 0.1)
                   .loss;
    }
    (summed / tokens).backward();
    std::cout << "{\"impl\": \"cpp\", \"loss\": " << std::setprecision(10)
              << summed.item<double>() / tokens << ", \"grad_norms\": {";
    bool first = true;
    for (const auto& item : model->named_parameters(true)) {
      const std::string& name = item.key();
      if (name != "model.shared.weight" && name != "model.encoder.layers.0.fc1.weight" &&
          name != "model.decoder.layers.0.encoder_attn.q_proj.weight" &&
          name != "model.decoder.layernorm_embedding.weight") {
        continue;
      }
      std::cout << (first ? "" : ", ") << "\"" << name
                << "\": " << item.value().grad().norm().item<double>();
      first = false;
    }
    std::cout << "}}" << std::endl;
    return 0;
  }

  std::vector<double> step_s, forward_s, backward_s, optimizer_s;
  double loss_value = 0;
  const std::string profile = args["profile"];
  std::unique_ptr<torch::autograd::profiler::RecordProfile> profiler;
  const int profiled = profile.empty() ? 0 : 3;
  for (int i = 0; i < warmup + steps + profiled; ++i) {
    if (i == warmup + steps) {
      profiler = std::make_unique<torch::autograd::profiler::RecordProfile>(profile);
    }
    sync();
    const auto t0 = Clock::now();
    torch::Tensor summed;
    {
      RECORD_USER_SCOPE("phase:forward");
      const dgr::model::AutocastScope autocast(precision, device.type());
      const torch::Tensor logits = model->forward(ids, mask, dec);
      summed = dgr::model::label_smoothed_cross_entropy(logits, labels, 0.1).loss;
    }
    loss_value = summed.item<double>();  // also waits for the forward
    const auto t1 = Clock::now();
    {
      RECORD_USER_SCOPE("phase:backward");
      (summed / tokens).backward();
      sync();
    }
    const auto t2 = Clock::now();
    {
      RECORD_USER_SCOPE("phase:optimizer");
      optimizer.step(3e-5);
      optimizer.zero_grad();
      sync();
    }
    const auto t3 = Clock::now();
    if (i >= warmup && i < warmup + steps) {
      forward_s.push_back(seconds(t0, t1));
      backward_s.push_back(seconds(t1, t2));
      optimizer_s.push_back(seconds(t2, t3));
      step_s.push_back(seconds(t0, t3));
    }
  }
  profiler.reset();  // writes the trace
  // Model FLOPs of a step: multiply-accumulates of the forward (projections, FFN, attention
  // scores and mixing, the LM head) x 2 FLOPs x 3 (the backward costs twice the forward).
  const double d = static_cast<double>(config.d_model);
  const double s = static_cast<double>(source_len), t = static_cast<double>(target_len);
  const double fe = static_cast<double>(config.encoder_ffn_dim);
  const double fd = static_cast<double>(config.decoder_ffn_dim);
  const double encoder_macs =
      static_cast<double>(config.encoder_layers) * (s * (4 * d * d + 2 * d * fe) + 2 * s * s * d);
  const double decoder_macs =
      static_cast<double>(config.decoder_layers) *
      (t * (4 * d * d + 2 * d * fd) + 2 * t * t * d       // self-attention and FFN
       + t * 2 * d * d + s * 2 * d * d + 2 * t * s * d);  // cross-attention
  const double head_macs = t * d * static_cast<double>(vocab);
  const double step_flops =
      6.0 * static_cast<double>(batch) * (encoder_macs + decoder_macs + head_macs);
  const double step = median(step_s);
  const double tflops = step > 0 ? step_flops / step / 1e12 : 0.0;
  const double peak = std::stod(args["peak-tflops"]);
  std::cout << "{\"impl\": \"cpp\", \"arch\": \"" << args["arch"] << "\", \"threads\": " << threads
            << ", \"device\": \"" << device.str() << "\", \"precision\": \"" << args["precision"]
            << "\", \"batch\": " << batch << ", \"loss\": " << loss_value / tokens
            << ", \"step_s\": " << step << ", \"forward_s\": " << median(forward_s)
            << ", \"backward_s\": " << median(backward_s)
            << ", \"optimizer_s\": " << median(optimizer_s)
            << ", \"samples_per_s\": " << (step > 0 ? static_cast<double>(batch) / step : 0.0)
            << ", \"step_tflop\": " << step_flops / 1e12 << ", \"tflops\": " << tflops;
  if (peak > 0) std::cout << ", \"mfu\": " << tflops / peak;
  std::cout << "}" << std::endl;
  return 0;
}
