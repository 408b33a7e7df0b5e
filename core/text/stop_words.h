// English stop words for choosing where identifier spans start (data/stage1_examples): Lucene's
// English stop-word set (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, 33 words), the same words the
// BM25 analyzer of teacher/ removes, kept here so that torch-free layers below teacher/ (data/)
// can use them. No torch here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dgr::text {

// Lucene's English stop words, lowercase, sorted.
const std::vector<std::string>& english_stop_words();

// Whether `lowercase_word` is one of them. O(log 33).
bool is_english_stop_word(std::string_view lowercase_word);

}  // namespace dgr::text
