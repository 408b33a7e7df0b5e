#include "teacher/analyzer.h"

#include <libstemmer.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <new>
#include <utility>

#include "core/text/stop_words.h"
#include "core/util/error.h"

namespace dgr::teacher {
namespace {

// Word-break classes of UAX #29 that the segmentation distinguishes, plus the characters that
// StandardTokenizer emits one by one (Han, Hiragana) or in runs (South-East Asian scripts).
enum class Wb : unsigned char {
  kOther,
  kLetter,        // ALetter and Hebrew_Letter
  kNumeric,       // Nd
  kKatakana,      // joins only Katakana (and `_`)
  kHiragana,      // one word per character
  kIdeographic,   // one word per character
  kComplex,       // SA scripts: one word per run
  kExtendNumLet,  // `_` and the other connector punctuation
  kMidLetter,     // joins letters: `:` `·` ...
  kMidNum,        // joins digits: `,` `;` ...
  kMidNumLet,     // joins both: `.` U+2019 ...
  kSingleQuote,   // `'`: joins both
  kExtend,        // marks, format characters, ZWJ: part of the character before them
  kEmoji,         // Extended_Pictographic: one word per character or ZWJ sequence
  kRegional,      // regional indicators: one word per pair (a flag)
};

bool in(char32_t c, char32_t lo, char32_t hi) {
  return c >= lo && c <= hi;
}

bool is_katakana(char32_t c) {
  return in(c, 0x3031, 0x3035) || c == 0x309B || c == 0x309C || in(c, 0x30A0, 0x30FA) ||
         in(c, 0x30FC, 0x30FF) || in(c, 0x31F0, 0x31FF) || in(c, 0x32D0, 0x32FE) ||
         in(c, 0x3300, 0x3357) || in(c, 0xFF66, 0xFF9D) || c == 0x1B000;
}

bool is_hiragana(char32_t c) {
  return in(c, 0x3041, 0x3096) || in(c, 0x309D, 0x309F) || in(c, 0x1B001, 0x1B11F);
}

bool is_ideographic(char32_t c) {
  return in(c, 0x2E80, 0x2FDF) || c == 0x3005 || c == 0x3007 || in(c, 0x3021, 0x3029) ||
         in(c, 0x3038, 0x303B) || in(c, 0x3400, 0x4DBF) || in(c, 0x4E00, 0x9FFF) ||
         in(c, 0xF900, 0xFAFF) || in(c, 0x20000, 0x3FFFD);
}

// Thai, Lao, Myanmar, Khmer, Tai Le, New Tai Lue, Tai Tham, Tai Viet: scripts written without
// spaces (Line_Break = Complex_Context).
bool is_complex_context_script(char32_t c) {
  return in(c, 0x0E00, 0x0EFF) || in(c, 0x1000, 0x109F) || in(c, 0x1780, 0x17FF) ||
         in(c, 0x1950, 0x19DF) || in(c, 0x1A20, 0x1AAF) || in(c, 0xA9E0, 0xA9FF) ||
         in(c, 0xAA60, 0xAADF);
}

Wb classify_non_ascii(char32_t c) {
  switch (c) {
    case 0x00B7:
    case 0x0387:
    case 0x055F:
    case 0x05F4:
    case 0x2027:
    case 0xFE13:
    case 0xFE55:
    case 0xFF1A:
      return Wb::kMidLetter;
    case 0x037E:
    case 0x0589:
    case 0x060C:
    case 0x060D:
    case 0x066C:
    case 0x07F8:
    case 0x2044:
    case 0xFE10:
    case 0xFE14:
    case 0xFE50:
    case 0xFE54:
    case 0xFF0C:
    case 0xFF1B:
      return Wb::kMidNum;
    case 0x2018:
    case 0x2019:
    case 0x2024:
    case 0xFE52:
    case 0xFF07:
    case 0xFF0E:
      return Wb::kMidNumLet;
    case 0x202F:
      return Wb::kExtendNumLet;
    case 0x200B:  // ZERO WIDTH SPACE separates words
      return Wb::kOther;
    case 0x200C:
    case 0x200D:
      return Wb::kExtend;
    default:
      break;
  }
  const utf8proc_property_t* property = utf8proc_get_property(static_cast<utf8proc_int32_t>(c));
  if (property->boundclass == UTF8PROC_BOUNDCLASS_REGIONAL_INDICATOR) return Wb::kRegional;
  // Pictographs such as U+00A9 (c) and U+00AE (R) are words of their own for StandardTokenizer
  // (the reserved, unassigned part of the property is left out).
  if (property->boundclass == UTF8PROC_BOUNDCLASS_EXTENDED_PICTOGRAPHIC &&
      property->category != UTF8PROC_CATEGORY_CN) {
    return Wb::kEmoji;
  }
  switch (property->boundclass) {
    case UTF8PROC_BOUNDCLASS_EXTEND:  // marks, emoji modifiers, variation selectors
    case UTF8PROC_BOUNDCLASS_SPACINGMARK:
    case UTF8PROC_BOUNDCLASS_ZWJ:
      return is_complex_context_script(c) ? Wb::kComplex : Wb::kExtend;
    default:
      break;
  }
  if (is_katakana(c)) return Wb::kKatakana;
  if (is_hiragana(c)) return Wb::kHiragana;
  if (is_ideographic(c)) return Wb::kIdeographic;
  const utf8proc_category_t category = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  switch (category) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL:
      return is_complex_context_script(c) ? Wb::kComplex : Wb::kLetter;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
      return is_complex_context_script(c) ? Wb::kComplex : Wb::kExtend;
    case UTF8PROC_CATEGORY_CF:
      return Wb::kExtend;
    case UTF8PROC_CATEGORY_ND:
      return Wb::kNumeric;
    case UTF8PROC_CATEGORY_PC:
      return Wb::kExtendNumLet;
    default:
      return Wb::kOther;
  }
}

constexpr std::array<Wb, 128> make_ascii_classes() {
  std::array<Wb, 128> classes{};
  for (int c = 0; c < 128; ++c) {
    Wb cls = Wb::kOther;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      cls = Wb::kLetter;
    } else if (c >= '0' && c <= '9') {
      cls = Wb::kNumeric;
    } else if (c == '_') {
      cls = Wb::kExtendNumLet;
    } else if (c == '\'') {
      cls = Wb::kSingleQuote;
    } else if (c == '.') {
      cls = Wb::kMidNumLet;
    } else if (c == ':') {
      cls = Wb::kMidLetter;
    } else if (c == ',' || c == ';') {
      cls = Wb::kMidNum;
    }
    classes[c] = cls;
  }
  return classes;
}

