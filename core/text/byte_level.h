// The byte-level alphabet of GPT-2 BPE: every byte is written as one printable code point so that
// vocabulary entries are readable strings ("Ġthe" is " the"): the printable Latin-1 bytes
// (! to ~, ¡ to ¬, ® to ÿ) stand for themselves, the other 68 bytes (controls, space, DEL,
// NBSP, soft hyphen) map in byte order to U+0100 and up. Also the lossy UTF-8 repair that turns
// decoded bytes back into text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dgr::text {

// UTF-8 of the code point that stands for byte `b` ("Ġ" for 0x20).
const std::string& byte_symbol(uint8_t b);

// The vocabulary form of raw bytes: each byte replaced by its symbol.
std::string bytes_to_symbols(std::string_view bytes);

// Appends the raw bytes of a vocabulary entry to `bytes` and returns true; returns false (and
// appends nothing) when some code point of `token` is not a byte symbol (e.g. "<s>" is "<s>"
// either way, but "€" is not a symbol). `token` must be valid UTF-8.
bool symbols_to_bytes(std::string_view token, std::string* bytes);

// `bytes` as valid UTF-8: each maximal subpart of an ill-formed sequence becomes U+FFFD, as
// recommended by the Unicode standard (and done by Rust's String::from_utf8_lossy).
std::string utf8_lossy(std::string_view bytes);

}  // namespace dgr::text
