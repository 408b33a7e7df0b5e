// Loading named tensors into a torch module: by name, with aliases, ignored names and name
// prefixes; every error names the tensor and leaves the module unchanged; module_state round
// trips through a safetensors file.
#include "core/model/state_dict.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "core/model/safetensors.h"
#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::model {
namespace {

// encoder.dense (Linear 3 -> 2) and a buffer, inside a module with a parameter of its own:
// names "scale", "encoder.dense.weight", "encoder.dense.bias", "encoder.position_ids".
struct EncoderImpl : torch::nn::Module {
  EncoderImpl() {
    dense = register_module("dense", torch::nn::Linear(3, 2));
    position_ids = register_buffer("position_ids", torch::arange(4, torch::kInt64));
  }
  torch::nn::Linear dense{nullptr};
  torch::Tensor position_ids;
};
TORCH_MODULE(Encoder);

struct NetImpl : torch::nn::Module {
  NetImpl() {
    scale = register_parameter("scale", torch::ones({2}));
    encoder = register_module("encoder", Encoder());
  }
  torch::Tensor scale;
  Encoder encoder{nullptr};
};
TORCH_MODULE(Net);

// The checkpoint of a Net, with values unlike any initialisation.
NamedTensors net_tensors() {
  return {
      {"scale", torch::tensor({2.0f, 3.0f})},
      {"encoder.dense.weight", torch::arange(6, torch::kFloat32).reshape({2, 3})},
      {"encoder.dense.bias", torch::tensor({-1.0f, -2.0f})},
      {"encoder.position_ids", torch::tensor({7, 8, 9, 10}, torch::kInt64)},
  };
}

NamedTensors without(NamedTensors tensors, const std::string& name) {
  tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                               [&](const auto& item) { return item.first == name; }),
                tensors.end());
  return tensors;
}

NamedTensors snapshot(const torch::nn::Module& module) {
  NamedTensors state = module_state(module);
  for (auto& item : state)
    item.second = item.second.clone();
  return state;
}

