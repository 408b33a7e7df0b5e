#include "core/text/bpe_tokenizer.h"

#include <glog/logging.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_map>

#include "core/text/byte_level.h"
#include "core/text/pretokenizer.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/hash.h"

namespace dgr::text {
namespace {

constexpr int32_t kNoRank = INT32_MAX;
// Words longer than this (in bytes) are merged every time instead of being cached: they are rare
// and would fill the cache with single-use entries.
constexpr size_t kMaxCachedWordBytes = 128;
// Words up to this many bytes are merged with arrays on the stack (O(n^2) pair scans, fast for
// short words); longer ones with a priority queue over a linked list (O(n log n)).
constexpr size_t kShortWordBytes = 64;

uint64_t mix64(uint64_t x) {
  x ^= x >> 31;
  x *= 0x7FB5D329728EA185ULL;
  x ^= x >> 27;
  x *= 0x81DADEF4BC2DD44DULL;
  x ^= x >> 33;
  return x;
}

uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 0x243F6A8885A308D3ULL ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t block;
    std::memcpy(&block, s.data() + i, 8);
    h = (h ^ block) * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
  }
  if (i < s.size()) {
    uint64_t block = 0;
    std::memcpy(&block, s.data() + i, s.size() - i);
    h = (h ^ block) * 0x9E3779B97F4A7C15ULL;
  }
  return mix64(h);
}

