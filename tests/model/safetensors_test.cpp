// safetensors reading and writing: round trips of every dtype, the byte layout against the
// format (hand-built files, not only our own writer), F16/BF16 values, and the error for each
// kind of corrupt header.
#include "core/model/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::model {
namespace {

namespace fs = std::filesystem;

std::string le64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return out;
}

// Little-endian bytes of 16-bit words.
std::string words16(const std::vector<uint16_t>& words) {
  std::string out;
  for (uint16_t w : words) {
    out += static_cast<char>(w & 0xff);
    out += static_cast<char>(w >> 8);
  }
  return out;
}

std::string f32_bytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(DGR_TEST_TMP_DIR) + "/safetensors-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
           std::to_string(::getpid());
    fs::remove_all(dir_);
    ensure_directory(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name = "t.safetensors") const { return dir_ + "/" + name; }

  // A file from a JSON header (unpadded) and a data section.
  std::string write_raw(const std::string& header, const std::string& data,
                        const std::string& name = "t.safetensors") {
    write_file_atomic(path(name), le64(header.size()) + header + data);
    return path(name);
  }

  // The message of the DataError `read` throws; both readers must agree.
  std::string data_error(const std::string& file) {
    std::string message;
    try {
      read_safetensors(file);
      ADD_FAILURE() << "read_safetensors: no DataError";
    } catch (const DataError& e) {
      message = e.what();
    }
    try {
      read_safetensors_header(file);
      ADD_FAILURE() << "read_safetensors_header: no DataError";
    } catch (const DataError& e) {
      EXPECT_EQ(message, e.what());
    }
    return message;
  }

  std::string dir_;
};

TEST_F(SafetensorsTest, RoundTripsEveryDtype) {
  const NamedTensors tensors = {
      {"f64", torch::tensor({1.0 / 3.0, -1e300, 2.5}, torch::kFloat64)},
      {"f32", torch::tensor({0.1f, -3.5f, 1e30f, 7.0f}, torch::kFloat32).reshape({2, 2})},
      {"f16", torch::tensor({1.5, -2.25, 65504.0, 0.0009765625}).to(torch::kFloat16)},
      {"bf16", torch::tensor({1.5, -2.25, 65280.0, 3.0e38}).to(torch::kBFloat16)},
      {"i64", torch::tensor({int64_t{-1}, INT64_MAX, INT64_MIN}, torch::kInt64)},
      {"i32", torch::tensor({-7, INT32_MAX, INT32_MIN}, torch::kInt32)},
      {"i16", torch::tensor({-300, 32767, -32768}, torch::kInt16)},
      {"i8", torch::tensor({-128, 0, 127}, torch::kInt8)},
      {"u8", torch::arange(256, torch::kUInt8)},
      {"bool", torch::tensor({true, false, true, true})},
  };
  write_safetensors(path(), tensors);

  const SafetensorsHeader header = read_safetensors_header(path());
  const std::vector<std::string> dtypes = {"F64", "F32", "F16", "BF16", "I64",
                                           "I32", "I16", "I8",  "U8",   "BOOL"};
  ASSERT_EQ(header.entries.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(header.entries[i].name, tensors[i].first);
    EXPECT_EQ(header.entries[i].dtype, dtypes[i]);
    EXPECT_EQ(header.entries[i].shape, tensors[i].second.sizes().vec());
  }

  // Read as F64: every floating value is exact (F16, BF16, F32 all widen exactly).
  const NamedTensors wide = read_safetensors(path(), torch::kFloat64);
  ASSERT_EQ(wide.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    SCOPED_TRACE(tensors[i].first);
    EXPECT_EQ(wide[i].first, tensors[i].first);
    const torch::Tensor& original = tensors[i].second;
    const torch::Tensor& read = wide[i].second;
    if (torch::isFloatingType(original.scalar_type())) {
      EXPECT_EQ(read.scalar_type(), torch::kFloat64);
      EXPECT_TRUE(torch::equal(read, original.to(torch::kFloat64)));
    } else {
      EXPECT_EQ(read.scalar_type(), original.scalar_type());
      EXPECT_TRUE(torch::equal(read, original));
    }
  }

  // Read with the default F32: floating tensors become F32, integers keep their type.
  const NamedTensors narrow = read_safetensors(path());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const torch::ScalarType type = tensors[i].second.scalar_type();
    EXPECT_EQ(narrow[i].second.scalar_type(), torch::isFloatingType(type) ? torch::kFloat32 : type);
  }
  EXPECT_TRUE(torch::equal(narrow[1].second, tensors[1].second));
}

