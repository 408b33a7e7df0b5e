#include "core/text/bpe_trainer.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_set>

#include "core/text/byte_level.h"
#include "core/text/pretokenizer.h"
#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::text {
namespace {

using Symbol = int32_t;
using PairKey = uint64_t;

constexpr int32_t kLeadingSpecials = 4;
constexpr int32_t kMinVocabSize = kLeadingSpecials + 256 + 1;
constexpr int32_t kProgressEvery = 500;

PairKey pair_key(Symbol left, Symbol right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}
Symbol left_of(PairKey key) {
  return static_cast<Symbol>(key >> 32);
}
Symbol right_of(PairKey key) {
  return static_cast<Symbol>(key & 0xFFFFFFFFu);
}

struct Word {
  std::vector<Symbol> symbols;
  int64_t count = 0;
};

struct Candidate {
  int64_t count;
  PairKey pair;
};

// The state of one training run: words as symbol sequences, the weighted count of every adjacent
// pair, and for each pair the words that hold (or held) it.
class MergeLearner {
 public:
  MergeLearner(const std::unordered_map<std::string, int64_t>& word_counts,
               const BpeTrainerOptions& options)
      : options_(options), queue_(Order{&tokens_}) {
    for (const char* special : BpeTrainer::kLeadingSpecialTokens)
      tokens_.emplace_back(special);
    for (int b = 0; b < 256; ++b)
      tokens_.push_back(byte_symbol(static_cast<uint8_t>(b)));
    for (Symbol id = 0; id < static_cast<Symbol>(tokens_.size()); ++id)
      ids_[tokens_[id]] = id;

    // Words in byte order, so that everything below is independent of hash-map order.
    std::vector<const std::pair<const std::string, int64_t>*> sorted;
    sorted.reserve(word_counts.size());
    for (const auto& entry : word_counts)
      sorted.push_back(&entry);
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
    words_.reserve(sorted.size());
    for (const auto* entry : sorted) {
      Word word;
      word.count = entry->second;
      for (char c : entry->first) {
        word.symbols.push_back(kLeadingSpecials + static_cast<unsigned char>(c));
      }
      words_.push_back(std::move(word));
    }

    pair_counts_.reserve(words_.size() * 2);
    for (size_t w = 0; w < words_.size(); ++w) {
      const Word& word = words_[w];
      for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
        const PairKey key = pair_key(word.symbols[i], word.symbols[i + 1]);
        pair_counts_[key] += word.count;
        std::vector<int32_t>& holders = words_with_pair_[key];
        if (holders.empty() || holders.back() != static_cast<int32_t>(w)) {
          holders.push_back(static_cast<int32_t>(w));
        }
      }
    }
    std::vector<PairKey> keys;
    keys.reserve(pair_counts_.size());
    for (const auto& [key, count] : pair_counts_)
      keys.push_back(key);
    std::sort(keys.begin(), keys.end());
    for (PairKey key : keys)
      queue_.push({pair_counts_[key], key});
  }

  BpeVocabulary learn(const BpeTrainer::Progress& progress) {
    BpeVocabulary result;
    const int32_t max_merges = options_.vocab_size - kMinVocabSize;
    while (static_cast<int32_t>(tokens_.size()) + 1 < options_.vocab_size && !queue_.empty()) {
      const Candidate top = queue_.top();
      queue_.pop();
      if (merged_.count(top.pair)) continue;
      // Counts only fall between pushes, so a queued count above the current one is stale:
      // requeue it with the current count; the top with an up-to-date count is the maximum.
      const int64_t current = pair_counts_[top.pair];
      if (current != top.count) {
        if (current > 0) queue_.push({current, top.pair});
        continue;
      }
      if (current < options_.min_frequency) break;
      const Symbol left = left_of(top.pair);
      const Symbol right = right_of(top.pair);
      result.merges.emplace_back(tokens_[left], tokens_[right]);
      merged_.insert(top.pair);
      apply_merge(left, right, symbol_of(tokens_[left] + tokens_[right]));
      if (progress && result.merges.size() % kProgressEvery == 0) {
        progress(static_cast<int32_t>(result.merges.size()), max_merges);
      }
    }
    tokens_.emplace_back(BpeTrainer::kMaskToken);
    result.tokens = std::move(tokens_);
    if (progress) progress(static_cast<int32_t>(result.merges.size()), max_merges);
    return result;
  }

 private:
  // Heap order: higher count first, then the smaller (left, right) pair of strings.
  struct Order {
    const std::vector<std::string>* tokens;
    bool operator()(const Candidate& a, const Candidate& b) const {  // true: a below b
      if (a.count != b.count) return a.count < b.count;
      const std::string& al = (*tokens)[left_of(a.pair)];
      const std::string& bl = (*tokens)[left_of(b.pair)];
      if (al != bl) return al > bl;
      return (*tokens)[right_of(a.pair)] > (*tokens)[right_of(b.pair)];
    }
  };

