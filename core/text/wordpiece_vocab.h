// Building a WordPiece vocabulary (`vocab.txt`) from text, for a BERT cross-encoder trained from
// scratch where no pretrained vocabulary exists. The vocabulary is simple but complete: BERT's
// five special tokens, every character seen (as itself, for a word's first piece, and as "##c",
// for a continuation), then the most frequent whole words. Words are those of BERT's basic
// tokenization (core/text/wordpiece.h steps 1-5: cleaning, lowercasing and accent stripping by
// default, punctuation split off), so the words counted are exactly the words the tokenizer later
// sees.
//
// Guarantees: ids are [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4 (not BERT's 0/100/101/102/103:
// config.json's pad_token_id is 0 and the tokenizer looks the others up by string); the order is
// deterministic (counts descending, ties in byte order); as long as every character seen fits
// (it does unless vocab_size is tiny next to the corpus's alphabet), every word of the counted
// text tokenizes without [UNK], either whole or as characters. No torch here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/text/wordpiece.h"

namespace dgr::text {

struct WordPieceVocabOptions {
  // Lines of vocab.txt in all, specials and characters included.
  size_t vocab_size = 8000;
  // Whole words seen fewer times are not added (characters are always candidates).
  uint64_t min_frequency = 2;
  // The normalisation of the tokenizer that will read the vocabulary (lowercasing, accents).
  WordPieceOptions tokenizer;
};

struct WordPieceVocabStats {
  uint64_t words_seen = 0;        // word occurrences counted
  size_t distinct_words = 0;      // distinct multi-character words
  size_t characters = 0;          // distinct characters seen
  size_t characters_dropped = 0;  // the rarest characters that did not fit (their words: [UNK])
  size_t whole_words = 0;         // whole words in the vocabulary
};

class WordPieceVocabBuilder {
 public:
  // ConfigError when vocab_size cannot hold the special tokens.
  explicit WordPieceVocabBuilder(WordPieceVocabOptions options = {});

  // Counts the words and characters of `text` (one passage, title or query). DataError naming
  // `source` when the text is not valid UTF-8.
  void add(std::string_view text, const std::string& source = "text");

  // The vocabulary, id = position: specials, then characters by count (each followed by its
  // "##" form) while they fit, then whole words of at least two characters by count, up to
  // vocab_size. Can be called more than once.
  std::vector<std::string> build(WordPieceVocabStats* stats = nullptr) const;

 private:
  WordPieceVocabOptions options_;
  WordPieceTokenizer splitter_;  // the specials alone: only split_words() is used
  std::unordered_map<std::string, uint64_t> words_;
  std::unordered_map<std::string, uint64_t> characters_;
  uint64_t words_seen_ = 0;
};

// Writes `vocab` as vocab.txt (one token per line, LF), atomically. DataError for a token that
// contains a line break (it could not be read back as one line).
void write_wordpiece_vocab(const std::vector<std::string>& vocab, const std::string& path);

}  // namespace dgr::text