TEST_F(SafetensorsTest, RoundTripsZeroDimAndEmptyTensors) {
  const NamedTensors tensors = {
      {"scalar", torch::tensor(3.5)},
      {"empty", torch::empty({0, 3})},
      {"empty_int", torch::empty({4, 0}, torch::kInt64)},
      {"after", torch::tensor({int32_t{42}})},
  };
  write_safetensors(path(), tensors);
  const SafetensorsHeader header = read_safetensors_header(path());
  ASSERT_EQ(header.entries.size(), 4u);
  EXPECT_TRUE(header.entries[0].shape.empty());
  EXPECT_EQ(header.entries[0].end - header.entries[0].begin, 4u);
  EXPECT_EQ(header.entries[1].begin, header.entries[1].end);
  EXPECT_EQ(header.entries[2].begin, header.entries[2].end);

  const NamedTensors read = read_safetensors(path());
  ASSERT_EQ(read.size(), 4u);
  EXPECT_EQ(read[0].first, "scalar");
  EXPECT_EQ(read[0].second.dim(), 0);
  EXPECT_EQ(read[0].second.item<float>(), 3.5f);
  EXPECT_EQ(read[1].second.sizes().vec(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(read[2].second.sizes().vec(), (std::vector<int64_t>{4, 0}));
  EXPECT_EQ(read[2].second.scalar_type(), torch::kInt64);
  EXPECT_EQ(read[3].second.item<int32_t>(), 42);
}

TEST_F(SafetensorsTest, WritesNonContiguousTensorsInLogicalOrder) {
  const torch::Tensor base = torch::arange(12, torch::kFloat32).reshape({3, 4});
  const torch::Tensor transposed = base.t();  // [4, 3], strides (1, 4)
  ASSERT_FALSE(transposed.is_contiguous());
  write_safetensors(path(), {{"t", transposed}, {"slice", base.select(1, 2)}});
  const NamedTensors read = read_safetensors(path());
  EXPECT_EQ(read[0].second.sizes().vec(), (std::vector<int64_t>{4, 3}));
  EXPECT_TRUE(torch::equal(read[0].second, transposed));
  EXPECT_TRUE(torch::equal(read[1].second, torch::tensor({2.0f, 6.0f, 10.0f})));
  // The bytes on disk are the row-major values 0, 4, 8, 1, 5, 9, ...
  const std::string raw = read_file(path());
  const SafetensorsHeader header = read_safetensors_header(path());
  EXPECT_EQ(raw.substr(header.data_start, 16), f32_bytes({0, 4, 8, 1}));
}

TEST_F(SafetensorsTest, ReadsAHandBuiltFile) {
  // Keys out of data order, extra spaces and metadata, as other writers may produce them.
  const std::string header = R"({"b": {"dtype": "I16", "shape": [1, 2], "data_offsets": [8, 12]},)"
                             R"( "__metadata__": {"format": "pt"},)"
                             R"( "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}   )";
  const std::string data = f32_bytes({1.0f, -2.0f}) + std::string("\x02\x01\xff\xff", 4);
  const std::string file = write_raw(header, data);

  const SafetensorsHeader parsed = read_safetensors_header(file);
  EXPECT_EQ(parsed.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  EXPECT_EQ(parsed.data_start, 8 + header.size());
  ASSERT_EQ(parsed.entries.size(), 2u);
  EXPECT_EQ(parsed.entries[0].name, "a");  // data order
  EXPECT_EQ(parsed.entries[1].name, "b");
  EXPECT_EQ(parsed.entries[1].begin, 8u);
  EXPECT_EQ(parsed.entries[1].end, 12u);

  const NamedTensors tensors = read_safetensors(file);
  ASSERT_EQ(tensors.size(), 2u);
  EXPECT_TRUE(torch::equal(tensors[0].second, torch::tensor({1.0f, -2.0f})));
  EXPECT_EQ(tensors[1].second.scalar_type(), torch::kInt16);
  EXPECT_TRUE(
      torch::equal(tensors[1].second, torch::tensor({258, -1}, torch::kInt16).view({1, 2})));
}

TEST_F(SafetensorsTest, BoolBytesOtherThanOneAreTrue) {
  const std::string file =
      write_raw(R"({"m": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]}})",
                std::string("\x00\x01\x07", 3));
  const NamedTensors tensors = read_safetensors(file);
  EXPECT_TRUE(torch::equal(tensors[0].second, torch::tensor({false, true, true})));
}

TEST_F(SafetensorsTest, WriterProducesTheReferenceLayout) {
  write_safetensors(path(),
                    {{"w", torch::tensor({1.0f, -2.0f})}, {"ids", torch::tensor({int64_t{258}})}},
                    {{"format", "pt"}});
  const std::string raw = read_file(path());
  ASSERT_GE(raw.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | static_cast<unsigned char>(raw[i]);
  EXPECT_EQ(n % 8, 0u) << "header padded to a multiple of 8";
  ASSERT_EQ(raw.size(), 8 + n + 8 + 8);

  const std::string header = raw.substr(8, n);
  const size_t last = header.find_last_not_of(' ');
  EXPECT_EQ(header[last], '}');
  EXPECT_LT(header.size() - last - 1, 8u) << "at most 7 spaces of padding";
  const auto json = nlohmann::ordered_json::parse(header);
  const auto expected = nlohmann::ordered_json::parse(
      R"({"__metadata__": {"format": "pt"},)"
      R"( "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
      R"( "ids": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]}})");
  EXPECT_EQ(json, expected);
  EXPECT_EQ(json.dump(), expected.dump()) << "metadata first, tensors in the given order";

  EXPECT_EQ(raw.substr(8 + n, 8), std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8));
  EXPECT_EQ(raw.substr(8 + n + 8), std::string("\x02\x01\x00\x00\x00\x00\x00\x00", 8));
}

TEST_F(SafetensorsTest, ConvertsF16AndBF16Values) {
  // F16: 1.5, -2.25, 65504 (largest finite), 2^-24 (smallest subnormal), -0, -inf.
  const std::vector<uint16_t> f16 = {0x3E00, 0xC080, 0x7BFF, 0x0001, 0x8000, 0xFC00};
  // BF16: 1.5, -2.25, 65280, -0.15625, 2^-126 (smallest normal), 3.3895e38 (largest finite).
  const std::vector<uint16_t> bf16 = {0x3FC0, 0xC010, 0x477F, 0xBE20, 0x0080, 0x7F7F};
  const std::string file =
      write_raw(R"({"h": {"dtype": "F16", "shape": [6], "data_offsets": [0, 12]},)"
                R"( "b": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [12, 24]}})",
                words16(f16) + words16(bf16));

  const NamedTensors tensors = read_safetensors(file);
  const torch::Tensor h = tensors[0].second;
  const torch::Tensor b = tensors[1].second;
  ASSERT_EQ(h.scalar_type(), torch::kFloat32);
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> h_expected = {1.5f,  -2.25f, 65504.0f, std::ldexp(1.0f, -24),
                                         -0.0f, -inf};
  for (size_t i = 0; i < h_expected.size(); ++i) {
    EXPECT_EQ(h[i].item<float>(), h_expected[i]) << i;
  }
  EXPECT_TRUE(std::signbit(h[4].item<float>()));
  const std::vector<float> b_expected = {
      1.5f, -2.25f, 65280.0f, -0.15625f, std::ldexp(1.0f, -126), std::ldexp(255.0f / 128.0f, 127)};
  const torch::Tensor b_flat = b.flatten();
  for (size_t i = 0; i < b_expected.size(); ++i) {
    EXPECT_EQ(b_flat[i].item<float>(), b_expected[i]) << i;
  }

  // Kept as half precision when asked; written back, the bytes are the same.
  const NamedTensors half = read_safetensors(file, torch::kFloat16);
  EXPECT_EQ(half[0].second.scalar_type(), torch::kFloat16);
  EXPECT_EQ(half[1].second.scalar_type(), torch::kFloat16);
  write_safetensors(path("h.safetensors"),
                    {{"h", half[0].second}, {"b", tensors[1].second.to(torch::kBFloat16)}});
  const std::string raw = read_file(path("h.safetensors"));
  EXPECT_EQ(raw.substr(raw.size() - 24), words16(f16) + words16(bf16));
}

TEST_F(SafetensorsTest, MetadataRoundTrips) {
  write_safetensors(path(), {{"x", torch::zeros({1})}}, {{"format", "pt"}, {"step", "12"}});
  const SafetensorsHeader header = read_safetensors_header(path());
  EXPECT_EQ(header.metadata,
            (std::map<std::string, std::string>{{"format", "pt"}, {"step", "12"}}));
  EXPECT_EQ(header.data_start % 8, 0u);
}

TEST_F(SafetensorsTest, OverwritesAtomicallyWithoutLeftovers) {
  write_safetensors(path(), {{"x", torch::zeros({100})}});
  write_safetensors(path(), {{"y", torch::ones({2})}});
  const NamedTensors read = read_safetensors(path());
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0].first, "y");
  size_t files = 0;
  for (const auto& item : fs::directory_iterator(dir_)) {
    EXPECT_EQ(item.path().filename().string(), "t.safetensors");
    ++files;
  }
  EXPECT_EQ(files, 1u);
}

