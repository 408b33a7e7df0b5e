// Byte-level BPE, the tokenizer of GPT-2, RoBERTa and BART: loads `vocab.json` + `merges.txt`
// and produces the same ids as the Hugging Face tokenizer (ByteLevel pre-tokenizer without
// prefix space, GPT-2's split pattern with Unicode letter/number/whitespace classes, bytes mapped
// to printable code points, merges applied by rank). No special tokens are added by `encode`.
// No torch here.
//
// Encoding memoises the ids of each word (pre-token) in a per-instance cache guarded by mutexes:
// one tokenizer may be shared by threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dgr::text {

using TokenId = int32_t;

class BpeTokenizer {
 public:
  BpeTokenizer();
  ~BpeTokenizer();
  BpeTokenizer(BpeTokenizer&&) noexcept;
  BpeTokenizer& operator=(BpeTokenizer&&) noexcept;

  // Loads `dir/vocab.json` and `dir/merges.txt`. DataError naming the file (and line of
  // merges.txt) on malformed input, IoError when a file is missing.
  static BpeTokenizer load(const std::string& dir);
  static BpeTokenizer load(const std::string& vocab_path, const std::string& merges_path);

  // Token ids of `text` (valid UTF-8 expected; invalid bytes are encoded byte by byte).
  std::vector<TokenId> encode(std::string_view text) const;
  // Text of `ids`; bytes that do not form valid UTF-8 become U+FFFD (one per maximal invalid
  // subpart). Special tokens decode to their string (e.g. "</s>"). DataError for an id that is
  // not in the vocabulary.
  std::string decode(const std::vector<TokenId>& ids) const;

  // Id of a vocabulary entry (in its byte-mapped form, e.g. "Ġ@@"), or -1.
  TokenId token_to_id(std::string_view token) const;
  // The vocabulary entry of `id`; "" for an id the vocabulary does not have.
  const std::string& id_to_token(TokenId id) const;
  int32_t vocab_size() const;   // largest id + 1
  int32_t merges_size() const;  // number of merges (ranks 0 .. merges_size() - 1)

  // Special tokens (BART's ids when present: <s>=0, <pad>=1, </s>=2, <unk>=3).
  TokenId bos_id() const;
  TokenId pad_id() const;
  TokenId eos_id() const;
  TokenId unk_id() const;

  // SHA-256 over vocab.json and merges.txt bytes: identifies the vocabulary in manifests.
  const std::string& hash() const;

  // Words kept in the encode cache (0 disables it; the cache is emptied). Not thread-safe with
  // concurrent encode calls.
  static constexpr size_t kDefaultCacheWords = 1 << 17;
  void set_cache_capacity(size_t words);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dgr::text
