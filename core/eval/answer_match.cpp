#include "core/eval/answer_match.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "core/util/error.h"

namespace dgr::eval {
namespace {

bool is_ascii_word_char(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Code points >= 0x80 that separate tokens like whitespace and punctuation do.
bool is_separator(uint32_t cp) {
  if (cp >= 0x80 && cp <= 0xBF) {
    // C1 controls, no-break space and Latin-1 punctuation/symbols, except the letters and
    // numbers of that range (ª ² ³ µ ¹ º ¼ ½ ¾).
    switch (cp) {
      case 0xAA:
      case 0xB2:
      case 0xB3:
      case 0xB5:
      case 0xB9:
      case 0xBA:
      case 0xBC:
      case 0xBD:
      case 0xBE:
        return false;
      default:
        return true;
    }
  }
  if (cp == 0xD7 || cp == 0xF7) return true;      // × ÷
  if (cp >= 0x2000 && cp <= 0x206F) return true;  // spaces, dashes, quotes, ellipsis
  if (cp >= 0x2E00 && cp <= 0x2E7F) return true;  // supplemental punctuation
  if (cp >= 0x3000 && cp <= 0x303F) return true;  // CJK spaces and punctuation
  if (cp == 0xFEFF) return true;                  // byte order mark
  if (cp >= 0xFF01 && cp <= 0xFF0F) return true;  // full-width ! " # ... /
  if (cp >= 0xFF1A && cp <= 0xFF20) return true;  // full-width : ; < = > ? @
  if (cp >= 0xFF3B && cp <= 0xFF40) return true;  // full-width [ \ ] ^ _ `
  if (cp >= 0xFF5B && cp <= 0xFF65) return true;  // full-width { | } ~ and CJK marks
  return false;
}

// Decodes the UTF-8 sequence starting at text[i]; returns its length, or 0 when it is not a
// valid sequence (the caller then keeps the byte as is).
size_t decode_utf8(std::string_view text, size_t i, uint32_t* cp) {
  const auto lead = static_cast<unsigned char>(text[i]);
  size_t len = 0;
  uint32_t value = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
    value = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    value = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    value = lead & 0x07;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (size_t j = 1; j < len; ++j) {
    const auto c = static_cast<unsigned char>(text[i + j]);
    if ((c & 0xC0) != 0x80) return 0;
    value = (value << 6) | (c & 0x3F);
  }
  // Overlong forms and surrogates are not valid UTF-8.
  if ((len == 3 && (value < 0x800 || (value >= 0xD800 && value <= 0xDFFF))) ||
      (len == 4 && (value < 0x10000 || value > 0x10FFFF))) {
    return 0;
  }
  *cp = value;
  return len;
}

// Whether `needle` occurs as a contiguous run of `haystack`.
bool contains_sequence(const std::vector<std::string>& haystack,
                       const std::vector<std::string>& needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

}  // namespace

std::vector<std::string> AnswerMatcher::tokenize(std::string_view text) {
  std::vector<std::string> tokens;
  std::string token;
  auto flush = [&] {
    if (!token.empty()) tokens.push_back(std::move(token));
    token.clear();
  };
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (is_ascii_word_char(c)) {
        token += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
      } else {
        flush();
      }
      ++i;
      continue;
    }
    uint32_t cp = 0;
    const size_t len = decode_utf8(text, i, &cp);
    if (len == 0) {  // not UTF-8: keep the byte
      token += static_cast<char>(c);
      ++i;
      continue;
    }
    if (is_separator(cp)) {
      flush();
    } else if (cp >= 0xC0 && cp <= 0xDE) {  // Latin-1 capital letters (× was handled above)
      const uint32_t lower = cp + 0x20;
      token += static_cast<char>(0xC0 | (lower >> 6));
      token += static_cast<char>(0x80 | (lower & 0x3F));
    } else {
      token.append(text.substr(i, len));
    }
    i += len;
  }
  flush();
  return tokens;
}

AnswerMatcher::AnswerMatcher(const std::map<std::string, std::vector<std::string>>& answers,
                             PassageText passage_text)
    : passage_text_(std::move(passage_text)) {
  for (const auto& [query_id, strings] : answers) {
    std::vector<std::vector<std::string>> tokenized;
    for (const std::string& answer : strings) {
      std::vector<std::string> tokens = tokenize(answer);
      if (!tokens.empty()) tokenized.push_back(std::move(tokens));
    }
    if (!tokenized.empty()) answers_.emplace(query_id, std::move(tokenized));
  }
}

bool AnswerMatcher::has_answers(const std::string& query_id) const {
  return answers_.count(query_id) != 0;
}

std::vector<std::string> AnswerMatcher::queries() const {
  std::vector<std::string> ids;
  ids.reserve(answers_.size());
  for (const auto& [query_id, tokenized] : answers_)
    ids.push_back(query_id);
  return ids;
}

bool AnswerMatcher::has_answer(const std::string& query_id, const std::string& passage_id) const {
  auto it = answers_.find(query_id);
  if (it == answers_.end()) return false;
  const std::string* text = passage_text_ ? passage_text_(passage_id) : nullptr;
  if (text == nullptr) {
    throw DataError("answer match: passage '" + passage_id + "' retrieved for query '" + query_id +
                    "' is not in the corpus");
  }
  const std::vector<std::string> passage_tokens = tokenize(*text);
  for (const auto& answer : it->second) {
    if (contains_sequence(passage_tokens, answer)) return true;
  }
  return false;
}

}  // namespace dgr::eval