TEST_F(SafetensorsTest, RejectsAHeaderLongerThanTheFile) {
  write_file_atomic(path(), le64(1000) + "{}");
  const std::string message = data_error(path());
  EXPECT_NE(message.find(path()), std::string::npos) << message;
  EXPECT_NE(message.find("1000"), std::string::npos) << message;
}

TEST_F(SafetensorsTest, RejectsAFileShorterThanTheLengthField) {
  write_file_atomic(path(), std::string("\x02\x00\x00", 3));
  EXPECT_NE(data_error(path()).find(path()), std::string::npos);
}

TEST_F(SafetensorsTest, RejectsMalformedJson) {
  const std::string message = data_error(write_raw(R"({"a": {"dtype": )", ""));
  EXPECT_NE(message.find(path()), std::string::npos) << message;
  EXPECT_NE(message.find("JSON"), std::string::npos) << message;
  EXPECT_NE(data_error(write_raw("[1, 2]", "")).find("not an object"), std::string::npos);
}

TEST_F(SafetensorsTest, RejectsMissingKeys) {
  for (const std::string key : {"dtype", "shape", "data_offsets"}) {
    nlohmann::json entry = {{"dtype", "F32"},
                            {"shape", nlohmann::json::array({1})},
                            {"data_offsets", nlohmann::json::array({0, 4})}};
    entry.erase(key);
    const std::string message =
        data_error(write_raw(nlohmann::json{{"weight", entry}}.dump(), f32_bytes({1})));
    EXPECT_NE(message.find(path() + ": tensor 'weight': "), std::string::npos) << message;
    EXPECT_NE(message.find(key), std::string::npos) << message;
  }
}

