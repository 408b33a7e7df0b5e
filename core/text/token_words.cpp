#include "core/text/token_words.h"

#include <algorithm>

#include "core/text/byte_level.h"
#include "core/text/pretokenizer.h"
#include "core/text/stop_words.h"
#include "core/text/utf8.h"

namespace dgr::text {
namespace {

// Longest word read, in bytes: enough for any real word, bounded for runs of digits or letters
// without spaces.
constexpr size_t kMaxWordBytes = 64;

bool is_space_byte(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool is_word_class(CharClass c) {
  return c == CharClass::kLetter || c == CharClass::kNumber;
}

}  // namespace

TokenWords::TokenWords(const BpeTokenizer& tokenizer)
    : bytes_(static_cast<size_t>(std::max(0, tokenizer.vocab_size()))) {
  for (size_t id = 0; id < bytes_.size(); ++id) {
    const std::string& entry = tokenizer.id_to_token(static_cast<TokenId>(id));
    if (!symbols_to_bytes(entry, &bytes_[id])) bytes_[id] = entry;
  }
}

std::vector<TokenWord> TokenWords::words(const std::vector<TokenId>& tokens) const {
  static const std::string kNone;
  auto bytes_of = [&](size_t i) -> const std::string& {
    const TokenId id = tokens[i];
    return id >= 0 && static_cast<size_t>(id) < bytes_.size() ? bytes_[static_cast<size_t>(id)]
                                                              : kNone;
  };
  std::vector<TokenWord> out;
  std::string piece;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& b = bytes_of(i);
    const bool spaced = !b.empty() && b[0] == ' ';
    const size_t skip = spaced ? 1 : 0;
    if (b.size() <= skip) continue;
    const bool after_space =
        spaced || i == 0 || (!bytes_of(i - 1).empty() && is_space_byte(bytes_of(i - 1).back()));
    if (!after_space) continue;
    // The bytes of this token and of the following ones that continue it (no leading white
    // space; a character may be split over tokens), then the run of letters and numbers at
    // their start.
    piece.assign(b, skip, std::string::npos);
    for (size_t j = i + 1; j < tokens.size() && piece.size() < kMaxWordBytes; ++j) {
      const std::string& next = bytes_of(j);
      if (next.empty() || is_space_byte(next[0])) break;
      piece += next;
    }
    // An invalid or truncated sequence decodes as U+FFFD, which is no letter or number: it
    // begins no word and ends one.
    size_t length = 0;
    const CharClass first = classify_code_point(decode_code_point(piece, 0, &length));
    if (!is_word_class(first)) continue;
    TokenWord word;
    word.position = i;
    for (size_t at = 0; at < piece.size() && word.text.size() < kMaxWordBytes;) {
      const char32_t cp = decode_code_point(piece, at, &length);
      if (!is_word_class(classify_code_point(cp))) break;
      for (size_t k = 0; k < length; ++k) {
        const char c = piece[at + k];
        word.text += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      }
      at += length;
    }
    word.content = first == CharClass::kLetter && !is_english_stop_word(word.text);
    out.push_back(std::move(word));
  }
  return out;
}

}  // namespace dgr::text
