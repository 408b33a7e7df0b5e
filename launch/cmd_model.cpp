// `dgr model init|inspect`: create a freshly initialised generative retriever as a checkpoint
// directory in Hugging Face layout (the starting point of training from scratch), and describe a
// checkpoint directory (ours or a facebook/bart-* download) without loading its weights.
#include <glog/logging.h>

#include <iomanip>
#include <iostream>

#include "core/model/retrieval_model.h"
#include "core/text/bpe_tokenizer.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/memory.h"
#include "distributed/mpi_context.h"
#include "launch/cli_common.h"

namespace dgr::cli {
namespace {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int model_init(distributed::MpiContext& mpi, const ResolvedConfig& config,
               const GlobalOptions& global) {
  const config::KeyScope option_keys(config.options);  // components' errors name their keys
  require_keys(config, {{"tokenizer.dir", "--tokenizer"}, {"model.init_from", "--out"}});
  const ExperimentConfig& o = config.options;
  start_logging(config, mpi, global);
  if (mpi.is_root()) {
    const text::BpeTokenizer tokenizer = text::BpeTokenizer::load(o.tokenizer.dir);
    model::BartConfig bart = model::BartConfig::preset(o.model.arch, tokenizer.vocab_size());
    bart.pad_token_id = tokenizer.pad_id();
    bart.bos_token_id = tokenizer.bos_id();
    bart.eos_token_id = tokenizer.eos_id();
    bart.decoder_start_token_id = tokenizer.eos_id();
    model::create_checkpoint(bart, static_cast<uint64_t>(o.run.seed), o.tokenizer.dir,
                             o.model.init_from);
    const model::CheckpointInfo info = model::describe_checkpoint(o.model.init_from);
    std::cout << "wrote " << o.model.init_from << ": " << o.model.arch << ", " << info.stored_values
              << " stored values, vocabulary " << bart.vocab_size << ", seed " << o.run.seed
              << "\n";
  }
  mpi.barrier();
  return 0;
}

int model_inspect(const std::string& dir, bool list_tensors) {
  const model::CheckpointInfo info = model::describe_checkpoint(dir);
  const model::BartConfig& c = info.config;
  std::cout << "checkpoint " << dir << "\n"
            << "  architecture  bart: d_model " << c.d_model << ", layers " << c.encoder_layers
            << "+" << c.decoder_layers << ", heads " << c.encoder_attention_heads << ", ffn "
            << c.encoder_ffn_dim << ", positions " << c.max_position_embeddings << "\n"
            << "  vocabulary    " << c.vocab_size << " (pad " << c.pad_token_id << ", bos "
            << c.bos_token_id << ", eos " << c.eos_token_id << ", decoder start "
            << c.decoder_start_token_id << ")"
            << (info.has_tokenizer ? "; vocab.json + merges.txt present" : "; no tokenizer files")
            << "\n"
            << "  weights       " << info.tensors.size() << " tensors, " << info.stored_values
            << " values, " << format_bytes(info.bytes) << "\n";
  if (list_tensors) {
    for (const auto& t : info.tensors) {
      std::cout << "  " << std::left << std::setw(60) << t.name << " " << std::setw(5) << t.dtype
                << " " << shape_string(t.shape) << "\n";
    }
  }
  return 0;
}

}  // namespace

void add_model_command(CLI::App& app, Command& selected, const GlobalOptions& global) {
  CLI::App* model = app.add_subcommand("model", "Create or describe model checkpoints");
  model->require_subcommand(1);

  auto inputs = std::make_shared<ConfigInputs>();
  CLI::App* init = model->add_subcommand(
      "init",
      "Write a freshly initialised model (model.arch, tokenizer.dir's vocabulary, run.seed) as a "
      "Hugging Face checkpoint directory");
  const InputFlag out_flag{"--out", "model.init_from", "Checkpoint directory to write"};
  inputs->attach(init, {kTokenizerFlag, out_flag});
  init->callback([inputs, &selected, &global] {
    selected.needs_mpi = true;
    selected.run = [inputs, &global](distributed::MpiContext* mpi) {
      return model_init(*mpi, inputs->resolve(), global);
    };
  });

  auto dir = std::make_shared<std::string>();
  auto list = std::make_shared<bool>(false);
  CLI::App* inspect = model->add_subcommand(
      "inspect", "Describe a checkpoint directory: architecture, vocabulary, tensors");
  inspect->add_option("DIR", *dir, "Checkpoint directory (config.json + model.safetensors)")
      ->required();
  inspect->add_flag("--tensors", *list, "List every tensor with its dtype and shape");
  inspect->callback([dir, list, &selected] {
    selected.needs_mpi = false;
    selected.run = [dir, list](distributed::MpiContext*) { return model_inspect(*dir, *list); };
  });
}

}  // namespace dgr::cli
