#include "core/text/wordpiece.h"

#include <utf8proc.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/text/utf8.h"
#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::text {
namespace {

using Json = nlohmann::json;

// The continuation prefix of word pieces after the first.
constexpr std::string_view kContinuation = "##";

// HF writes model_max_length = 1e30 for "no limit"; anything this large is no limit either.
constexpr double kNoLengthLimit = 1e9;

utf8proc_propval_t category(char32_t c) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}

// Tab, LF and CR count as white space, not as control characters.
bool is_whitespace(char32_t c) {
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return true;
  if (c < 0x80) return false;
  const auto cat = category(c);
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

// Cc, Cf, Co and Cs (unassigned code points, Cn, are kept, as the `tokenizers` library does).
bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  if (c < 0x20 || c == 0x7F) return true;
  if (c < 0x80) return false;
  const auto cat = category(c);
  return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
         cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS;
}

// BERT's punctuation: every non-alphanumeric printable ASCII character (some of which, like
// "$" and "^", are symbols in Unicode), and Unicode P*.
bool is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126)) {
    return true;
  }
  if (c < 0x80) return false;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

// The CJK Unified Ideographs blocks (and the compatibility ones) that BERT treats as words of
// their own. Hangul, kana and CJK punctuation are not among them.
bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

void append_utf8(std::string& out, char32_t c) {
  utf8proc_uint8_t bytes[4];
  const auto length = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), bytes);
  out.append(reinterpret_cast<const char*>(bytes), static_cast<size_t>(length));
}

// `text` must be valid UTF-8 (checked by the caller).
std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    utf8proc_int32_t c = 0;
    const auto length =
        utf8proc_iterate(bytes + i, static_cast<utf8proc_ssize_t>(text.size() - i), &c);
    // Valid input never fails here; a defensive stop keeps a bad byte from looping forever.
    if (length <= 0) throw DataError("text is not valid UTF-8 at byte " + std::to_string(i));
    out.push_back(static_cast<char32_t>(c));
    i += static_cast<size_t>(length);
  }
  return out;
}

bool all_ascii(const std::u32string& text) {
  return std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x80; });
}

// NFD (canonical decomposition and ordering), then the non-spacing marks dropped.
std::u32string strip_accents(const std::u32string& text) {
  std::string utf8;
  utf8.reserve(text.size() * 2);
  for (char32_t c : text)
    append_utf8(utf8, c);
  std::vector<utf8proc_int32_t> buffer(text.size() * 2 + 4);
  for (;;) {
    const utf8proc_ssize_t n =
        utf8proc_decompose(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()),
                           static_cast<utf8proc_ssize_t>(utf8.size()), buffer.data(),
                           static_cast<utf8proc_ssize_t>(buffer.size()),
                           static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
    if (n < 0) {
      throw DataError(std::string("cannot decompose text to NFD: ") + utf8proc_errmsg(n));
    }
    if (static_cast<size_t>(n) <= buffer.size()) {
      buffer.resize(static_cast<size_t>(n));
      break;
    }
    buffer.resize(static_cast<size_t>(n));  // too small: the call said how much it needs
  }
  std::u32string out;
  out.reserve(buffer.size());
  for (utf8proc_int32_t c : buffer) {
    if (utf8proc_category(c) != UTF8PROC_CATEGORY_MN) out.push_back(static_cast<char32_t>(c));
  }
  return out;
}

// Full lowercase mapping: the simple mapping, except U+0130 (capital I with dot above), whose
// lowercase is two code points.
std::u32string to_lower(const std::u32string& text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80) {
      out.push_back(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    } else if (c == 0x130) {
      out.push_back('i');
      out.push_back(0x307);
    } else {
      out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
    }
  }
  return out;
}

void check_utf8(std::string_view text) {
  const size_t bad = first_invalid_utf8(text);
  if (bad != std::string_view::npos) {
    throw DataError("text is not valid UTF-8 (byte " + std::to_string(bad) + " of " +
                    std::to_string(text.size()) + ")");
  }
}

