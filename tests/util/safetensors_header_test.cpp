// The torch-free safetensors header parser: what it accepts, and that every malformed header is
// a DataError naming the file and the tensor or key at fault (the file readers on top of it are
// tested in tests/model/safetensors_test.cpp).
#include "core/util/safetensors_header.h"

#include <gtest/gtest.h>

#include <string>

#include "core/util/error.h"

namespace dgr {
namespace {

// A whole file: the 8-byte little-endian length, the JSON header, then `data_bytes` zero bytes.
std::string file_of(const std::string& json, size_t data_bytes) {
  std::string file;
  uint64_t length = json.size();
  for (int i = 0; i < 8; ++i) {
    file += static_cast<char>(length & 0xff);
    length >>= 8;
  }
  return file + json + std::string(data_bytes, '\0');
}

// Parses `file` as read_safetensors_header does.
SafetensorsHeader parse(const std::string& file) {
  const uint64_t length = decode_safetensors_header_length("m.safetensors", file, file.size());
  return parse_safetensors_header("m.safetensors", std::string_view(file).substr(8, length),
                                  file.size());
}

std::string error_of(const std::string& file) {
  try {
    parse(file);
  } catch (const DataError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no DataError";
  return "";
}

TEST(SafetensorsHeaderTest, ParsesEntriesInDataOrderWithMetadata) {
  const std::string json =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},)"
      R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  const SafetensorsHeader header = parse(file_of(json, 22));
  EXPECT_EQ(header.metadata.at("format"), "pt");
  ASSERT_EQ(header.entries.size(), 2u);
  EXPECT_EQ(header.entries[0].name, "a");
  EXPECT_EQ(header.entries[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(header.entries[1].name, "b");
  EXPECT_EQ(header.entries[1].dtype, "BF16");
  EXPECT_EQ(header.entries[1].begin, 16u);
  EXPECT_EQ(header.data_start, 8 + json.size());
  // 2 x 2 F32 values and 3 BF16 values, whatever their element sizes.
  EXPECT_EQ(safetensors_value_count(header), 7u);
}

TEST(SafetensorsHeaderTest, KnowsTheElementSizeOfEveryDtype) {
  EXPECT_EQ(safetensors_dtype_bytes("F64"), 8u);
  EXPECT_EQ(safetensors_dtype_bytes("BF16"), 2u);
  EXPECT_EQ(safetensors_dtype_bytes("BOOL"), 1u);
  EXPECT_EQ(safetensors_dtype_bytes("F8_E4M3"), 0u);
}

TEST(SafetensorsHeaderTest, RejectsFilesTooShortForTheirLength) {
  EXPECT_NE(error_of("\x05\x00").find("shorter than the 8-byte header length"), std::string::npos);
  std::string file = file_of("{}", 0);
  file[0] = 100;
  const std::string message = error_of(file);
  EXPECT_NE(message.find("m.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("header length 100 exceeds the file size of 10 bytes"), std::string::npos)
      << message;
}

TEST(SafetensorsHeaderTest, NamesTheTensorAtFault) {
  const std::string overflow =
      R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}})";
  EXPECT_NE(error_of(file_of(overflow, 0)).find("tensor 'w': shape"), std::string::npos);
  const std::string outside = R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})";
  EXPECT_NE(error_of(file_of(outside, 3)).find("lie outside the data section of 3 bytes"),
            std::string::npos);
  const std::string overlap = R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                              R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})";
  EXPECT_NE(error_of(file_of(overlap, 6)).find("tensor 'b': data_offsets [2, 6] overlap"),
            std::string::npos);
  const std::string twice = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                            R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
  EXPECT_NE(error_of(file_of(twice, 2)).find("tensor 'a': appears twice"), std::string::npos);
  const std::string dtype = R"({"w":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})";
  EXPECT_NE(error_of(file_of(dtype, 1)).find("unknown dtype 'F8'"), std::string::npos);
}

// The element count is multiplied in shape order and refused once it passes 2^64, as the
// reference reader does: a zero first keeps the count at zero, a zero after two dimensions of 2^32
// comes too late. (The second file is a fuzzing finding the reader once accepted as empty.)
TEST(SafetensorsHeaderTest, CountsElementsInShapeOrder) {
  const std::string zero_first =
      R"({"e":{"dtype":"F32","shape":[0,4294967296,4294967535],"data_offsets":[0,0]}})";
  const SafetensorsHeader header = parse(file_of(zero_first, 0));
  ASSERT_EQ(header.entries.size(), 1u);
  EXPECT_EQ(safetensors_value_count(header), 0u);
  const std::string zero_last =
      R"({"a":{"dtype":"F32","shape":[4294967296,4294967535,0],"data_offsets":[0,0]}})";
  const std::string message = error_of(file_of(zero_last, 0));
  EXPECT_NE(message.find("tensor 'a': shape [4294967296, 4294967535, 0] of dtype F32 needs more "
                         "than 2^64 bytes"),
            std::string::npos)
      << message;
}

TEST(SafetensorsHeaderTest, RejectsMalformedJsonAndMetadata) {
  EXPECT_NE(error_of(file_of("{\"a\":", 0)).find("malformed JSON header"), std::string::npos);
  EXPECT_NE(error_of(file_of("[]", 0)).find("not an object"), std::string::npos);
  EXPECT_NE(error_of(file_of(R"({"__metadata__":{"k":1}})", 0)).find("key 'k' holds 1"),
            std::string::npos);
}

}  // namespace
}  // namespace dgr