constexpr std::array<Wb, 128> kAsciiClasses = make_ascii_classes();

// A character with the marks and format characters that follow it (UAX #29 rule WB4).
struct Unit {
  Wb cls;
  uint32_t begin;      // byte offset
  uint32_t end;        // byte offset past the last attached mark
  uint32_t utf16;      // length in UTF-16 code units (Lucene measures tokens in Java chars)
  bool ends_with_zwj;  // the last attached character is ZERO WIDTH JOINER (emoji sequences)
};

// Decodes `text` into units. An invalid byte is a unit of class kOther.
void decode_units(std::string_view text, std::vector<Unit>* units) {
  units->clear();
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    Wb cls = Wb::kOther;
    size_t length = 1;
    uint32_t utf16 = 1;
    bool zwj = false;
    if (bytes[i] < 0x80) {
      cls = kAsciiClasses[bytes[i]];
    } else {
      utf8proc_int32_t cp = -1;
      const utf8proc_ssize_t read =
          utf8proc_iterate(bytes + i, static_cast<utf8proc_ssize_t>(n - i), &cp);
      if (read > 0 && cp >= 0) {
        length = static_cast<size_t>(read);
        cls = classify_non_ascii(static_cast<char32_t>(cp));
        utf16 = cp > 0xFFFF ? 2 : 1;
        zwj = cp == 0x200D;
      }
    }
    const auto begin = static_cast<uint32_t>(i);
    const auto end = static_cast<uint32_t>(i + length);
    if (cls == Wb::kExtend && !units->empty() && units->back().end == begin) {
      units->back().end = end;
      units->back().utf16 += utf16;
      units->back().ends_with_zwj = zwj;
    } else {
      units->push_back({cls == Wb::kExtend ? Wb::kOther : cls, begin, end, utf16, zwj});
    }
    i += length;
  }
}

