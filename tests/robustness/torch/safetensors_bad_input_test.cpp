// The safetensors reader (core/model/safetensors.h) on every kind of damaged file: each is a
// DataError (IoError when the file cannot be opened) naming the file and, where one is at fault,
// the tensor. A header length of 2^63 is refused before anything is allocated.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "core/model/safetensors.h"
#include "tests/robustness/torch/expect_error.h"

namespace dgr::robustness {
namespace {

namespace fs = std::filesystem;
using model::read_safetensors;
using model::read_safetensors_header;

std::string length_bytes(uint64_t length) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return out;
}

class SafetensorsBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(DGR_TEST_TMP_DIR) /
           ("robust-safetensors-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "weights.safetensors").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write_bytes(const std::string& bytes) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes;
  }
  // The length field, `header` and `data`, as a writer would lay them out.
  void write_file(const std::string& header, const std::string& data) {
    write_bytes(length_bytes(header.size()) + header + data);
  }
  // Both entry points must refuse the file alike.
  template <class Expected>
  void expect_refused(std::initializer_list<std::string> needles) {
    expect_error<Expected>([&] { read_safetensors_header(path_); }, needles);
    expect_error<Expected>([&] { read_safetensors(path_); }, needles);
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(SafetensorsBadInput, EmptyFile) {
  write_bytes("");
  expect_refused<DataError>({path_, "0 bytes"});
}

TEST_F(SafetensorsBadInput, ShorterThanTheLengthField) {
  write_bytes(std::string("\x08\x00\x00", 3));
  expect_refused<DataError>({path_, "3 bytes"});
}

TEST_F(SafetensorsBadInput, HeaderLengthPastTheEnd) {
  write_bytes(length_bytes(1000) + "{}");
  expect_refused<DataError>({path_, "header length 1000", "10 bytes"});
}

TEST_F(SafetensorsBadInput, HugeHeaderLengthsAreRefusedWithoutAllocating) {
  for (uint64_t length :
       {uint64_t{1} << 63, std::numeric_limits<uint64_t>::max(), uint64_t{1} << 40}) {
    write_bytes(length_bytes(length) + "{}      ");
    expect_refused<DataError>({path_, "header length " + std::to_string(length)});
  }
}

TEST_F(SafetensorsBadInput, HeaderThatIsNotJson) {
  write_file("{\"a\": {\"dtype\": ", "");
  expect_refused<DataError>({path_, "malformed JSON header"});
  write_file("this is not json", "");
  expect_refused<DataError>({path_, "malformed JSON header"});
  write_file(std::string(16, '\0'), "");
  expect_refused<DataError>({path_, "malformed JSON header"});
}

TEST_F(SafetensorsBadInput, HeaderWithInvalidUtf8) {
  write_file("{\"w\xff\xfe\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 4]}}",
             std::string(4, '\0'));
  expect_refused<DataError>({path_, "malformed JSON header"});
}

TEST_F(SafetensorsBadInput, HeaderThatIsNotAnObject) {
  write_file("[1, 2, 3]", "");
  expect_refused<DataError>({path_, "not an object"});
  write_file("{\"w\": [1, 2]}", "");
  expect_refused<DataError>({path_, "tensor 'w'", "not a JSON object"});
}

TEST_F(SafetensorsBadInput, MissingEntryKeys) {
  write_file(R"({"w": {"dtype": "F32", "shape": [1]}})", std::string(4, '\0'));
  expect_refused<DataError>({path_, "tensor 'w'", "missing key 'data_offsets'"});
  write_file(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", std::string(4, '\0'));
  expect_refused<DataError>({path_, "tensor 'w'", "missing key 'dtype'"});
}

TEST_F(SafetensorsBadInput, ShapeOfTheWrongType) {
  const std::string data(8, '\0');
  write_file(R"({"w": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}})", data);
  expect_refused<DataError>({path_, "tensor 'w'", "'shape' is not an array"});
  write_file(R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", data);
  expect_refused<DataError>({path_, "tensor 'w'", "-2"});
  write_file(R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})", data);
  expect_refused<DataError>({path_, "tensor 'w'", "2.5"});
  write_file(R"({"w": {"dtype": "F32", "shape": [null], "data_offsets": [0, 8]}})", data);
  expect_refused<DataError>({path_, "tensor 'w'", "null"});
}

TEST_F(SafetensorsBadInput, ShapeWhoseElementCountOverflows) {
  write_file(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 16], )"
             R"("data_offsets": [0, 8]}})",
             std::string(8, '\0'));
  expect_refused<DataError>({path_, "tensor 'w'", "more than 2^64"});
}

TEST_F(SafetensorsBadInput, OffsetsNegativeReversedOrNotAPair) {
  const std::string data(8, '\0');
  write_file(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}})", data);
  expect_refused<DataError>({path_, "tensor 'w'", "not a pair of byte offsets"});
  write_file(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", data);
  expect_refused<DataError>({path_, "tensor 'w'", "reversed"});
  write_file(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4, 8]}})", data);
  expect_refused<DataError>({path_, "tensor 'w'", "not a pair of byte offsets"});
  write_file(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": "0-8"}})", data);
  expect_refused<DataError>({path_, "tensor 'w'", "not a pair of byte offsets"});
}

