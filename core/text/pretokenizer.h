// GPT-2's pre-tokenisation, the split that byte-level BPE applies before merging: the pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// evaluated by hand over code points with the semantics of a backtracking regex (leftmost
// alternative wins, greedy runs), where `\s` is Unicode White_Space, `\p{L}` / `\p{N}` the general
// categories L* / N*, and the contractions are lowercase only. Every character matches some
// alternative, so the pieces cover the text exactly. A byte that does not start a valid UTF-8
// sequence counts as one character of neither class (it joins a run of symbols).
#pragma once

#include <string_view>
#include <vector>

namespace dgr::text {

// The classes the pattern distinguishes.
enum class CharClass : unsigned char { kLetter, kNumber, kSpace, kOther };

// Class of a Unicode scalar value: White_Space, then L*, then N*, else other.
CharClass classify_code_point(char32_t code_point);

// Appends the pieces of `text`, in order, to `pieces` (views into `text`). O(|text|).
void split_gpt2(std::string_view text, std::vector<std::string_view>* pieces);

inline std::vector<std::string_view> split_gpt2(std::string_view text) {
  std::vector<std::string_view> pieces;
  split_gpt2(text, &pieces);
  return pieces;
}

}  // namespace dgr::text