// WB5, WB8, WB9, WB10, WB13, WB13a, WB13b: `next` continues a word whose last unit is `last`.
bool joins(Wb last, Wb next) {
  switch (last) {
    case Wb::kLetter:
    case Wb::kNumeric:
      return next == Wb::kLetter || next == Wb::kNumeric || next == Wb::kExtendNumLet;
    case Wb::kKatakana:
      return next == Wb::kKatakana || next == Wb::kExtendNumLet;
    case Wb::kExtendNumLet:
      return next == Wb::kLetter || next == Wb::kNumeric || next == Wb::kKatakana ||
             next == Wb::kExtendNumLet;
    default:
      return false;
  }
}

// WB6/WB7 (letter mid letter) and WB11/WB12 (digit mid digit).
bool joins_across(Wb last, Wb mid, Wb after) {
  if (last == Wb::kLetter && after == Wb::kLetter) {
    return mid == Wb::kMidLetter || mid == Wb::kMidNumLet || mid == Wb::kSingleQuote;
  }
  if (last == Wb::kNumeric && after == Wb::kNumeric) {
    return mid == Wb::kMidNum || mid == Wb::kMidNumLet || mid == Wb::kSingleQuote;
  }
  return false;
}

bool starts_word(Wb cls) {
  return cls == Wb::kLetter || cls == Wb::kNumeric || cls == Wb::kKatakana ||
         cls == Wb::kExtendNumLet;
}

constexpr uint32_t kMaxTokenUtf16 = 255;  // StandardAnalyzer.DEFAULT_MAX_TOKEN_LENGTH

// Emits units [first, last) of `text`, cut into pieces of at most kMaxTokenUtf16 UTF-16 units.
void emit(std::string_view text, const std::vector<Unit>& units, size_t first, size_t last,
          std::vector<std::string_view>* tokens) {
  size_t piece = first;
  uint32_t length = 0;
  for (size_t u = first; u < last; ++u) {
    if (length + units[u].utf16 > kMaxTokenUtf16 && u > piece) {
      tokens->push_back(text.substr(units[piece].begin, units[u].begin - units[piece].begin));
      piece = u;
      length = 0;
    }
    length += units[u].utf16;
  }
  tokens->push_back(text.substr(units[piece].begin, units[last - 1].end - units[piece].begin));
}

uint32_t utf16_length(std::string_view word) {
  uint32_t length = 0;
  for (unsigned char c : word) {
    if ((c & 0xC0) != 0x80) ++length;  // a lead byte or an ASCII byte starts a code point
    if (c >= 0xF0) ++length;           // 4-byte sequences are surrogate pairs in UTF-16
  }
  return length;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Porter's measure m of `stem`: the number of vowel-consonant sequences, where y is a vowel
// after a consonant and a consonant at the start or after a vowel.
int porter_measure(std::string_view stem) {
  auto consonant = [&stem](size_t i, auto& self) -> bool {
    switch (stem[i]) {
      case 'a':
      case 'e':
      case 'i':
      case 'o':
      case 'u':
        return false;
      case 'y':
        return i == 0 ? true : !self(i - 1, self);
      default:
        return true;
    }
  };
  int m = 0;
  size_t i = 0;
  const size_t n = stem.size();
  while (i < n && consonant(i, consonant))
    ++i;
  while (i < n) {
    while (i < n && !consonant(i, consonant))
      ++i;
    if (i == n) break;
    while (i < n && consonant(i, consonant))
      ++i;
    ++m;
  }
  return m;
}

// Whether `word` is `base` + "i" after Porter's step 1 (plural, -ed, -ing and y -> i): these
// are the words whose step 2 sees the ending base + "i".
bool step1_gives(std::string_view word, std::string_view base) {
  if (word.size() < base.size() || word.substr(0, base.size()) != base) return false;
  const std::string_view rest = word.substr(base.size());
  for (const char* form : {"i", "y", "is", "ys", "ies", "ied", "iing", "ying", "yed"}) {
    if (rest == form) return true;
  }
  return false;
}

}  // namespace

