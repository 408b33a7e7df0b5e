// Learns a byte-level BPE vocabulary from text, in the file format BpeTokenizer loads
// (`vocab.json` + `merges.txt`), for models trained from scratch on a corpus.
//
// Texts are split with GPT-2's pre-tokenizer (split_gpt2) and the distinct words counted. Every
// word starts as its bytes; the most frequent adjacent pair of symbols (counted over all words,
// weighted by word frequency) is merged into a new symbol, and again, until the vocabulary has
// `vocab_size` entries or no pair occurs `min_frequency` times. Ties go to the pair whose parts,
// compared as (left, right) strings of byte symbols, are smallest. Pair counts and the words
// that hold each pair are kept up to date at every merge, so one merge costs the work on the
// words it changes, not a recount.
//
// Ids follow BART's layout: <s>=0 <pad>=1 </s>=2 <unk>=3, then the 256 bytes in byte order,
// then the merged tokens in the order they were learned, and <mask> last. The result depends
// only on the multiset of words added and the options: same corpus, same bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/util/options.h"

namespace dgr::text {

struct BpeTrainerOptions {
  int32_t vocab_size = 8000;  // every entry: 5 special tokens, 256 bytes, merged tokens
  int64_t min_frequency = 2;  // a pair seen fewer times (weighted) is never merged

  // OptionError naming the option: vocab_size below 261, min_frequency below 1.
  void validate() const;
};

template <class V>
void visit(V& v, BpeTrainerOptions& o) {
  v.field("vocab_size", o.vocab_size,
          "Vocabulary size learned by `dgr tokenizer train` (special tokens and 256 bytes "
          "included).");
  v.field("min_frequency", o.min_frequency,
          "`dgr tokenizer train` stops when no pair of symbols occurs this often.");
}

// A learned vocabulary.
struct BpeVocabulary {
  std::vector<std::string> tokens;  // entry of each id, in byte-symbol form ("Ġthe")
  std::vector<std::pair<std::string, std::string>> merges;  // by rank

  // `vocab.json`: a JSON object token -> id, one entry per line, in id order.
  std::string vocab_json() const;
  // `merges.txt`: "#version: 0.2", then "left right" per line, by rank.
  std::string merges_txt() const;
  // Writes both files into `dir` (created if missing), each atomically.
  void write(const std::string& dir) const;
};

class BpeTrainer {
 public:
  // Special tokens of the learned vocabulary (BART's).
  static constexpr const char* kLeadingSpecialTokens[] = {"<s>", "<pad>", "</s>", "<unk>"};
  static constexpr const char* kMaskToken = "<mask>";

  // ConfigError when the options are invalid.
  explicit BpeTrainer(BpeTrainerOptions options = {});

  // Counts the words of `text`. O(|text|).
  void add_text(std::string_view text);

  int64_t words_seen() const { return words_seen_; }
  size_t distinct_words() const { return word_counts_.size(); }

  // Called every few hundred merges and at the end with (merges so far, most merges possible).
  using Progress = std::function<void(int32_t merges, int32_t max_merges)>;
  // Learns the merges from the words added so far. Does not change the trainer.
  BpeVocabulary train(const Progress& progress = {}) const;

 private:
  BpeTrainerOptions options_;
  std::unordered_map<std::string, int64_t> word_counts_;
  int64_t words_seen_ = 0;
  std::string key_;  // reused buffer for word lookups
};

}  // namespace dgr::text