// ---- tokenizer_config.json ------------------------------------------------------------------

ConfigError key_error(const std::string& path, const std::string& key, const std::string& what) {
  return ConfigError(path + ": key \"" + key + "\": " + what);
}

void read_bool(const Json& root, const std::string& path, const char* key, bool& out) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return;
  if (!it->is_boolean()) {
    throw key_error(path, key, std::string("expected true or false, got ") + it->dump());
  }
  out = it->get<bool>();
}

// A special token: "[UNK]" or {"content": "[UNK]", ...} (HF's serialised AddedToken).
void read_token(const Json& root, const std::string& path, const char* key, std::string& out) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return;
  const Json* value = &*it;
  if (value->is_object()) {
    auto content = value->find("content");
    if (content == value->end()) {
      throw key_error(path, key, "an object without \"content\": " + value->dump());
    }
    value = &*content;
  }
  if (!value->is_string() || value->get<std::string>().empty()) {
    throw key_error(path, key, "expected a non-empty token string, got " + it->dump());
  }
  out = value->get<std::string>();
}

}  // namespace

BertTokenizerConfig read_bert_tokenizer_config(const std::string& path,
                                               const WordPieceOptions& defaults) {
  const std::string text = read_file(path);
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::exception& e) {
    throw ConfigError(path + ": not valid JSON: " + e.what());
  }
  if (!root.is_object()) throw ConfigError(path + ": expected a JSON object");

  BertTokenizerConfig config;
  WordPieceOptions& o = config.options;
  o = defaults;
  read_bool(root, path, "do_lower_case", o.lowercase);
  if (auto it = root.find("strip_accents"); it != root.end()) {
    if (it->is_null()) {
      o.strip_accents.reset();
    } else if (it->is_boolean()) {
      o.strip_accents = it->get<bool>();
    } else {
      throw key_error(path, "strip_accents", "expected true, false or null, got " + it->dump());
    }
  }
  read_bool(root, path, "tokenize_chinese_chars", o.split_cjk);
  read_token(root, path, "pad_token", o.special.pad);
  read_token(root, path, "unk_token", o.special.unk);
  read_token(root, path, "cls_token", o.special.cls);
  read_token(root, path, "sep_token", o.special.sep);
  read_token(root, path, "mask_token", o.special.mask);
  if (auto it = root.find("model_max_length"); it != root.end() && !it->is_null()) {
    if (!it->is_number()) {
      throw key_error(path, "model_max_length", "expected a number, got " + it->dump());
    }
    const double value = it->get<double>();
    if (!(value >= 1.0)) {
      throw key_error(path, "model_max_length", "must be positive, got " + it->dump());
    }
    if (value < kNoLengthLimit) config.model_max_length = static_cast<int64_t>(value);
  }
  return config;
}

