// The header of a safetensors file (an 8-byte little-endian length, then a JSON object
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}), parsed and
// validated from bytes already in memory. Torch-free, so that the validation runs under the
// sanitizers and the fuzzers; core/model/safetensors.h reads files and tensors on top of it.
//
// Guarantees of a returned header: every dtype is known, every shape's byte count equals its
// data_offsets span (no overflow), every span lies inside the data section, no two tensors
// share bytes, names are unique and metadata values are strings. Anything else is a DataError
// "path: ..." naming the tensor or key at fault; nothing else is thrown for any input.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace dgr {

// Bytes of the little-endian header length at the start of every safetensors file.
constexpr uint64_t kSafetensorsLengthBytes = 8;

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", "I64", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::map<std::string, std::string> metadata;
  // In data-section order (by `begin`); for files written by write_safetensors that is the
  // order the tensors were given in. Offsets are validated: inside the data section, no two
  // tensors share bytes, byte count == shape product x element size, names unique.
  std::vector<SafetensorsEntry> entries;
  uint64_t data_start = 0;  // file offset of the data section: 8 + the JSON header's length
};

// Bytes per element of a safetensors dtype name (F64, F32, F16, BF16, I64, I32, I16, I8, U8,
// BOOL), or 0 for a name outside that list.
uint64_t safetensors_dtype_bytes(std::string_view dtype);

// The number of values (elements) of every tensor the header lists, summed: a model's
// parameter count when the file holds its weights. Exact for a validated header (each span is
// its shape's product times the element size).
uint64_t safetensors_value_count(const SafetensorsHeader& header);

// The JSON header's length from the file's first bytes (`first_bytes` holds the first
// min(8, file_size) bytes). DataError when the file is shorter than 8 bytes or the length runs
// past `file_size`.
uint64_t decode_safetensors_header_length(const std::string& path, std::string_view first_bytes,
                                          uint64_t file_size);

// Parses and validates `json_text`, the header of a file of `file_size` bytes whose data
// section starts at 8 + json_text.size(). `path` is only used in messages. O(header bytes +
// entries x log entries).
SafetensorsHeader parse_safetensors_header(const std::string& path, std::string_view json_text,
                                           uint64_t file_size);

}  // namespace dgr
