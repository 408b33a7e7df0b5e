#include "core/text/wordpiece_vocab.h"

#include <algorithm>
#include <unordered_set>
#include <utility>

#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::text {
namespace {

// Byte length of the UTF-8 sequence starting with `lead` (the text is already validated).
size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  return 4;
}

std::vector<std::string> special_strings(const WordPieceSpecialTokens& s) {
  return {s.pad, s.unk, s.cls, s.sep, s.mask};
}

// Entries of `counts` by count descending, ties in byte order: the same on every platform.
std::vector<std::pair<std::string, uint64_t>> by_count(
    const std::unordered_map<std::string, uint64_t>& counts) {
  std::vector<std::pair<std::string, uint64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  return sorted;
}

}  // namespace

WordPieceVocabBuilder::WordPieceVocabBuilder(WordPieceVocabOptions options)
    : options_(std::move(options)),
      splitter_(special_strings(options_.tokenizer.special), options_.tokenizer,
                "vocabulary builder") {
  if (options_.vocab_size < special_strings(options_.tokenizer.special).size()) {
    throw ConfigError("WordPiece vocabulary size " + std::to_string(options_.vocab_size) +
                      " cannot hold the 5 special tokens");
  }
}

void WordPieceVocabBuilder::add(std::string_view text, const std::string& source) {
  std::vector<std::string> words;
  try {
    words = splitter_.split_words(text);
  } catch (const DataError& e) {
    throw DataError(source + ": " + e.what());
  }
  for (const std::string& word : words) {
    // Special tokens written in the text are cut out whole by the tokenizer: nothing to learn.
    if (splitter_.token_to_id(word) >= 0) continue;
    // Longer words become [UNK] whatever the vocabulary holds.
    size_t chars = 0;
    for (size_t i = 0; i < word.size(); i += sequence_length(static_cast<unsigned char>(word[i])))
      ++chars;
    if (chars > options_.tokenizer.max_input_chars_per_word) continue;
    ++words_seen_;
    for (size_t i = 0; i < word.size();) {
      const size_t n = sequence_length(static_cast<unsigned char>(word[i]));
      ++characters_[word.substr(i, n)];
      i += n;
    }
    if (chars > 1) ++words_[word];
  }
}

std::vector<std::string> WordPieceVocabBuilder::build(WordPieceVocabStats* stats) const {
  std::vector<std::string> vocab = special_strings(options_.tokenizer.special);
  std::unordered_set<std::string> present(vocab.begin(), vocab.end());
  WordPieceVocabStats s;
  s.words_seen = words_seen_;
  s.distinct_words = words_.size();
  s.characters = characters_.size();

  // Characters first: they guarantee that every word has a cover. A character and its "##" form
  // go in together, so a character is usable at any position of a word or not at all.
  for (const auto& [character, count] : by_count(characters_)) {
    (void)count;
    if (vocab.size() + 2 > options_.vocab_size) {
      ++s.characters_dropped;
      continue;
    }
    for (const std::string& token : {character, "##" + character}) {
      if (present.insert(token).second) vocab.push_back(token);
    }
  }
  for (const auto& [word, count] : by_count(words_)) {
    if (vocab.size() >= options_.vocab_size || count < options_.min_frequency) break;
    if (present.insert(word).second) {
      vocab.push_back(word);
      ++s.whole_words;
    }
  }
  if (stats) *stats = s;
  return vocab;
}

void write_wordpiece_vocab(const std::vector<std::string>& vocab, const std::string& path) {
  std::string content;
  for (size_t i = 0; i < vocab.size(); ++i) {
    if (vocab[i].find_first_of("\r\n") != std::string::npos) {
      throw DataError(path + ": vocabulary token " + std::to_string(i) +
                      " contains a line break and cannot be written to vocab.txt");
    }
    content += vocab[i];
    content += '\n';
  }
  write_file_atomic(path, content);
}

}  // namespace dgr::text