void expect_state_equal(const NamedTensors& a, const NamedTensors& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

// The message of the DataError load_state throws; the module must be left as it was.
std::string load_error(torch::nn::Module& module, const NamedTensors& tensors,
                       const StateLoadOptions& options = {}) {
  const NamedTensors before = snapshot(module);
  std::string message;
  try {
    load_state(module, tensors, "ckpt.safetensors", options);
    ADD_FAILURE() << "no DataError";
  } catch (const DataError& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("ckpt.safetensors: "), std::string::npos) << message;
  expect_state_equal(snapshot(module), before);
  return message;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(LoadState, CopiesEveryTensorByName) {
  Net net;
  NamedTensors tensors = net_tensors();
  tensors[1].second = tensors[1].second.to(torch::kFloat64);  // converted to the module's F32
  const StateLoadReport report = load_state(*net, tensors, "ckpt.safetensors");

  EXPECT_EQ(report.loaded,
            (std::vector<std::string>{"scale", "encoder.dense.weight", "encoder.dense.bias",
                                      "encoder.position_ids"}));
  EXPECT_TRUE(report.aliased.empty());
  EXPECT_TRUE(torch::equal(net->scale, torch::tensor({2.0f, 3.0f})));
  EXPECT_EQ(net->encoder->dense->weight.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(net->encoder->dense->weight, net_tensors()[1].second));
  EXPECT_TRUE(torch::equal(net->encoder->dense->bias, net_tensors()[2].second));
  EXPECT_TRUE(torch::equal(net->encoder->position_ids, net_tensors()[3].second));
  // Parameters stay leaves that require grad: the copy is not recorded by autograd.
  EXPECT_TRUE(net->encoder->dense->weight.requires_grad());
  EXPECT_TRUE(net->encoder->dense->weight.is_leaf());
  // The module computes with the loaded weights.
  const torch::Tensor y = net->encoder->dense->forward(torch::tensor({{1.0f, 0.0f, 0.0f}}));
  EXPECT_TRUE(torch::allclose(y, torch::tensor({{-1.0f, 1.0f}})));
}

TEST(LoadState, UnknownTensorIsNamedWithTheClosestModuleName) {
  Net net;
  NamedTensors tensors = net_tensors();
  tensors.emplace_back("encoder.dense.wieght", torch::zeros({2, 3}));
  const std::string message = load_error(*net, tensors);
  EXPECT_TRUE(contains(message, "tensor 'encoder.dense.wieght'")) << message;
  EXPECT_TRUE(contains(message, "closest module name: 'encoder.dense.weight'")) << message;
}

TEST(LoadState, MissingTensorsAreAllListed) {
  Net net;
  const std::string message =
      load_error(*net, without(without(net_tensors(), "scale"), "encoder.dense.bias"));
  EXPECT_TRUE(contains(message, "'scale'")) << message;
  EXPECT_TRUE(contains(message, "'encoder.dense.bias'")) << message;
  EXPECT_TRUE(contains(message, "missing")) << message;
  EXPECT_FALSE(contains(message, "'encoder.dense.weight'")) << message;
}

TEST(LoadState, ShapeMismatchGivesBothShapes) {
  Net net;
  NamedTensors tensors = net_tensors();
  tensors[1].second = torch::zeros({2, 4});
  const std::string message = load_error(*net, tensors);
  EXPECT_TRUE(contains(message, "tensor 'encoder.dense.weight'")) << message;
  EXPECT_TRUE(contains(message, "[2, 4]")) << message;
  EXPECT_TRUE(contains(message, "[2, 3]")) << message;
  EXPECT_FALSE(contains(message, "missing")) << "a mis-shaped tensor is not missing: " << message;
}

TEST(LoadState, AllProblemsAreReportedTogether) {
  Net net;
  NamedTensors tensors = without(net_tensors(), "scale");
  tensors[0].second = torch::zeros({5});
  tensors.emplace_back("decoder.x", torch::zeros({1}));
  const std::string message = load_error(*net, tensors);
  EXPECT_TRUE(contains(message, "'encoder.dense.weight'")) << message;
  EXPECT_TRUE(contains(message, "'decoder.x'")) << message;
  EXPECT_TRUE(contains(message, "'scale'")) << message;
}

TEST(LoadState, DuplicateFileNamesAreRejected) {
  Net net;
  NamedTensors tensors = net_tensors();
  tensors.push_back(tensors[0]);
  EXPECT_TRUE(contains(load_error(*net, tensors), "tensor 'scale': appears twice"));
}

TEST(LoadState, AliasFillsAMissingTarget) {
  Net net;
  StateLoadOptions options;
  options.aliases["lm_head.weight"] = "encoder.dense.weight";
  NamedTensors tensors = without(net_tensors(), "encoder.dense.weight");
  tensors.emplace_back("lm_head.weight", torch::full({2, 3}, 5.0f));
  const StateLoadReport report = load_state(*net, tensors, "ckpt.safetensors", options);
  EXPECT_EQ(report.aliased, (std::vector<std::string>{"lm_head.weight"}));
  EXPECT_EQ(report.loaded.size(), 4u);
  EXPECT_TRUE(torch::equal(net->encoder->dense->weight, torch::full({2, 3}, 5.0f)));
}

TEST(LoadState, AliasOfAPresentTargetIsOnlyShapeChecked) {
  StateLoadOptions options;
  options.aliases["lm_head.weight"] = "encoder.dense.weight";
  {
    Net net;
    NamedTensors tensors = net_tensors();
    tensors.insert(tensors.begin(), {"lm_head.weight", torch::full({2, 3}, 5.0f)});
    const StateLoadReport report = load_state(*net, tensors, "ckpt.safetensors", options);
    EXPECT_EQ(report.aliased, (std::vector<std::string>{"lm_head.weight"}));
    EXPECT_TRUE(torch::equal(net->encoder->dense->weight, net_tensors()[1].second))
        << "the target's own tensor wins";
  }
  {
    Net net;
    NamedTensors tensors = net_tensors();
    tensors.emplace_back("lm_head.weight", torch::zeros({3, 2}));
    const std::string message = load_error(*net, tensors, options);
    EXPECT_TRUE(contains(message, "tensor 'lm_head.weight'")) << message;
    EXPECT_TRUE(contains(message, "[3, 2]")) << message;
  }
  {
    Net net;
    NamedTensors tensors = without(net_tensors(), "encoder.dense.weight");
    tensors.emplace_back("lm_head.weight", torch::zeros({3, 2}));
    const std::string message = load_error(*net, tensors, options);
    EXPECT_TRUE(contains(message, "tensor 'lm_head.weight'")) << message;
  }
}

TEST(LoadState, AliasOfAnUnknownTargetIsAnError) {
  Net net;
  StateLoadOptions options;
  options.aliases["lm_head.weight"] = "decoder.weight";
  NamedTensors tensors = net_tensors();
  tensors.emplace_back("lm_head.weight", torch::zeros({2, 3}));
  const std::string message = load_error(*net, tensors, options);
  EXPECT_TRUE(contains(message, "tensor 'lm_head.weight'")) << message;
  EXPECT_TRUE(contains(message, "'decoder.weight'")) << message;
}

TEST(LoadState, IgnoredNamesAreSkipped) {
  Net net;
  StateLoadOptions options;
  options.ignore = {"encoder.attention_bias"};
  NamedTensors tensors = net_tensors();
  tensors.emplace_back("encoder.attention_bias", torch::zeros({9}));
  EXPECT_EQ(load_state(*net, tensors, "ckpt.safetensors", options).loaded.size(), 4u);
}

// A Net under "model", as a conditional-generation model holds the bare model.
struct WrapperImpl : torch::nn::Module {
  WrapperImpl() { model = register_module("model", Net()); }
  Net model{nullptr};
};
TORCH_MODULE(Wrapper);

TEST(LoadState, NamePrefixesMatchBareCheckpoints) {
  Wrapper wrapper;
  EXPECT_TRUE(contains(load_error(*wrapper, net_tensors()), "tensor 'scale'"));

  StateLoadOptions options;
  options.name_prefixes = {"other.", "model."};
  const StateLoadReport report = load_state(*wrapper, net_tensors(), "ckpt", options);
  EXPECT_EQ(report.loaded.front(), "model.scale");
  EXPECT_EQ(report.loaded.size(), 4u);
  EXPECT_TRUE(torch::equal(wrapper->model->encoder->dense->bias, net_tensors()[2].second));

  // A name both as is and prefixed fills the same module tensor twice: an error.
  NamedTensors twice = net_tensors();
  twice.emplace_back("model.scale", torch::zeros({2}));
  EXPECT_TRUE(contains(load_error(*wrapper, twice, options), "'model.scale'"));
}

// One tensor registered under two names, as tied embeddings are.
struct TiedImpl : torch::nn::Module {
  TiedImpl() {
    shared = register_parameter("shared", torch::zeros({3, 2}));
    register_parameter("lm_head", shared);
  }
  torch::Tensor shared;
};
TORCH_MODULE(Tied);

TEST(LoadState, TiedModuleTensorsAreFilledTogether) {
  Tied tied;
  ASSERT_EQ(tied->named_parameters().size(), 2u);
  const torch::Tensor values = torch::arange(6, torch::kFloat32).reshape({3, 2});
  const StateLoadReport report = load_state(*tied, {{"shared", values}}, "ckpt");
  EXPECT_EQ(report.loaded, (std::vector<std::string>{"shared"}));
  EXPECT_TRUE(torch::equal(tied->named_parameters()["lm_head"], values));
}

TEST(ModuleState, ListsParametersThenBuffersOnTheCpu) {
  Net net;
  const NamedTensors state = module_state(*net);
  std::vector<std::string> names;
  for (const auto& item : state) {
    names.push_back(item.first);
    EXPECT_TRUE(item.second.device().is_cpu());
    EXPECT_FALSE(item.second.requires_grad());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"scale", "encoder.dense.weight", "encoder.dense.bias",
                                             "encoder.position_ids"}));
}

TEST(ModuleState, RoundTripsThroughASafetensorsFile) {
  const std::string dir =
      std::string(DGR_TEST_TMP_DIR) + "/state-dict-" + std::to_string(::getpid());
  const std::string path = dir + "/net.safetensors";
  torch::manual_seed(7);
  Net original;
  {
    torch::NoGradGuard no_grad;
    original->scale.normal_();
    original->encoder->position_ids.random_(100);
  }
  write_safetensors(path, module_state(*original), {{"format", "pt"}});

  Net copy;
  const StateLoadReport report = load_state(*copy, read_safetensors(path), path);
  EXPECT_EQ(report.loaded.size(), 4u);
  expect_state_equal(module_state(*copy), module_state(*original));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dgr::model
