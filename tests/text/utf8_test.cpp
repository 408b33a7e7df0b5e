#include "core/text/utf8.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dgr::text {
namespace {

constexpr size_t kValid = std::string_view::npos;

TEST(Utf8Validation, AcceptsAsciiAndEmpty) {
  EXPECT_EQ(first_invalid_utf8(""), kValid);
  EXPECT_EQ(first_invalid_utf8("plain ascii text, long enough for the 8-byte fast path"), kValid);
  EXPECT_TRUE(is_valid_utf8("abc"));
}

TEST(Utf8Validation, AcceptsMultiByteSequencesOfEveryLength) {
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9"));                     // U+00E9, 2 bytes
  EXPECT_TRUE(is_valid_utf8("\xE2\x82\xAC"));                    // U+20AC, 3 bytes
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));                // U+1F600, 4 bytes
  EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));                // U+10FFFF, the largest
  EXPECT_TRUE(is_valid_utf8("\xEF\xBF\xBF"));                    // U+FFFF
  EXPECT_TRUE(is_valid_utf8("\xED\x9F\xBF"));                    // U+D7FF, just below surrogates
  EXPECT_TRUE(is_valid_utf8("\xEE\x80\x80"));                    // U+E000, just above surrogates
  EXPECT_TRUE(is_valid_utf8(std::string("nul \0 inside", 12)));  // U+0000 is a scalar value
}

TEST(Utf8Validation, AcceptsC1ControlMojibakeAsFoundInMsMarco) {
  // "â\u0080\u0099": a right quote decoded as Latin-1 and re-encoded, common in MS MARCO.
  EXPECT_TRUE(is_valid_utf8("it\xC3\xA2\xC2\x80\xC2\x99s"));
  EXPECT_TRUE(is_valid_utf8("\xC2\x80\xC2\x9F"));
}

TEST(Utf8Validation, RejectsOverlongEncodings) {
  EXPECT_EQ(first_invalid_utf8("a\xC0\xAF"), 1u);  // '/' in 2 bytes
  EXPECT_EQ(first_invalid_utf8("\xC1\xBF"), 0u);
  EXPECT_EQ(first_invalid_utf8("ab\xE0\x80\xAF"), 2u);    // '/' in 3 bytes
  EXPECT_EQ(first_invalid_utf8("\xE0\x9F\xBF"), 0u);      // U+07FF in 3 bytes
  EXPECT_EQ(first_invalid_utf8("\xF0\x80\x80\xAF"), 0u);  // '/' in 4 bytes
  EXPECT_EQ(first_invalid_utf8("\xF0\x8F\xBF\xBF"), 0u);  // U+FFFF in 4 bytes
}

TEST(Utf8Validation, RejectsSurrogates) {
  EXPECT_EQ(first_invalid_utf8("x\xED\xA0\x80"), 1u);  // U+D800
  EXPECT_EQ(first_invalid_utf8("\xED\xBF\xBF"), 0u);   // U+DFFF
}

TEST(Utf8Validation, RejectsCodePointsAboveU10FFFF) {
  EXPECT_EQ(first_invalid_utf8("\xF4\x90\x80\x80"), 0u);  // U+110000
  EXPECT_EQ(first_invalid_utf8("\xF5\x80\x80\x80"), 0u);
  EXPECT_EQ(first_invalid_utf8("ok\xFF"), 2u);
  EXPECT_EQ(first_invalid_utf8("\xFE"), 0u);
}

TEST(Utf8Validation, RejectsTruncatedSequences) {
  EXPECT_EQ(first_invalid_utf8("abc\xC3"), 3u);  // at the end of the input
  EXPECT_EQ(first_invalid_utf8("\xE2\x82"), 0u);
  EXPECT_EQ(first_invalid_utf8("\xF0\x9F\x98"), 0u);
  EXPECT_EQ(first_invalid_utf8("\xE2\x82 more text"), 0u);    // followed by ASCII
  EXPECT_EQ(first_invalid_utf8("\xF0\x9F\x98\xC3\xA9"), 0u);  // followed by another lead byte
}

TEST(Utf8Validation, RejectsStrayContinuationBytes) {
  EXPECT_EQ(first_invalid_utf8("\x80"), 0u);
  EXPECT_EQ(first_invalid_utf8("12345678\xBF"), 8u);  // after a fast-path block
}

TEST(Utf8Validation, ReportsTheFirstOfSeveralErrorsAfterValidText) {
  const std::string s = "0123456789abcdef\xC3\xA9\xE2\x82\xAC-\xED\xA0\x80-\xC0\xAF";
  EXPECT_EQ(first_invalid_utf8(s), 22u);
  EXPECT_FALSE(is_valid_utf8(s));
}

TEST(Utf8Decoding, DecodesEveryLengthAndAdvancesPastInvalidBytes) {
  // "aé€😀": 1, 2, 3 and 4 bytes.
  const std::string s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
  std::vector<char32_t> decoded;
  std::vector<size_t> lengths;
  for (size_t i = 0, n = 0; i < s.size(); i += n) {
    decoded.push_back(decode_code_point(s, i, &n));
    lengths.push_back(n);
  }
  EXPECT_EQ(decoded, (std::vector<char32_t>{U'a', 0xE9, 0x20AC, 0x1F600}));
  EXPECT_EQ(lengths, (std::vector<size_t>{1, 2, 3, 4}));
  // Invalid as first_invalid_utf8 judges it: U+FFFD of length 1 each.
  for (const std::string& bad : {std::string("\x80"), std::string("\xC0\xAF"),
                                 std::string("\xED\xA0\x80"), std::string("\xE2\x82")}) {
    size_t n = 0;
    EXPECT_EQ(decode_code_point(bad, 0, &n), kReplacementCharacter) << bad.size();
    EXPECT_EQ(n, 1u);
  }
}
}  // namespace
}  // namespace dgr::text
