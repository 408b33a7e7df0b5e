// Fuzzes loading a byte-level BPE vocabulary (core/text/bpe_tokenizer.h). Input: vocab.json,
// a NUL byte, then merges.txt (no NUL: merges.txt is empty). Property: an accepted tokenizer
// encodes a fixed sample to ids inside its vocabulary, encodes it the same way twice (the second
// time from its word cache) and decodes those ids back to the sample.
#include <string>
#include <string_view>

#include "core/text/bpe_tokenizer.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string vocab_path = dgr::fuzz::write_scratch("vocab.json", input.substr(0, nul));
  const std::string merges_path = dgr::fuzz::write_scratch(
      "merges.txt", nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1));

  dgr::text::BpeTokenizer tokenizer;
  if (!dgr::fuzz::accepts(
          [&] { tokenizer = dgr::text::BpeTokenizer::load(vocab_path, merges_path); })) {
    return 0;
  }
  static const std::string kSample =
      "The quick brown fox, 12 345 d\xC3\xA9j\xC3\xA0 vu -- aaaaaaaa\n\t <s> \xF0\x9F\x98\x80 "
      "anotherverylongwordthatgoesbeyondsixtyfourbytesofsinglewordtextforthelongpathxxxxxx";
  const std::vector<dgr::text::TokenId> ids = tokenizer.encode(kSample);
  for (dgr::text::TokenId id : ids)
    FUZZ_CHECK(id >= 0 && id < tokenizer.vocab_size());
  FUZZ_CHECK(tokenizer.encode(kSample) == ids);
  FUZZ_CHECK(tokenizer.decode(ids) == kSample);
  return 0;
}
