// WordPiece, the tokenizer of BERT checkpoints (`vocab.txt`, one token per line, id = line
// number): the ids of Hugging Face's BertTokenizerFast (the `tokenizers` BertNormalizer,
// BertPreTokenizer and WordPiece model, which transformers 5 also uses for BertTokenizer), so
// that `cross-encoder/*` checkpoints see the inputs they were trained on. No torch here.
//
// Text is processed in this order:
//   1. the special tokens ([CLS], [SEP], ... by their strings) are cut out of the raw text,
//      case-sensitively, and become their ids;
//   2. cleaning: U+0000, U+FFFD and control / format / private-use characters (C* except
//      tab, LF, CR) are dropped, white space (tab, LF, CR, Zs, Zl, Zp) becomes a space;
//   3. CJK ideographs get spaces on both sides (each one is a word);
//   4. with strip_accents (by default when lowercasing): NFD, then non-spacing marks (Mn)
//      are dropped; with lowercase: full Unicode lowercase mapping;
//   5. words are split at spaces, and every punctuation character (ASCII !-/ :-@ [-` {-~, and
//      Unicode P*) is a word of its own;
//   6. each word becomes the longest vocabulary prefix, then "##"-prefixed longest pieces
//      of the rest; a word with no such cover, or longer than max_input_chars_per_word code
//      points, becomes [UNK] as a whole.
// Where the Python BertTokenizer of transformers 4 differs from the fast one, this follows the
// fast one: no NFC before tokenising, no final-sigma rule when lowercasing, and the pair
// truncation below.
//
// Guarantees: encoding is deterministic and thread-safe (no state changes after loading);
// invalid UTF-8 in the text is a DataError (never a crash); every id is < vocab_size().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dgr::text {

using TokenId = int32_t;

// The strings of BERT's special tokens; each must be in the vocabulary.
struct WordPieceSpecialTokens {
  std::string pad = "[PAD]";
  std::string unk = "[UNK]";
  std::string cls = "[CLS]";
  std::string sep = "[SEP]";
  std::string mask = "[MASK]";
};

// HF's BertTokenizer arguments of the same meaning (defaults are HF's).
struct WordPieceOptions {
  bool lowercase = true;              // do_lower_case
  std::optional<bool> strip_accents;  // unset: strip accents exactly when lowercasing
  bool split_cjk = true;              // tokenize_chinese_chars
  size_t max_input_chars_per_word = 100;
  WordPieceSpecialTokens special;

  bool strips_accents() const { return strip_accents.value_or(lowercase); }
};

// The parts of an HF `tokenizer_config.json` that change BERT tokenisation.
struct BertTokenizerConfig {
  WordPieceOptions options;
  // The tokenizer's length limit, when the file gives a usable one (HF writes 1e30 for "none").
  std::optional<int64_t> model_max_length;
};

// Reads `path`; the keys do_lower_case, strip_accents (true, false or null),
// tokenize_chinese_chars, model_max_length and unk_token / sep_token / pad_token / cls_token /
// mask_token (a string or an object with "content") override `defaults`; other keys are ignored.
// ConfigError naming the file and the key for a value of the wrong type, IoError when the file
// cannot be read.
BertTokenizerConfig read_bert_tokenizer_config(const std::string& path,
                                               const WordPieceOptions& defaults = {});

// `[CLS] first [SEP] second [SEP]` as a BERT pair classifier reads it.
struct PairEncoding {
  std::vector<TokenId> input_ids;
  std::vector<TokenId> token_type_ids;  // 0 through the first [SEP], 1 after it
};

// HF's "longest_first" truncation of a pair of `first` and `second` tokens to `budget` tokens
// in all (special tokens not counted), as the `tokenizers` library computes it: when only the
// longer one must be cut it keeps budget - shorter; when both must be cut they get budget / 2
// each, and an odd budget's extra token goes to the longer one (to the second on a tie).
// Returns the kept lengths {first, second}; nothing is cut when the pair fits.
std::pair<size_t, size_t> longest_first_lengths(size_t first, size_t second, size_t budget);

class WordPieceTokenizer {
 public:
  // `vocab[i]` is the token of id i. A token listed twice keeps its last id, as HF's vocabulary
  // loader does. DataError naming `source` for an empty vocabulary, a token that is not valid
  // UTF-8, or a special token of `options` that the vocabulary lacks.
  WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options = {},
                     std::string source = "vocabulary");

  // Reads `vocab.txt`: one token per line (LF, CRLF or CR line ends), id = 0-based line number;
  // an empty line is the empty token. IoError when it cannot be read, DataError naming the file
  // (and line) otherwise.
  static WordPieceTokenizer load(const std::string& vocab_path, WordPieceOptions options = {});

  // Steps 1-5: the normalised words and punctuation, special tokens kept whole. For tests and
  // diagnostics.
  std::vector<std::string> split_words(std::string_view text) const;
  // Steps 1-6 as token strings ("##" pieces included, [UNK] for uncovered words).
  std::vector<std::string> tokenize(std::string_view text) const;
  // Steps 1-6 as ids, without special tokens around them and without truncation. O(|text| ·
  // longest word) in the worst case, O(|text|) for ordinary text.
  std::vector<TokenId> encode(std::string_view text) const;

  // `[CLS] first [SEP] second [SEP]` with both texts encoded, cut by longest_first_lengths to
  // `max_length` tokens in all. ConfigError when max_length < 3 (no room for the specials).
  PairEncoding encode_pair(std::string_view first, std::string_view second,
                           size_t max_length) const;
  // The same from ids already encoded (e.g. one query against many passages).
  PairEncoding build_pair(const std::vector<TokenId>& first, const std::vector<TokenId>& second,
                          size_t max_length) const;

  // Id of a vocabulary token, or -1.
  TokenId token_to_id(std::string_view token) const;
  // The token of `id`; "" for an id outside the vocabulary.
  const std::string& id_to_token(TokenId id) const;
  // Number of lines (ids) of the vocabulary: every id encode() returns is below it.
  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }

  TokenId pad_id() const { return pad_id_; }
  TokenId unk_id() const { return unk_id_; }
  TokenId cls_id() const { return cls_id_; }
  TokenId sep_id() const { return sep_id_; }
  TokenId mask_id() const { return mask_id_; }
  const WordPieceOptions& options() const { return options_; }
  const std::string& source() const { return source_; }

 private:
  // Calls `word(text, special_id)` for every word of steps 1-5 in order: special_id >= 0 for a
  // special token cut out in step 1, -1 for a normalised word.
  template <class WordFn>
  void for_each_word(std::string_view text, WordFn&& word) const;
  // Step 6 for one normalised word: appends its pieces' ids.
  void append_pieces(const std::string& word, std::vector<TokenId>* ids) const;

  WordPieceOptions options_;
  std::string source_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, TokenId> ids_;
  // Special token strings in the order they are matched in raw text, with their ids.
  std::vector<std::pair<std::string, TokenId>> specials_;
  TokenId pad_id_ = -1, unk_id_ = -1, cls_id_ = -1, sep_id_ = -1, mask_id_ = -1;
};

}  // namespace dgr::text