uint64_t pair_key(TokenId left, TokenId right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

// The merge table: (left id, right id) -> (rank, id of the merged token), open addressing with
// linear probing. Ids are non-negative, so the all-ones key marks an empty slot.
class MergeTable {
 public:
  struct Merge {
    int32_t rank = kNoRank;
    TokenId merged = -1;
  };

  void reserve(size_t merges) {
    size_t capacity = 16;
    while (capacity < merges * 2)
      capacity *= 2;
    keys_.assign(capacity, kEmpty);
    values_.assign(capacity, Merge{});
    mask_ = capacity - 1;
  }

  // False when the pair is already present.
  bool insert(TokenId left, TokenId right, Merge merge) {
    const uint64_t key = pair_key(left, right);
    for (size_t slot = mix64(key) & mask_;; slot = (slot + 1) & mask_) {
      if (keys_[slot] == key) return false;
      if (keys_[slot] == kEmpty) {
        keys_[slot] = key;
        values_[slot] = merge;
        return true;
      }
    }
  }

  Merge find(TokenId left, TokenId right) const {
    const uint64_t key = pair_key(left, right);
    for (size_t slot = mix64(key) & mask_;; slot = (slot + 1) & mask_) {
      if (keys_[slot] == key) return values_[slot];
      if (keys_[slot] == kEmpty) return Merge{};
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  std::vector<uint64_t> keys_{kEmpty};
  std::vector<Merge> values_{Merge{}};
  size_t mask_ = 0;
};

// Memo of word -> ids, split into shards with a mutex each so that threads encoding at once
// rarely wait. A shard stops accepting words when full (the frequent words are in by then).
class WordCache {
 public:
  void set_capacity(size_t words) {
    for (Shard& shard : shards_) {
      std::lock_guard<std::mutex> lock(shard.mutex);
      shard = Shard{};
      shard.capacity = (words + kShards - 1) / kShards;
    }
  }

  // Appends the ids of `word` to `out` when cached.
  bool lookup(std::string_view word, uint64_t hash, std::vector<TokenId>* out) {
    Shard& shard = shards_[hash >> 61];
    std::lock_guard<std::mutex> lock(shard.mutex);
    if (shard.slots.empty()) return false;
    for (size_t slot = hash & shard.mask;; slot = (slot + 1) & shard.mask) {
      const Entry& e = shard.slots[slot];
      if (e.ids_length == 0) return false;
      if (e.hash == hash && e.key_length == word.size() &&
          std::memcmp(shard.keys.data() + e.key_offset, word.data(), word.size()) == 0) {
        const TokenId* ids = shard.ids.data() + e.ids_offset;
        out->insert(out->end(), ids, ids + e.ids_length);
        return true;
      }
    }
  }

  void insert(std::string_view word, uint64_t hash, const TokenId* ids, size_t count) {
    Shard& shard = shards_[hash >> 61];
    std::lock_guard<std::mutex> lock(shard.mutex);
    if (shard.size >= shard.capacity || count == 0) return;
    if (shard.slots.empty()) {
      size_t table = 16;
      while (table < shard.capacity * 2)
        table *= 2;
      shard.slots.assign(table, Entry{});
      shard.mask = table - 1;
    }
    size_t slot = hash & shard.mask;
    for (;; slot = (slot + 1) & shard.mask) {
      const Entry& e = shard.slots[slot];
      if (e.ids_length == 0) break;
      if (e.hash == hash && e.key_length == word.size() &&
          std::memcmp(shard.keys.data() + e.key_offset, word.data(), word.size()) == 0) {
        return;  // another thread was first
      }
    }
    Entry& e = shard.slots[slot];
    e.hash = hash;
    e.key_offset = static_cast<uint32_t>(shard.keys.size());
    e.key_length = static_cast<uint32_t>(word.size());
    e.ids_offset = static_cast<uint32_t>(shard.ids.size());
    e.ids_length = static_cast<uint32_t>(count);
    shard.keys.append(word);
    shard.ids.insert(shard.ids.end(), ids, ids + count);
    ++shard.size;
  }

 private:
  static constexpr size_t kShards = 8;  // indexed by the top 3 bits of the hash
  struct Entry {
    uint64_t hash = 0;
    uint32_t key_offset = 0;
    uint32_t key_length = 0;
    uint32_t ids_offset = 0;
    uint32_t ids_length = 0;  // 0: empty slot (every word has at least one id)
  };
  struct Shard {
    std::mutex mutex;
    size_t capacity = 0;
    size_t size = 0;
    size_t mask = 0;
    std::vector<Entry> slots;
    std::string keys;
    std::vector<TokenId> ids;

    Shard() = default;
    Shard& operator=(Shard&& other) noexcept {  // the mutex stays
      capacity = other.capacity;
      size = other.size;
      mask = other.mask;
      slots = std::move(other.slots);
      keys = std::move(other.keys);
      ids = std::move(other.ids);
      return *this;
    }
  };
  std::array<Shard, kShards> shards_;
};

// 1-based line of byte `offset` in `text`.
int64_t line_of_offset(const std::string& text, size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n');
}

}  // namespace

struct BpeTokenizer::Impl {
  std::vector<std::string> tokens;       // id -> vocabulary entry ("" for unused ids)
  std::vector<std::string> token_bytes;  // id -> the bytes it decodes to
  std::vector<char> used;                // id -> whether the vocabulary has it
  std::unordered_map<std::string, TokenId> ids;
  std::array<TokenId, 256> byte_ids{};
  MergeTable merges;
  int32_t merge_count = 0;
  TokenId bos = -1, pad = -1, eos = -1, unk = -1;
  std::string hash;
  mutable WordCache cache;

  void load_vocab(const std::string& path, const std::string& text);
  void load_merges(const std::string& path, const std::string& text);
  void merge_word(std::string_view word, std::vector<TokenId>* out) const;
  void merge_short_word(std::string_view word, std::vector<TokenId>* out) const;
  void merge_long_word(std::string_view word, std::vector<TokenId>* out) const;
};

void BpeTokenizer::Impl::load_vocab(const std::string& path, const std::string& text) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw DataError(located(path, line_of_offset(text, e.byte == 0 ? 0 : e.byte - 1),
                            std::string("invalid JSON: ") + e.what()));
  } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double
    throw DataError(located(path, 0, std::string("invalid JSON: ") + e.what()));
  }
  if (!json.is_object()) {
    throw DataError(located(path, 0, "expected a JSON object mapping tokens to ids"));
  }
  TokenId largest = -1;
  for (auto it = json.begin(); it != json.end(); ++it) {
    const auto& value = it.value();
    if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
        value.get<int64_t>() >= INT32_MAX) {
      throw DataError(located(path, 0,
                              "token " + nlohmann::json(it.key()).dump() + " has id " +
                                  value.dump() + ", expected an integer >= 0"));
    }
    largest = std::max(largest, static_cast<TokenId>(value.get<int64_t>()));
  }
  if (largest < 0) throw DataError(located(path, 0, "empty vocabulary"));
  if (static_cast<size_t>(largest) >= json.size() * 4 + 1024) {  // tables are indexed by id
    throw DataError(located(path, 0,
                            "largest id " + std::to_string(largest) + " is far beyond the " +
                                std::to_string(json.size()) + " entries"));
  }
  const size_t size = static_cast<size_t>(largest) + 1;
  tokens.assign(size, std::string());
  token_bytes.assign(size, std::string());
  used.assign(size, 0);
  ids.reserve(json.size());
  for (auto it = json.begin(); it != json.end(); ++it) {
    const auto id = static_cast<TokenId>(it.value().get<int64_t>());
    if (used[id]) {
      throw DataError(located(path, 0,
                              "id " + std::to_string(id) + " is given to both " +
                                  nlohmann::json(tokens[id]).dump() + " and " +
                                  nlohmann::json(it.key()).dump()));
    }
    used[id] = 1;
    tokens[id] = it.key();
    ids.emplace(it.key(), id);
    // Entries made of byte symbols decode to those bytes, others (none in GPT-2's vocabulary)
    // to their own UTF-8, as the Hugging Face ByteLevel decoder does.
    if (!symbols_to_bytes(tokens[id], &token_bytes[id])) token_bytes[id] = tokens[id];
  }
  for (int b = 0; b < 256; ++b) {
    auto it = ids.find(byte_symbol(static_cast<uint8_t>(b)));
    if (it == ids.end()) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02X", b);
      throw DataError(located(path, 0,
                              std::string("no entry for byte ") + hex + " (symbol " +
                                  byte_symbol(static_cast<uint8_t>(b)) +
                                  "): a byte-level vocabulary has all 256"));
    }
    byte_ids[b] = it->second;
  }
  auto special = [&](const char* token) {
    auto it = ids.find(token);
    return it == ids.end() ? -1 : it->second;
  };
  bos = special("<s>");
  pad = special("<pad>");
  eos = special("</s>");
  unk = special("<unk>");
}