std::pair<size_t, size_t> longest_first_lengths(size_t first, size_t second, size_t budget) {
  if (first + second <= budget) return {first, second};
  // With n1 the shorter: keep it whole when the longer alone can absorb the cut, else split the
  // budget in halves, the odd token to the longer one.
  const bool swap = first > second;
  size_t n1 = swap ? second : first;
  size_t n2 = swap ? first : second;
  n2 = n1 > budget ? n1 : std::max(n1, budget - n1);
  if (n1 + n2 > budget) {
    n1 = budget / 2;
    n2 = n1 + budget % 2;
  }
  if (swap) std::swap(n1, n2);
  return {std::min(first, n1), std::min(second, n2)};
}

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options,
                                       std::string source)
    : options_(std::move(options)), source_(std::move(source)), tokens_(std::move(vocab)) {
  if (tokens_.empty()) throw DataError(source_ + ": empty vocabulary");
  if (tokens_.size() > static_cast<size_t>(std::numeric_limits<TokenId>::max())) {
    throw DataError(source_ + ": " + std::to_string(tokens_.size()) +
                    " tokens exceed the id range");
  }
  ids_.reserve(tokens_.size());
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (!is_valid_utf8(tokens_[i])) {
      throw DataError(located(source_, static_cast<int64_t>(i + 1), "token is not valid UTF-8"));
    }
    ids_[tokens_[i]] = static_cast<TokenId>(i);  // a repeated token keeps its last id
  }

  const WordPieceSpecialTokens& s = options_.special;
  std::vector<std::string> missing;
  auto special = [&](const char* role, const std::string& token, TokenId& id) {
    if (token.empty()) throw ConfigError(source_ + ": the " + role + " token is empty");
    id = token_to_id(token);
    if (id < 0) missing.push_back(token);
  };
  special("padding", s.pad, pad_id_);
  special("unknown", s.unk, unk_id_);
  special("classifier", s.cls, cls_id_);
  special("separator", s.sep, sep_id_);
  special("mask", s.mask, mask_id_);
  if (!missing.empty()) {
    std::string list;
    for (const auto& token : missing)
      list += (list.empty() ? "" : ", ") + token;
    throw DataError(source_ + ": special token(s) missing from the vocabulary: " + list);
  }
  for (const auto& [token, id] :
       {std::pair{s.pad, pad_id_}, std::pair{s.unk, unk_id_}, std::pair{s.cls, cls_id_},
        std::pair{s.sep, sep_id_}, std::pair{s.mask, mask_id_}}) {
    const bool known =
        std::any_of(specials_.begin(), specials_.end(),
                    [&wanted = token](const auto& entry) { return entry.first == wanted; });
    if (!known) specials_.emplace_back(token, id);
  }
  // Longest first: where two special tokens start at one position, the longer one is cut out.
  std::stable_sort(specials_.begin(), specials_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

WordPieceTokenizer WordPieceTokenizer::load(const std::string& vocab_path,
                                            WordPieceOptions options) {
  const std::string text = read_file(vocab_path);
  std::vector<std::string> tokens;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find_first_of("\r\n", start);
    if (end == std::string::npos) {
      tokens.push_back(text.substr(start));
      break;
    }
    tokens.push_back(text.substr(start, end - start));
    start = end + (text[end] == '\r' && end + 1 < text.size() && text[end + 1] == '\n' ? 2 : 1);
  }
  return WordPieceTokenizer(std::move(tokens), std::move(options), vocab_path);
}

TokenId WordPieceTokenizer::token_to_id(std::string_view token) const {
  auto it = ids_.find(std::string(token));
  return it == ids_.end() ? -1 : it->second;
}

const std::string& WordPieceTokenizer::id_to_token(TokenId id) const {
  static const std::string kNone;
  if (id < 0 || static_cast<size_t>(id) >= tokens_.size()) return kNone;
  return tokens_[static_cast<size_t>(id)];
}

template <class WordFn>
void WordPieceTokenizer::for_each_word(std::string_view text, WordFn&& word) const {
  check_utf8(text);

  // Steps 2-5 on the text between two special tokens.
  auto words_of = [&](std::string_view segment) {
    if (segment.empty()) return;
    std::u32string chars;
    chars.reserve(segment.size());
    for (char32_t c : decode_utf8(segment)) {
      if (c == 0 || c == 0xFFFD || is_control(c)) continue;
      if (is_whitespace(c)) {
        chars.push_back(' ');
      } else if (options_.split_cjk && is_cjk(c)) {
        chars.push_back(' ');
        chars.push_back(c);
        chars.push_back(' ');
      } else {
        chars.push_back(c);
      }
    }
    if (options_.strips_accents() && !all_ascii(chars)) chars = strip_accents(chars);
    if (options_.lowercase) chars = to_lower(chars);

    std::string current;
    auto flush = [&] {
      if (!current.empty()) word(current, TokenId{-1});
      current.clear();
    };
    for (char32_t c : chars) {
      if (c == ' ') {
        flush();
      } else if (is_punctuation(c)) {
        flush();
        append_utf8(current, c);
        flush();
      } else {
        append_utf8(current, c);
      }
    }
    flush();
  };

  // Step 1: cut the special tokens out of the raw text.
  size_t segment_start = 0;
  size_t i = 0;
  while (i < text.size()) {
    const std::pair<std::string, TokenId>* match = nullptr;
    for (const auto& entry : specials_) {
      if (text[i] == entry.first[0] && text.compare(i, entry.first.size(), entry.first) == 0) {
        match = &entry;
        break;
      }
    }
    if (match == nullptr) {
      ++i;
      continue;
    }
    words_of(text.substr(segment_start, i - segment_start));
    word(match->first, match->second);
    i += match->first.size();
    segment_start = i;
  }
  words_of(text.substr(segment_start));
}

