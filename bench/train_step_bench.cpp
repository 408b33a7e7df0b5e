// One stage-1 training step of dgr's BART model in C++ (forward, fairseq's label-smoothed loss,
// backward, AdamW), timed phase by phase on a fixed random batch: the C++ side of
// bench/scripts/train_step_compare.sh, whose Python side (bench/scripts/train_step.py) builds the
// same layers in Python PyTorch on the same libtorch. Prints one JSON line with the median
// seconds per step and per phase.
//
//   train_step_bench [--arch bart-base] [--batch 8] [--source-len 32] [--target-len 16]
//                    [--steps 5] [--warmup 2] [--threads 1] [--dropout 0.1]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "core/model/bart.h"
#include "core/model/bart_config.h"
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
  std::map<std::string, std::string> args = {
      {"arch", "bart-base"}, {"vocab", "50265"},   {"batch", "8"},
      {"source-len", "32"},  {"target-len", "16"}, {"steps", "5"},
      {"warmup", "2"},       {"threads", "1"},     {"dropout", "0.1"}};
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
  dgr::model::BartModel model(config);
  model->train();
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& item : model->named_parameters(true))
    named.emplace_back(item.key(), item.value());
  dgr::model::AdamW optimizer(named, dgr::model::AdamWOptions{});

  auto gen = torch::make_generator<at::CPUGeneratorImpl>(11);
  const torch::Tensor ids = torch::randint(4, vocab, {batch, source_len}, gen, torch::kLong);
  const torch::Tensor mask = torch::ones_like(ids);
  const torch::Tensor dec = torch::randint(4, vocab, {batch, target_len}, gen, torch::kLong);
  const torch::Tensor labels = torch::randint(4, vocab, {batch, target_len}, gen, torch::kLong);
  const double tokens = static_cast<double>(labels.numel());

  std::vector<double> step_s, forward_s, backward_s, optimizer_s;
  double loss_value = 0;
  for (int i = 0; i < warmup + steps; ++i) {
    const auto t0 = Clock::now();
    const torch::Tensor logits = model->forward(ids, mask, dec);
    const dgr::model::LossSums loss = dgr::model::label_smoothed_cross_entropy(logits, labels, 0.1);
    loss_value = loss.loss.item<double>();
    const auto t1 = Clock::now();
    (loss.loss / tokens).backward();
    const auto t2 = Clock::now();
    optimizer.step(3e-5);
    optimizer.zero_grad();
    const auto t3 = Clock::now();
    if (i >= warmup) {
      forward_s.push_back(seconds(t0, t1));
      backward_s.push_back(seconds(t1, t2));
      optimizer_s.push_back(seconds(t2, t3));
      step_s.push_back(seconds(t0, t3));
    }
  }
  std::cout << "{\"impl\": \"cpp\", \"arch\": \"" << args["arch"] << "\", \"threads\": " << threads
            << ", \"batch\": " << batch << ", \"loss\": " << loss_value / tokens
            << ", \"step_s\": " << median(step_s) << ", \"forward_s\": " << median(forward_s)
            << ", \"backward_s\": " << median(backward_s)
            << ", \"optimizer_s\": " << median(optimizer_s) << "}" << std::endl;
  return 0;
}