void BpeTokenizer::Impl::load_merges(const std::string& path, const std::string& text) {
  std::vector<std::pair<TokenId, TokenId>> parts;
  std::vector<TokenId> results;
  std::vector<int64_t> lines;
  size_t start = 0;
  int64_t line = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view content(text.data() + start, end - start);
    start = end + 1;
    ++line;
    if (!content.empty() && content.back() == '\r') content.remove_suffix(1);
    if (content.empty()) continue;
    if (line == 1 && content.substr(0, 8) == "#version") continue;
    const size_t space = content.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == content.size() ||
        content.find(' ', space + 1) != std::string_view::npos) {
      throw DataError(located(
          path, line,
          "expected two tokens separated by one space, got \"" + std::string(content) + "\""));
    }
    const std::string left(content.substr(0, space));
    const std::string right(content.substr(space + 1));
    auto find = [&](const std::string& token, const char* what) {
      auto it = ids.find(token);
      if (it == ids.end()) {
        throw DataError(located(path, line,
                                std::string(what) + " \"" + token + "\" of the merge \"" +
                                    std::string(content) + "\" is not in the vocabulary"));
      }
      return it->second;
    };
    const TokenId l = find(left, "left part");
    const TokenId r = find(right, "right part");
    const TokenId m = find(left + right, "result");
    parts.emplace_back(l, r);
    results.push_back(m);
    lines.push_back(line);
  }
  merges.reserve(parts.size());
  for (size_t rank = 0; rank < parts.size(); ++rank) {
    MergeTable::Merge merge{static_cast<int32_t>(rank), results[rank]};
    if (!merges.insert(parts[rank].first, parts[rank].second, merge)) {
      throw DataError(located(path, lines[rank], "duplicate merge"));
    }
  }
  merge_count = static_cast<int32_t>(parts.size());
}

void BpeTokenizer::Impl::merge_word(std::string_view word, std::vector<TokenId>* out) const {
  if (word.size() <= kShortWordBytes) {
    merge_short_word(word, out);
  } else {
    merge_long_word(word, out);
  }
}

// Repeatedly merges the adjacent pair of lowest rank, leftmost first, as the Hugging Face BPE
// model does. rank[i] / merged[i] describe the pair (symbols[i], symbols[i + 1]).
void BpeTokenizer::Impl::merge_short_word(std::string_view word, std::vector<TokenId>* out) const {
  TokenId symbols[kShortWordBytes];
  int32_t rank[kShortWordBytes];
  TokenId merged[kShortWordBytes];
  size_t n = word.size();
  for (size_t i = 0; i < n; ++i)
    symbols[i] = byte_ids[static_cast<unsigned char>(word[i])];
  auto look_up = [&](size_t i) {
    const MergeTable::Merge m = merges.find(symbols[i], symbols[i + 1]);
    rank[i] = m.rank;
    merged[i] = m.merged;
  };
  for (size_t i = 0; i + 1 < n; ++i)
    look_up(i);
  while (n > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < n; ++i) {
      if (rank[i] < rank[best]) best = i;
    }
    if (rank[best] == kNoRank) break;
    symbols[best] = merged[best];
    const size_t tail = n - best - 2;  // symbols after the merged pair
    std::memmove(symbols + best + 1, symbols + best + 2, tail * sizeof(TokenId));
    if (tail > 0) {
      std::memmove(rank + best + 1, rank + best + 2, (tail - 1) * sizeof(int32_t));
      std::memmove(merged + best + 1, merged + best + 2, (tail - 1) * sizeof(TokenId));
    }
    --n;
    if (best > 0) look_up(best - 1);
    if (best + 1 < n) look_up(best);
  }
  out->insert(out->end(), symbols, symbols + n);
}

