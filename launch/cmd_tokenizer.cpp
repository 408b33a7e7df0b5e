// `dgr tokenizer train|encode`: learn a byte-level BPE vocabulary (vocab.json + merges.txt) from
// a corpus for models trained from scratch, and show how a vocabulary splits a text.
#include <glog/logging.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/text/bpe_tokenizer.h"
#include "core/text/bpe_trainer.h"
#include "core/util/files.h"
#include "core/util/hash.h"
#include "core/util/progress.h"
#include "core/util/timing.h"
#include "data/dataset.h"
#include "distributed/mpi_context.h"
#include "launch/cli_common.h"

namespace dgr::cli {
namespace {

int train_tokenizer(distributed::MpiContext& mpi, const ResolvedConfig& config,
                    const GlobalOptions& global) {
  const config::KeyScope option_keys(config.options);  // components' errors name their keys
  require_keys(config, {{"data.corpus", "--corpus or --dataset"}, {"tokenizer.dir", "--out"}});
  const ExperimentConfig& o = config.options;
  const text::BpeTrainerOptions& options = o.tokenizer;
  options.validate();  // every rank checks the options before any work
  GlobalOptions logging = global;
  if (logging.log_dir.empty() && o.run.log_dir.empty()) {
    logging.log_dir = (std::filesystem::path(o.tokenizer.dir) / "logs").string();
  }
  start_logging(config, mpi, logging);

  // Counting words and learning merges is one sequential pass over a corpus that fits in
  // memory: rank 0 trains, the other ranks wait (an error on rank 0 aborts them via the guard).
  if (mpi.is_root()) {
    const std::string& out = o.tokenizer.dir;
    ensure_directory(out);
    const auto start = std::chrono::steady_clock::now();

    text::BpeTrainer trainer(options);
    int64_t passages = 0;
    {
      Progress progress("count words", 0, true);
      data::for_each_passage(o.data.corpus, o.data.corpus_format, [&](data::Passage&& p, int64_t) {
        trainer.add_text(p.title.empty() ? p.text : p.title + " " + p.text);
        ++passages;
        progress.add();
      });
      progress.finish();
    }
    LOG(INFO) << "corpus " << o.data.corpus << ": " << passages << " passages, "
              << trainer.words_seen() << " words, " << trainer.distinct_words() << " distinct";

    text::BpeVocabulary vocabulary;
    {
      Progress progress("learn merges", options.vocab_size - 261, true);
      int32_t reported = 0;
      vocabulary = trainer.train([&](int32_t merges, int32_t) {
        progress.add(merges - reported);
        reported = merges;
      });
      progress.finish();
    }
    const auto merges = static_cast<int64_t>(vocabulary.merges.size());
    if (static_cast<int32_t>(vocabulary.tokens.size()) < options.vocab_size) {
      LOG(WARNING) << "stopped at " << vocabulary.tokens.size() << " entries (asked for "
                   << options.vocab_size << "): no pair occurs " << options.min_frequency
                   << " times any more";
    }
    vocabulary.write(out);

    // Load what was written: checks the files and gives the hash manifests refer to.
    const text::BpeTokenizer tokenizer = text::BpeTokenizer::load(out);
    nlohmann::ordered_json info;
    info["vocab_size"] = tokenizer.vocab_size();
    info["merges"] = merges;
    info["hash"] = tokenizer.hash();
    info["special_tokens"] = {{"<s>", tokenizer.bos_id()},
                              {"<pad>", tokenizer.pad_id()},
                              {"</s>", tokenizer.eos_id()},
                              {"<unk>", tokenizer.unk_id()},
                              {"<mask>", tokenizer.token_to_id("<mask>")}};
    info["options"] = {{"vocab_size", options.vocab_size},
                       {"min_frequency", options.min_frequency}};
    info["corpus"] = {{"path", o.data.corpus},
                      {"sha256", sha256_file(o.data.corpus)},
                      {"passages", passages},
                      {"words", trainer.words_seen()},
                      {"distinct_words", trainer.distinct_words()}};
    info["config_hash"] = config.hash;
    const std::string info_path = (std::filesystem::path(out) / "tokenizer_info.json").string();
    write_file_atomic(info_path, info.dump(2) + "\n");
    write_resolved_config(config, out);

    LOG(INFO) << "learned " << merges << " merges, " << tokenizer.vocab_size() << " entries in "
              << seconds_since(start) << " s; hash " << tokenizer.hash();
    std::cout << "wrote " << out << "/vocab.json (" << tokenizer.vocab_size() << " entries), "
              << out << "/merges.txt (" << merges << " merges), " << info_path << "\n";
  }
  mpi.barrier();
  return 0;
}

void print_encoding(const text::BpeTokenizer& tokenizer, const std::string& input) {
  const std::vector<text::TokenId> ids = tokenizer.encode(input);
  std::cout << "ids:";
  for (text::TokenId id : ids)
    std::cout << ' ' << id;
  std::cout << "\ntokens:";
  for (text::TokenId id : ids)
    std::cout << ' ' << tokenizer.id_to_token(id);
  std::cout << "\n";
}

int encode_texts(const std::string& dir, const std::vector<std::string>& texts) {
  const text::BpeTokenizer tokenizer = text::BpeTokenizer::load(dir);
  if (!texts.empty()) {
    for (const auto& input : texts)
      print_encoding(tokenizer, input);
    return 0;
  }
  std::string line;
  while (std::getline(std::cin, line))
    print_encoding(tokenizer, line);
  return 0;
}

}  // namespace

void add_tokenizer_command(CLI::App& app, Command& selected, const GlobalOptions& global) {
  CLI::App* tokenizer =
      app.add_subcommand("tokenizer", "Byte-level BPE vocabularies: train, encode");
  tokenizer->require_subcommand(1);

  auto inputs = std::make_shared<ConfigInputs>();
  CLI::App* train = tokenizer->add_subcommand(
      "train",
      "Learn a byte-level BPE vocabulary from a corpus (titles and texts): writes vocab.json, "
      "merges.txt and tokenizer_info.json to --out");
  inputs->attach(
      train, {kCorpusFlag, kDatasetFlag,
              InputFlag{"--out", "tokenizer.dir", "Directory to write (tokenizer.dir)"},
              InputFlag{"--vocab-size", "tokenizer.vocab_size",
                        "Entries of the vocabulary, special tokens and the 256 bytes included "
                        "(tokenizer.vocab_size, default 8000)"},
              InputFlag{"--min-frequency", "tokenizer.min_frequency",
                        "Stop when no pair of symbols occurs this often (tokenizer.min_frequency, "
                        "default 2)"}});
  train->callback([inputs, &selected, &global] {
    selected.needs_mpi = true;
    selected.run = [inputs, &global](distributed::MpiContext* mpi) {
      return train_tokenizer(*mpi, inputs->resolve(), global);
    };
  });

  auto dir = std::make_shared<std::string>();
  auto texts = std::make_shared<std::vector<std::string>>();
  CLI::App* encode = tokenizer->add_subcommand(
      "encode", "Print the ids and tokens of each TEXT (or of each line of stdin)");
  encode->add_option("--tokenizer", *dir, "Directory with vocab.json and merges.txt")->required();
  encode->add_option("text", *texts, "Texts to encode (default: lines of stdin)");
  encode->callback([dir, texts, &selected] {
    selected.needs_mpi = false;
    selected.run = [dir, texts](distributed::MpiContext*) { return encode_texts(*dir, *texts); };
  });
}

}  // namespace dgr::cli