void WordPieceTokenizer::append_pieces(const std::string& word, std::vector<TokenId>* ids) const {
  // Byte offset of each code point, plus the end.
  std::vector<size_t> starts;
  starts.reserve(word.size() + 1);
  for (size_t b = 0; b < word.size(); ++b) {
    if ((static_cast<unsigned char>(word[b]) & 0xC0) != 0x80) starts.push_back(b);
  }
  const size_t chars = starts.size();
  starts.push_back(word.size());
  if (chars > options_.max_input_chars_per_word) {
    ids->push_back(unk_id_);
    return;
  }
  const size_t mark = ids->size();
  std::string candidate;
  size_t start = 0;
  while (start < chars) {
    size_t end = chars;
    TokenId found = -1;
    for (; end > start; --end) {
      candidate.clear();
      if (start > 0) candidate.append(kContinuation);
      candidate.append(word, starts[start], starts[end] - starts[start]);
      auto it = ids_.find(candidate);
      if (it != ids_.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {  // no piece covers the rest: the whole word is unknown
      ids->resize(mark);
      ids->push_back(unk_id_);
      return;
    }
    ids->push_back(found);
    start = end;
  }
}

std::vector<std::string> WordPieceTokenizer::split_words(std::string_view text) const {
  std::vector<std::string> words;
  for_each_word(text, [&](const std::string& w, TokenId) { words.push_back(w); });
  return words;
}

std::vector<TokenId> WordPieceTokenizer::encode(std::string_view text) const {
  std::vector<TokenId> ids;
  ids.reserve(text.size() / 3 + 1);
  for_each_word(text, [&](const std::string& w, TokenId special) {
    if (special >= 0) {
      ids.push_back(special);
    } else {
      append_pieces(w, &ids);
    }
  });
  return ids;
}

std::vector<std::string> WordPieceTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> pieces;
  for (TokenId id : encode(text))
    pieces.push_back(id_to_token(id));
  return pieces;
}

PairEncoding WordPieceTokenizer::build_pair(const std::vector<TokenId>& first,
                                            const std::vector<TokenId>& second,
                                            size_t max_length) const {
  if (max_length < 3) {
    throw ConfigError("max_length " + std::to_string(max_length) +
                      " leaves no room for a pair: [CLS] and two [SEP] need 3 tokens");
  }
  const auto [n1, n2] = longest_first_lengths(first.size(), second.size(), max_length - 3);
  PairEncoding out;
  out.input_ids.reserve(n1 + n2 + 3);
  out.input_ids.push_back(cls_id_);
  out.input_ids.insert(out.input_ids.end(), first.begin(),
                       first.begin() + static_cast<std::ptrdiff_t>(n1));
  out.input_ids.push_back(sep_id_);
  out.token_type_ids.assign(out.input_ids.size(), 0);
  out.input_ids.insert(out.input_ids.end(), second.begin(),
                       second.begin() + static_cast<std::ptrdiff_t>(n2));
  out.input_ids.push_back(sep_id_);
  out.token_type_ids.resize(out.input_ids.size(), 1);
  return out;
}

PairEncoding WordPieceTokenizer::encode_pair(std::string_view first, std::string_view second,
                                             size_t max_length) const {
  return build_pair(encode(first), encode(second), max_length);
}

}  // namespace dgr::text
