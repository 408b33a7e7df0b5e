// UTF-8 validation and decoding of raw bytes, as read from corpus, query and run files. Strict RFC
// 3629: overlong encodings, UTF-16 surrogates (U+D800..U+DFFF), code points above U+10FFFF and
// truncated sequences are invalid. Every Unicode scalar value is valid, including C0/C1 control
// characters (MS MARCO passages contain C1 mojibake such as U+0080..U+009F, which must pass).
#pragma once

#include <cstddef>
#include <string_view>

namespace dgr::text {

// Byte offset (0-based) of the first byte of the first invalid sequence in `s`, or
// std::string_view::npos when all of `s` is valid UTF-8. O(|s|).
size_t first_invalid_utf8(std::string_view s);

// Whether all of `s` is valid UTF-8. O(|s|).
inline bool is_valid_utf8(std::string_view s) {
  return first_invalid_utf8(s) == std::string_view::npos;
}

// U+FFFD, what an invalid sequence decodes to.
constexpr char32_t kReplacementCharacter = 0xFFFD;

// The code point starting at byte i < |s| and its length in bytes. A sequence that is not valid
// as first_invalid_utf8 judges it (a stray continuation byte, an overlong form, a surrogate, a
// truncated sequence) decodes as U+FFFD of length 1, so a caller walking s always advances. O(1).
char32_t decode_code_point(std::string_view s, size_t i, size_t* length);

}  // namespace dgr::text