TEST_F(SafetensorsTest, RejectsUnknownDtypes) {
  const std::string message =
      data_error(write_raw(R"({"q": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 1]}})", "x"));
  EXPECT_NE(message.find(path() + ": tensor 'q': "), std::string::npos) << message;
  EXPECT_NE(message.find("Q4"), std::string::npos) << message;
}

TEST_F(SafetensorsTest, RejectsAShapeThatDisagreesWithTheByteCount) {
  const std::string message = data_error(write_raw(
      R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", f32_bytes({1, 2})));
  EXPECT_NE(message.find(path() + ": tensor 'w': "), std::string::npos) << message;
  EXPECT_NE(message.find("12"), std::string::npos) << message;
  EXPECT_NE(message.find("8"), std::string::npos) << message;
  // A product that overflows 64 bits must not wrap around to the byte count.
  const std::string overflow = data_error(write_raw(
      R"({"w": {"dtype": "U8", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", ""));
  EXPECT_NE(overflow.find("tensor 'w'"), std::string::npos) << overflow;
  // Negative and fractional dimensions are not sizes.
  EXPECT_NE(
      data_error(write_raw(R"({"n": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})",
                           f32_bytes({1})))
          .find("tensor 'n'"),
      std::string::npos);
  EXPECT_NE(
      data_error(write_raw(R"({"n": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}})",
                           f32_bytes({1})))
          .find("tensor 'n'"),
      std::string::npos);
}

TEST_F(SafetensorsTest, RejectsOffsetsOutsideTheDataSection) {
  const std::string message = data_error(write_raw(
      R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", f32_bytes({1, 2})));
  EXPECT_NE(message.find(path() + ": tensor 'w': "), std::string::npos) << message;
  EXPECT_NE(message.find("outside"), std::string::npos) << message;
  const std::string reversed = data_error(write_raw(
      R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", f32_bytes({1, 2})));
  EXPECT_NE(reversed.find("tensor 'w'"), std::string::npos) << reversed;
  const std::string not_pair = data_error(
      write_raw(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", f32_bytes({1})));
  EXPECT_NE(not_pair.find("tensor 'w'"), std::string::npos) << not_pair;
}

TEST_F(SafetensorsTest, RejectsOverlappingTensors) {
  const std::string message =
      data_error(write_raw(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                           R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                           f32_bytes({1, 2, 3})));
  EXPECT_NE(message.find(path() + ": tensor 'b': "), std::string::npos) << message;
  EXPECT_NE(message.find("'a'"), std::string::npos) << message;
}

TEST_F(SafetensorsTest, RejectsDuplicateNames) {
  const std::string message =
      data_error(write_raw(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                           R"( "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                           f32_bytes({1, 2})));
  EXPECT_NE(message.find(path() + ": tensor 'a': "), std::string::npos) << message;
  EXPECT_NE(message.find("twice"), std::string::npos) << message;
}

TEST_F(SafetensorsTest, RejectsNonStringMetadata) {
  const std::string message = data_error(write_raw(R"({"__metadata__": {"step": 12}})", ""));
  EXPECT_NE(message.find("step"), std::string::npos) << message;
}

TEST_F(SafetensorsTest, MissingFileIsAnIoError) {
  EXPECT_THROW(read_safetensors(path("absent.safetensors")), IoError);
  EXPECT_THROW(read_safetensors_header(path("absent.safetensors")), IoError);
}

TEST_F(SafetensorsTest, WriterRejectsDuplicateNamesAndUnsupportedDtypes) {
  try {
    write_safetensors(path(), {{"a", torch::zeros({1})}, {"a", torch::ones({1})}});
    ADD_FAILURE() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(path() + ": tensor 'a': "), std::string::npos) << e.what();
  }
  try {
    write_safetensors(path(), {{"c", torch::zeros({1}, torch::kComplexFloat)}});
    ADD_FAILURE() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'c'"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(file_exists(path())) << "nothing written on error";
}

}  // namespace
}  // namespace dgr::model