Stemmer parse_stemmer(const std::string& name) {
  if (name == "porter") return Stemmer::kPorter;
  if (name == "english") return Stemmer::kEnglish;
  if (name == "none") return Stemmer::kNone;
  throw ConfigError("unknown stemmer '" + name + "', expected porter, english or none");
}

const char* stemmer_name(Stemmer stemmer) {
  switch (stemmer) {
    case Stemmer::kPorter:
      return "porter";
    case Stemmer::kEnglish:
      return "english";
    case Stemmer::kNone:
      return "none";
  }
  return "none";
}

void standard_tokens(std::string_view text, std::vector<std::string_view>* tokens) {
  std::vector<Unit> units;
  decode_units(text, &units);
  const size_t n = units.size();
  size_t i = 0;
  while (i < n) {
    const Wb cls = units[i].cls;
    if (cls == Wb::kIdeographic || cls == Wb::kHiragana) {
      emit(text, units, i, i + 1, tokens);
      ++i;
    } else if (cls == Wb::kEmoji) {
      // WB3c: a ZWJ sequence of pictographs is one word.
      size_t j = i + 1;
      while (j < n && units[j - 1].ends_with_zwj && units[j].cls == Wb::kEmoji)
        ++j;
      emit(text, units, i, j, tokens);
      i = j;
    } else if (cls == Wb::kRegional) {
      // WB15/16: regional indicators pair up into flags.
      const size_t j = (i + 1 < n && units[i + 1].cls == Wb::kRegional) ? i + 2 : i + 1;
      emit(text, units, i, j, tokens);
      i = j;
    } else if (cls == Wb::kComplex) {
      size_t j = i + 1;
      while (j < n && units[j].cls == Wb::kComplex)
        ++j;
      emit(text, units, i, j, tokens);
      i = j;
    } else if (starts_word(cls)) {
      bool has_word_character = cls != Wb::kExtendNumLet;
      size_t j = i + 1;
      while (j < n) {
        const Wb last = units[j - 1].cls;
        if (joins(last, units[j].cls)) {
          has_word_character = has_word_character || units[j].cls != Wb::kExtendNumLet;
          ++j;
        } else if (j + 1 < n && joins_across(last, units[j].cls, units[j + 1].cls)) {
          j += 2;
        } else {
          break;
        }
      }
      // A run of `_` alone is not a word.
      if (has_word_character) emit(text, units, i, j, tokens);
      i = j;
    } else {
      ++i;
    }
  }
}

// One list for the analyzer and the stage-1 examples (core/text/stop_words.h).
const std::vector<std::string>& english_stop_words() {
  return text::english_stop_words();
}

bool is_english_stop_word(std::string_view lowercase_word) {
  return text::is_english_stop_word(lowercase_word);
}

std::string lowercase(std::string_view word) {
  std::string out;
  out.reserve(word.size());
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(word.data());
  const size_t n = word.size();
  size_t i = 0;
  while (i < n) {
    if (bytes[i] < 0x80) {
      const char c = word[i];
      out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      ++i;
      continue;
    }
    utf8proc_int32_t cp = -1;
    const utf8proc_ssize_t read =
        utf8proc_iterate(bytes + i, static_cast<utf8proc_ssize_t>(n - i), &cp);
    if (read <= 0 || cp < 0) {
      out += word[i];
      ++i;
      continue;
    }
    utf8proc_uint8_t encoded[4];
    const utf8proc_ssize_t written = utf8proc_encode_char(utf8proc_tolower(cp), encoded);
    out.append(reinterpret_cast<const char*>(encoded), static_cast<size_t>(written));
    i += static_cast<size_t>(read);
  }
  return out;
}

EnglishAnalyzer::EnglishAnalyzer(AnalyzerOptions options) : options_(options) {
  if (options_.stemmer == Stemmer::kNone) return;
  stemmer_ = sb_stemmer_new(options_.stemmer == Stemmer::kPorter ? "porter" : "english", "UTF_8");
  if (stemmer_ == nullptr) throw std::bad_alloc();
}

