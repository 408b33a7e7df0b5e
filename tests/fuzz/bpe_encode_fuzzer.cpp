// Fuzzes byte-level BPE encoding (core/text/bpe_tokenizer.h) of arbitrary bytes with a fixed
// small vocabulary (the 256 byte symbols, BART's special tokens and merges of common English
// pairs, chained so that words merge in several steps). Properties: ids lie in the vocabulary,
// decoding gives back the input (with invalid UTF-8 repaired as utf8_lossy does), and the word
// cache changes nothing.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/text/bpe_tokenizer.h"
#include "core/text/byte_level.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

using dgr::text::BpeTokenizer;

// Merges as pairs of raw byte strings; each result must be mergeable from earlier entries.
const std::vector<std::pair<std::string, std::string>>& merges() {
  static const std::vector<std::pair<std::string, std::string>> kMerges = {
      {"t", "h"},   {"h", "e"},    {"i", "n"},    {"e", "r"},  {"a", "n"},       {" ", "t"},
      {"th", "e"},  {" t", "he"},  {"r", "e"},    {"o", "n"},  {" ", "a"},       {"e", "n"},
      {"a", "t"},   {"o", "r"},    {"e", "s"},    {"in", "g"}, {" ", "s"},       {"a", "a"},
      {"aa", "aa"}, {"aaaa", "a"}, {"1", "2"},    {"12", "3"}, {"\xC3", "\xA9"}, {" ", " "},
      {"  ", "  "}, {"\n", "\n"},  {" the", "r"}, {"an", "d"}, {" a", "n"},      {" an", "d"},
      {"e", "d"},
  };
  return kMerges;
}

// Writes the fixed vocabulary into the scratch directory once and loads it.
const BpeTokenizer& tokenizer(bool cached) {
  static const std::pair<BpeTokenizer, BpeTokenizer> kTokenizers = [] {
    nlohmann::json vocab = nlohmann::json::object();
    int next = 0;
    for (const char* special : {"<s>", "<pad>", "</s>", "<unk>"})
      vocab[special] = next++;
    for (int b = 0; b < 256; ++b)
      vocab[dgr::text::byte_symbol(static_cast<uint8_t>(b))] = next++;
    std::string merges_text = "#version: 0.2\n";
    for (const auto& [left, right] : merges()) {
      const std::string l = dgr::text::bytes_to_symbols(left);
      const std::string r = dgr::text::bytes_to_symbols(right);
      if (!vocab.contains(l + r)) vocab[l + r] = next++;
      merges_text += l + " " + r + "\n";
    }
    const std::string vocab_path = dgr::fuzz::write_scratch("fixed-vocab.json", vocab.dump());
    const std::string merges_path = dgr::fuzz::write_scratch("fixed-merges.txt", merges_text);
    std::pair<BpeTokenizer, BpeTokenizer> loaded{BpeTokenizer::load(vocab_path, merges_path),
                                                 BpeTokenizer::load(vocab_path, merges_path)};
    loaded.second.set_cache_capacity(0);
    return loaded;
  }();
  return cached ? kTokenizers.first : kTokenizers.second;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const BpeTokenizer& cached = tokenizer(true);
  const std::vector<dgr::text::TokenId> ids = cached.encode(text);
  for (dgr::text::TokenId id : ids)
    FUZZ_CHECK(id >= 0 && id < cached.vocab_size());
  FUZZ_CHECK(cached.encode(text) == ids);
  FUZZ_CHECK(tokenizer(false).encode(text) == ids);
  FUZZ_CHECK(cached.decode(ids) == dgr::text::utf8_lossy(text));
  FUZZ_CHECK(ids.size() <= text.size());
  return 0;
}
