#include "core/text/pretokenizer.h"

#include <utf8proc.h>

#include <array>
#include <cstdint>

namespace dgr::text {
namespace {

// One character of the input: its class and its length in bytes.
struct Char {
  CharClass cls;
  uint32_t length;
};

constexpr std::array<CharClass, 128> make_ascii_classes() {
  std::array<CharClass, 128> classes{};
  for (int c = 0; c < 128; ++c) {
    CharClass cls = CharClass::kOther;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      cls = CharClass::kLetter;
    } else if (c >= '0' && c <= '9') {
      cls = CharClass::kNumber;
    } else if (c == ' ' || (c >= 0x09 && c <= 0x0D)) {
      cls = CharClass::kSpace;  // U+001C..U+001F are not White_Space
    }
    classes[c] = cls;
  }
  return classes;
}

constexpr std::array<CharClass, 128> kAsciiClasses = make_ascii_classes();

bool is_continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// Decodes the multi-byte sequence at s[i] (s[i] >= 0x80). Returns its length and sets `cp`, or
// returns 0 when the sequence is not well-formed UTF-8 (Unicode table 3-7).
uint32_t decode_multibyte(std::string_view s, size_t i, char32_t* cp) {
  const auto lead = static_cast<unsigned char>(s[i]);
  uint32_t length = 0;
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xBF;
  char32_t value = 0;
  if (lead < 0xC2) {
    return 0;
  } else if (lead < 0xE0) {
    length = 2;
    value = lead & 0x1F;
  } else if (lead < 0xF0) {
    length = 3;
    value = lead & 0x0F;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead < 0xF5) {
    length = 4;
    value = lead & 0x07;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return 0;
  }
  if (s.size() - i < length) return 0;
  const auto second = static_cast<unsigned char>(s[i + 1]);
  if (second < second_min || second > second_max) return 0;
  value = (value << 6) | (second & 0x3F);
  for (uint32_t k = 2; k < length; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if (!is_continuation(c)) return 0;
    value = (value << 6) | (c & 0x3F);
  }
  *cp = value;
  return length;
}

inline Char char_at(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) return {kAsciiClasses[b], 1};
  char32_t cp = 0;
  const uint32_t length = decode_multibyte(s, i, &cp);
  if (length == 0) return {CharClass::kOther, 1};  // a stray byte: a symbol of its own
  return {classify_code_point(cp), length};
}

// Length of the contraction ('s 't 're 've 'm 'll 'd) at s[i] == '\'', or 0.
inline size_t contraction_length(std::string_view s, size_t i) {
  if (i + 1 >= s.size()) return 0;
  switch (s[i + 1]) {
    case 's':
    case 't':
    case 'm':
    case 'd':
      return 2;
    case 'r':
    case 'v':
      return i + 2 < s.size() && s[i + 2] == 'e' ? 3 : 0;
    case 'l':
      return i + 2 < s.size() && s[i + 2] == 'l' ? 3 : 0;
    default:
      return 0;
  }
}

}  // namespace

CharClass classify_code_point(char32_t code_point) {
  if (code_point < 0x80) return kAsciiClasses[code_point];
  // White_Space is exactly Zs, Zl, Zp plus U+0009..U+000D and U+0085 (NEL).
  if (code_point == 0x85) return CharClass::kSpace;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(code_point))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return CharClass::kLetter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return CharClass::kNumber;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
      return CharClass::kSpace;
    default:
      return CharClass::kOther;
  }
}

void split_gpt2(std::string_view text, std::vector<std::string_view>* pieces) {
  const size_t n = text.size();
  size_t pos = 0;
  while (pos < n) {
    const size_t start = pos;
    if (text[pos] == '\'') {
      if (const size_t length = contraction_length(text, pos); length > 0) {
        pieces->push_back(text.substr(start, length));
        pos += length;
        continue;
      }
    }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional U+0020 then a run of one class.
    Char c = char_at(text, pos);
    size_t run = pos;
    if (text[pos] == ' ' && pos + 1 < n) {
      const Char next = char_at(text, pos + 1);
      if (next.cls != CharClass::kSpace) {
        c = next;
        run = pos + 1;
      }
    }
    if (c.cls != CharClass::kSpace) {
      size_t end = run + c.length;
      while (end < n) {
        const Char d = char_at(text, end);
        if (d.cls != c.cls) break;
        end += d.length;
      }
      pieces->push_back(text.substr(start, end - start));
      pos = end;
      continue;
    }
    // `\s+(?!\S)` then `\s+`: a whitespace run followed by a non-space leaves its last character
    // to the next piece, unless the run is a single character.
    size_t end = pos + c.length;
    uint32_t last_length = c.length;
    bool several = false;
    while (end < n) {
      const Char d = char_at(text, end);
      if (d.cls != CharClass::kSpace) break;
      end += d.length;
      last_length = d.length;
      several = true;
    }
    if (end < n && several) end -= last_length;
    pieces->push_back(text.substr(start, end - start));
    pos = end;
  }
}

}  // namespace dgr::text