EnglishAnalyzer::~EnglishAnalyzer() {
  if (stemmer_ != nullptr) sb_stemmer_delete(stemmer_);
}

EnglishAnalyzer::EnglishAnalyzer(EnglishAnalyzer&& other) noexcept
    : options_(other.options_), stemmer_(std::exchange(other.stemmer_, nullptr)) {}

EnglishAnalyzer& EnglishAnalyzer::operator=(EnglishAnalyzer&& other) noexcept {
  if (this != &other) {
    if (stemmer_ != nullptr) sb_stemmer_delete(stemmer_);
    options_ = other.options_;
    stemmer_ = std::exchange(other.stemmer_, nullptr);
  }
  return *this;
}

std::string EnglishAnalyzer::snowball(std::string_view word) {
  const sb_symbol* stemmed = sb_stemmer_stem(
      stemmer_, reinterpret_cast<const sb_symbol*>(word.data()), static_cast<int>(word.size()));
  if (stemmed == nullptr) throw std::bad_alloc();
  return std::string(reinterpret_cast<const char*>(stemmed),
                     static_cast<size_t>(sb_stemmer_length(stemmer_)));
}

std::string EnglishAnalyzer::stem_porter(std::string_view word) {
  // Lucene's PorterStemmer leaves words of one or two chars alone ("is", "as", "us").
  if (utf16_length(word) <= 2) return std::string(word);
  std::string stemmed = snowball(word);
  // Snowball's porter stops at "-logi" and "-bli" (it has only "abli" -> "able") where the
  // reference implementation continues. Such endings survive steps 3 to 5 untouched, so they
  // show up in the result exactly when step 2 saw them; step 2 requires m > 0 before the suffix.
  if (ends_with(stemmed, "logi")) {
    const std::string_view base = std::string_view(stemmed).substr(0, stemmed.size() - 1);
    if (step1_gives(word, base) && porter_measure(base.substr(0, base.size() - 3)) > 0) {
      stemmed.pop_back();  // "-logi" -> "-log": steps 3 to 5 leave "-log" alone
    }
  } else if (ends_with(stemmed, "bli")) {
    const std::string_view base = std::string_view(stemmed).substr(0, stemmed.size() - 1);
    if (step1_gives(word, base) && porter_measure(base.substr(0, base.size() - 2)) > 0) {
      // "-bli" -> "-ble", then steps 3 to 5 as Snowball applies them to a word ending in
      // "-ble" (steps 1 and 2 do nothing to it).
      stemmed = snowball(std::string(base) + "e");
    }
  }
  return stemmed;
}

std::string EnglishAnalyzer::stem(std::string_view lowercase_word) {
  switch (options_.stemmer) {
    case Stemmer::kPorter:
      return stem_porter(lowercase_word);
    case Stemmer::kEnglish:
      return snowball(lowercase_word);
    case Stemmer::kNone:
      break;
  }
  return std::string(lowercase_word);
}

void EnglishAnalyzer::analyze(std::string_view text, std::vector<std::string>* terms) {
  std::vector<std::string_view> tokens;
  standard_tokens(text, &tokens);
  for (std::string_view token : tokens) {
    // English possessive: strip a trailing 's, 's or 's (', U+2019, U+FF07).
    if (ends_with(token, "'s") || ends_with(token, "'S")) {
      token.remove_suffix(2);
    } else if (ends_with(token, "\xE2\x80\x99s") || ends_with(token, "\xE2\x80\x99S") ||
               ends_with(token, "\xEF\xBC\x87s") || ends_with(token, "\xEF\xBC\x87S")) {
      token.remove_suffix(4);
    }
    if (token.empty()) continue;
    std::string word = lowercase(token);
    if (options_.remove_stop_words && is_english_stop_word(word)) continue;
    terms->push_back(stem(word));
  }
}

std::vector<std::string> EnglishAnalyzer::analyze(std::string_view text) {
  std::vector<std::string> terms;
  analyze(text, &terms);
  return terms;
}

}  // namespace dgr::teacher