TEST_F(SafetensorsBadInput, UnknownOrMistypedDtype) {
  const std::string data(8, '\0');
  write_file(R"({"w": {"dtype": "F8_E4M3", "shape": [8], "data_offsets": [0, 8]}})", data);
  expect_refused<DataError>({path_, "tensor 'w'", "unknown dtype 'F8_E4M3'"});
  write_file(R"({"w": {"dtype": 32, "shape": [2], "data_offsets": [0, 8]}})", data);
  expect_refused<DataError>({path_, "tensor 'w'", "'dtype' is not a string"});
}

TEST_F(SafetensorsBadInput, OverlappingTensors) {
  write_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, )"
             R"("b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
             std::string(12, '\0'));
  expect_refused<DataError>({path_, "tensor 'b'", "overlap those of 'a'"});
}

TEST_F(SafetensorsBadInput, ByteCountDisagreesWithTheShape) {
  write_file(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})",
             std::string(8, '\0'));
  expect_refused<DataError>({path_, "tensor 'w'", "needs 12 bytes", "span 8"});
  write_file(R"({"w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 16]}})",
             std::string(16, '\0'));
  expect_refused<DataError>({path_, "tensor 'w'", "needs 8 bytes", "span 16"});
}

TEST_F(SafetensorsBadInput, DataTruncated) {
  write_file(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})",
             std::string(10, '\0'));
  expect_refused<DataError>({path_, "tensor 'w'", "outside the data section of 10 bytes"});

  // A real file cut short, as a full disk or an interrupted copy leaves it.
  model::write_safetensors(path_, {{"a", torch::ones({64})}, {"b", torch::ones({64})}});
  fs::resize_file(path_, fs::file_size(path_) - 100);
  expect_refused<DataError>({path_, "tensor 'b'", "outside the data section"});
}

TEST_F(SafetensorsBadInput, DuplicateTensorNames) {
  write_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, )"
             R"("w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
             std::string(8, '\0'));
  expect_refused<DataError>({path_, "tensor 'w'", "appears twice"});
}

TEST_F(SafetensorsBadInput, MetadataOfTheWrongType) {
  write_file(R"({"__metadata__": ["pt"]})", "");
  expect_refused<DataError>({path_, "__metadata__ is not an object"});
  write_file(R"({"__metadata__": {"format": 1}})", "");
  expect_refused<DataError>({path_, "__metadata__ key 'format'"});
}

TEST_F(SafetensorsBadInput, MissingFileOrADirectoryIsAnIoError) {
  expect_refused<IoError>({path_, "no such file"});
  fs::create_directories(path_);
  expect_refused<IoError>({path_});
}

}  // namespace
}  // namespace dgr::robustness
