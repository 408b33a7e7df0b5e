#include "core/text/utf8.h"

#include <cstdint>
#include <cstring>

namespace dgr::text {
namespace {

bool is_continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// Length of the valid sequence starting at s[i], or 0 when it is invalid. The ranges for the
// second byte follow the well-formed byte sequence table of the Unicode standard (table 3-7),
// which rules out overlongs (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code points above
// U+10FFFF (F4 90..BF, F5..FF) without decoding.
size_t valid_sequence_length(std::string_view s, size_t i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  size_t length = 0;
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xBF;
  if (lead < 0x80) {
    return 1;
  } else if (lead < 0xC2) {
    return 0;  // continuation byte as lead, or overlong two-byte form (C0, C1)
  } else if (lead < 0xE0) {
    length = 2;
  } else if (lead < 0xF0) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead < 0xF5) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return 0;
  }
  if (s.size() - i < length) return 0;  // truncated at the end of the input
  const auto second = static_cast<unsigned char>(s[i + 1]);
  if (second < second_min || second > second_max) return 0;
  for (size_t k = 2; k < length; ++k) {
    if (!is_continuation(static_cast<unsigned char>(s[i + k]))) return 0;
  }
  return length;
}

}  // namespace

size_t first_invalid_utf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    // Fast path: corpora are mostly ASCII, so skip eight ASCII bytes at a time.
    if (n - i >= 8) {
      uint64_t block;
      std::memcpy(&block, s.data() + i, sizeof(block));
      if ((block & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const size_t length = valid_sequence_length(s, i);
    if (length == 0) return i;
    i += length;
  }
  return std::string_view::npos;
}

char32_t decode_code_point(std::string_view s, size_t i, size_t* length) {
  const size_t n = valid_sequence_length(s, i);
  if (n == 0) {
    *length = 1;
    return kReplacementCharacter;
  }
  const auto lead = static_cast<unsigned char>(s[i]);
  // The lead byte's payload: 7, 5, 4 or 3 bits for sequences of 1 to 4 bytes.
  char32_t cp = n == 1 ? lead : n == 2 ? (lead & 0x1F) : n == 3 ? (lead & 0x0F) : (lead & 0x07);
  for (size_t k = 1; k < n; ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  *length = n;
  return cp;
}

}  // namespace dgr::text
