#include "core/text/byte_level.h"

#include <array>
#include <cstring>

namespace dgr::text {
namespace {

constexpr char32_t kFirstShifted = 0x100;
constexpr size_t kSymbolRange = 0x100 + 68;  // code points that can be byte symbols

bool stands_for_itself(uint32_t b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

void append_utf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

struct ByteAlphabet {
  std::array<std::string, 256> symbol;          // byte -> UTF-8 of its code point
  std::array<int16_t, kSymbolRange> byte_of{};  // code point -> byte, or -1

  ByteAlphabet() {
    byte_of.fill(-1);
    char32_t next = kFirstShifted;
    for (uint32_t b = 0; b < 256; ++b) {
      const char32_t cp = stands_for_itself(b) ? b : next++;
      append_utf8(cp, &symbol[b]);
      byte_of[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteAlphabet& alphabet() {
  static const ByteAlphabet instance;
  return instance;
}

// Length of the maximal prefix of s[i..] that is a well-formed sequence or a prefix of one
// (at least 1), and whether it is complete. Unicode table 3-7 gives the second-byte ranges.
size_t maximal_subpart(std::string_view s, size_t i, bool* complete) {
  const auto lead = static_cast<unsigned char>(s[i]);
  *complete = false;
  size_t length = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (lead < 0x80) {
    *complete = true;
    return 1;
  } else if (lead < 0xC2) {
    return 1;
  } else if (lead < 0xE0) {
    length = 2;
  } else if (lead < 0xF0) {
    length = 3;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead < 0xF5) {
    length = 4;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  size_t k = 1;
  for (; k < length && i + k < s.size(); ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    const bool ok = k == 1 ? (c >= lo && c <= hi) : (c & 0xC0) == 0x80;
    if (!ok) break;
  }
  *complete = k == length;
  return k;
}

}  // namespace

const std::string& byte_symbol(uint8_t b) {
  return alphabet().symbol[b];
}

std::string bytes_to_symbols(std::string_view bytes) {
  const ByteAlphabet& a = alphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes)
    out += a.symbol[static_cast<unsigned char>(c)];
  return out;
}

bool symbols_to_bytes(std::string_view token, std::string* bytes) {
  const ByteAlphabet& a = alphabet();
  const size_t mark = bytes->size();
  size_t i = 0;
  while (i < token.size()) {
    const auto lead = static_cast<unsigned char>(token[i]);
    char32_t cp = 0;
    size_t length = 1;
    if (lead < 0x80) {
      cp = lead;
    } else if ((lead & 0xE0) == 0xC0 && i + 1 < token.size()) {
      cp = ((lead & 0x1F) << 6) | (static_cast<unsigned char>(token[i + 1]) & 0x3F);
      length = 2;
    } else {
      cp = static_cast<char32_t>(kSymbolRange);  // 3 or 4 bytes: never a byte symbol
    }
    if (cp >= kSymbolRange || a.byte_of[cp] < 0) {
      bytes->resize(mark);
      return false;
    }
    bytes->push_back(static_cast<char>(a.byte_of[cp]));
    i += length;
  }
  return true;
}

std::string utf8_lossy(std::string_view bytes) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    bool complete = false;
    const size_t length = maximal_subpart(bytes, i, &complete);
    if (complete) {
      out.append(bytes.data() + i, length);
    } else {
      out.append(kReplacement, 3);
    }
    i += length;
  }
  return out;
}

}  // namespace dgr::text
