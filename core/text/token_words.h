// Words of a byte-level BPE token sequence: at which tokens a word begins, and which word it is.
// Stage-1 examples (data/stage1_examples) start body-span identifiers at such tokens, as MINDER
// and SEAL start spans at passage words, so that a span never begins inside a word or at a
// space-less piece of punctuation. No torch here.
//
// A token begins a word when its bytes, after at most one leading space (the `Ġ` of the
// vocabulary entry), start with a letter or a number, and either it has that leading space, or it
// is the first token, or the token before it ends with white space (a word after a newline).
// The word is the run of letters and numbers (Unicode L* and N*, as the GPT-2 pre-tokeniser
// classifies them) from there on, across the following tokens that do not start with white
// space: ` aero` `el` `astic` `.` is the word "aeroelastic". Words are lowercased (ASCII letters
// only; other letters are kept as they are). A content word starts with a letter and is not an
// English stop word (core/text/stop_words.h): numbers, punctuation and stop words are not.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/text/bpe_tokenizer.h"

namespace dgr::text {

struct TokenWord {
  size_t position = 0;   // index of the token the word begins at
  std::string text;      // the word, lowercased
  bool content = false;  // begins with a letter and is not a stop word
};

class TokenWords {
 public:
  // Reads every vocabulary entry's bytes once (O(vocabulary)); keeps no reference to `tokenizer`.
  explicit TokenWords(const BpeTokenizer& tokenizer);

  // The words of `tokens`, in token order. O(|tokens|) (a word is read up to 64 bytes).
  // Ids outside the vocabulary begin no word and end any word.
  std::vector<TokenWord> words(const std::vector<TokenId>& tokens) const;

 private:
  std::vector<std::string> bytes_;  // id -> the bytes it decodes to
};

}  // namespace dgr::text