void BpeTokenizer::Impl::merge_long_word(std::string_view word, std::vector<TokenId>* out) const {
  const auto n = static_cast<int32_t>(word.size());
  std::vector<TokenId> symbols(n);
  std::vector<int32_t> prev(n), next(n);
  for (int32_t i = 0; i < n; ++i) {
    symbols[i] = byte_ids[static_cast<unsigned char>(word[i])];
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    int32_t rank;
    int32_t pos;
    TokenId left, right, merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push = [&](int32_t pos) {
    const int32_t right = next[pos];
    const MergeTable::Merge m = merges.find(symbols[pos], symbols[right]);
    if (m.rank != kNoRank) queue.push({m.rank, pos, symbols[pos], symbols[right], m.merged});
  };
  for (int32_t i = 0; i + 1 < n; ++i)
    push(i);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    // Stale when either symbol changed since the pair was queued (a merged token is longer than
    // its parts, so a changed position never shows its old id again).
    if (symbols[c.pos] != c.left) continue;
    const int32_t right = next[c.pos];
    if (right < 0 || symbols[right] != c.right) continue;
    symbols[c.pos] = c.merged;
    symbols[right] = -1;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    if (prev[c.pos] >= 0) push(prev[c.pos]);
    if (next[c.pos] >= 0) push(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = next[i])
    out->push_back(symbols[i]);
}

BpeTokenizer::BpeTokenizer() : impl_(std::make_unique<Impl>()) {
  impl_->cache.set_capacity(kDefaultCacheWords);
}
BpeTokenizer::~BpeTokenizer() = default;
BpeTokenizer::BpeTokenizer(BpeTokenizer&&) noexcept = default;
BpeTokenizer& BpeTokenizer::operator=(BpeTokenizer&&) noexcept = default;

BpeTokenizer BpeTokenizer::load(const std::string& dir) {
  return load(dir + "/vocab.json", dir + "/merges.txt");
}

BpeTokenizer BpeTokenizer::load(const std::string& vocab_path, const std::string& merges_path) {
  const std::string vocab_text = read_file(vocab_path);
  const std::string merges_text = read_file(merges_path);
  BpeTokenizer tokenizer;
  Impl& impl = *tokenizer.impl_;
  impl.load_vocab(vocab_path, vocab_text);
  impl.load_merges(merges_path, merges_text);
  Sha256 sha;
  sha.update(vocab_text);
  sha.update(merges_text);
  impl.hash = sha.hex_digest();
  return tokenizer;
}

std::vector<TokenId> BpeTokenizer::encode(std::string_view text) const {
  const Impl& impl = *impl_;
  CHECK(!impl.tokens.empty()) << "BpeTokenizer::encode before load";
  std::vector<std::string_view> pieces;
  pieces.reserve(text.size() / 4 + 1);
  split_gpt2(text, &pieces);
  std::vector<TokenId> ids;
  ids.reserve(pieces.size() + pieces.size() / 4);
  for (std::string_view piece : pieces) {
    if (piece.size() == 1) {
      ids.push_back(impl.byte_ids[static_cast<unsigned char>(piece[0])]);
      continue;
    }
    if (piece.size() > kMaxCachedWordBytes) {
      impl.merge_word(piece, &ids);
      continue;
    }
    const uint64_t hash = hash_bytes(piece);
    if (impl.cache.lookup(piece, hash, &ids)) continue;
    const size_t mark = ids.size();
    impl.merge_word(piece, &ids);
    impl.cache.insert(piece, hash, ids.data() + mark, ids.size() - mark);
  }
  return ids;
}

std::string BpeTokenizer::decode(const std::vector<TokenId>& ids) const {
  const Impl& impl = *impl_;
  std::string bytes;
  for (TokenId id : ids) {
    if (id < 0 || id >= vocab_size() || !impl.used[id]) {
      throw DataError("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                      std::to_string(vocab_size()) + ")");
    }
    bytes += impl.token_bytes[id];
  }
  return utf8_lossy(bytes);
}

TokenId BpeTokenizer::token_to_id(std::string_view token) const {
  auto it = impl_->ids.find(std::string(token));
  return it == impl_->ids.end() ? -1 : it->second;
}

const std::string& BpeTokenizer::id_to_token(TokenId id) const {
  static const std::string kNone;
  if (id < 0 || id >= vocab_size()) return kNone;
  return impl_->tokens[id];
}

int32_t BpeTokenizer::vocab_size() const {
  return static_cast<int32_t>(impl_->tokens.size());
}

int32_t BpeTokenizer::merges_size() const {
  return impl_->merge_count;
}

TokenId BpeTokenizer::bos_id() const {
  return impl_->bos;
}
TokenId BpeTokenizer::pad_id() const {
  return impl_->pad;
}
TokenId BpeTokenizer::eos_id() const {
  return impl_->eos;
}
TokenId BpeTokenizer::unk_id() const {
  return impl_->unk;
}

const std::string& BpeTokenizer::hash() const {
  return impl_->hash;
}

void BpeTokenizer::set_cache_capacity(size_t words) {
  impl_->cache.set_capacity(words);
}

}  // namespace dgr::text