  // Id of the token `text`; a new id unless an earlier merge already made the same string.
  Symbol symbol_of(const std::string& text) {
    auto [it, inserted] = ids_.try_emplace(text, static_cast<Symbol>(tokens_.size()));
    if (inserted) tokens_.push_back(text);
    return it->second;
  }

  void add_count(PairKey key, int64_t delta) { pair_counts_[key] += delta; }

  // Replaces every (left, right) in the words that hold it by `merged`, left to right, updating
  // the counts of the pairs around each occurrence; queues the new pairs.
  void apply_merge(Symbol left, Symbol right, Symbol merged) {
    const PairKey merged_pair = pair_key(left, right);
    std::vector<int32_t> holders = std::move(words_with_pair_[merged_pair]);
    words_with_pair_.erase(merged_pair);
    std::sort(holders.begin(), holders.end());
    holders.erase(std::unique(holders.begin(), holders.end()), holders.end());
    std::vector<PairKey> grown;  // pairs with the new symbol, whose counts grew
    auto gain = [&](PairKey key, int64_t delta, int32_t w) {
      add_count(key, delta);
      grown.push_back(key);
      std::vector<int32_t>& list = words_with_pair_[key];
      if (list.empty() || list.back() != w) list.push_back(w);
    };
    for (int32_t w : holders) {
      std::vector<Symbol>& s = words_[w].symbols;
      const int64_t count = words_[w].count;
      const size_t n = s.size();
      size_t out = 0;
      for (size_t in = 0; in < n;) {
        if (in + 1 < n && s[in] == left && s[in + 1] == right) {
          if (out > 0) {
            add_count(pair_key(s[out - 1], left), -count);
            gain(pair_key(s[out - 1], merged), count, w);
          }
          if (in + 2 < n) {
            add_count(pair_key(right, s[in + 2]), -count);
            gain(pair_key(merged, s[in + 2]), count, w);
          }
          add_count(merged_pair, -count);
          s[out++] = merged;
          in += 2;
        } else {
          s[out++] = s[in++];
        }
      }
      s.resize(out);
    }
    std::sort(grown.begin(), grown.end());
    grown.erase(std::unique(grown.begin(), grown.end()), grown.end());
    for (PairKey key : grown) {
      const int64_t count = pair_counts_[key];
      if (count > 0) queue_.push({count, key});
    }
  }

  const BpeTrainerOptions& options_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, Symbol> ids_;
  std::vector<Word> words_;
  std::unordered_map<PairKey, int64_t> pair_counts_;
  std::unordered_map<PairKey, std::vector<int32_t>> words_with_pair_;
  std::unordered_set<PairKey> merged_;
  std::priority_queue<Candidate, std::vector<Candidate>, Order> queue_;
};

}  // namespace

void BpeTrainerOptions::validate() const {
  if (vocab_size < kMinVocabSize) {
    throw config::OptionError("{} " + std::to_string(vocab_size) + " is below " +
                                  std::to_string(kMinVocabSize) +
                                  " (5 special tokens and 256 byte tokens come first)",
                              {config::option_key(*this, vocab_size)});
  }
  if (min_frequency < 1) {
    throw config::OptionError("{} " + std::to_string(min_frequency) + " must be at least 1",
                              {config::option_key(*this, min_frequency)});
  }
}

std::string BpeVocabulary::vocab_json() const {
  std::string out = "{\n";
  for (size_t id = 0; id < tokens.size(); ++id) {
    out += "  ";
    out += nlohmann::json(tokens[id]).dump();
    out += ": ";
    out += std::to_string(id);
    out += id + 1 < tokens.size() ? ",\n" : "\n";
  }
  out += "}\n";
  return out;
}

std::string BpeVocabulary::merges_txt() const {
  std::string out = "#version: 0.2\n";
  for (const auto& [left, right] : merges) {
    out += left;
    out += ' ';
    out += right;
    out += '\n';
  }
  return out;
}

void BpeVocabulary::write(const std::string& dir) const {
  ensure_directory(dir);
  write_file_atomic(dir + "/vocab.json", vocab_json());
  write_file_atomic(dir + "/merges.txt", merges_txt());
}

BpeTrainer::BpeTrainer(BpeTrainerOptions options) : options_(options) {
  options_.validate();
}

void BpeTrainer::add_text(std::string_view text) {
  std::vector<std::string_view> pieces;
  split_gpt2(text, &pieces);
  for (std::string_view piece : pieces) {
    key_.assign(piece.data(), piece.size());
    ++word_counts_[key_];
  }
  words_seen_ += static_cast<int64_t>(pieces.size());
}

BpeVocabulary BpeTrainer::train(const Progress& progress) const {
  MergeLearner learner(word_counts_, options_);
  return learner.learn(progress);
}

}  // namespace dgr::text
