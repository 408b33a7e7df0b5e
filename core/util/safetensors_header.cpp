#include "core/util/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/util/error.h"

namespace dgr {
namespace {

using Json = nlohmann::ordered_json;

struct DtypeSize {
  const char* name;
  uint64_t bytes;
};

constexpr DtypeSize kDtypeSizes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
    {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1},
};

std::string tensor_error(const std::string& path, const std::string& name,
                         const std::string& message) {
  return located(path, 0, "tensor '" + name + "': " + message);
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

// One header entry, checked against the dtype table and the data section size.
SafetensorsEntry parse_entry(const std::string& path, const std::string& name, const Json& value,
                             uint64_t data_size) {
  auto fail = [&](const std::string& message) {
    throw DataError(tensor_error(path, name, message));
  };
  if (!value.is_object()) fail("header entry is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!value.contains(key)) fail(std::string("missing key '") + key + "'");
  }
  SafetensorsEntry entry;
  entry.name = name;

  const Json& dtype = value.at("dtype");
  if (!dtype.is_string()) fail("'dtype' is not a string");
  entry.dtype = dtype.get<std::string>();
  const uint64_t element_bytes = safetensors_dtype_bytes(entry.dtype);
  if (element_bytes == 0) fail("unknown dtype '" + entry.dtype + "'");

  const Json& shape = value.at("shape");
  if (!shape.is_array()) fail("'shape' is not an array");
  // Element count multiplied in the order of the shape, refused as soon as it passes 2^64: the
  // reference reader counts the same way, so a zero after two huge dimensions is refused too
  // rather than read as an empty tensor that no writer would have produced.
  uint64_t elements = 1;
  bool overflow = false;
  for (const Json& dim : shape) {
    if (!dim.is_number_unsigned()) fail("'shape' holds " + dim.dump() + ", not a size");
    const uint64_t d = dim.get<uint64_t>();
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) fail("dimension too large");
    entry.shape.push_back(static_cast<int64_t>(d));
    if (!overflow && d != 0 && elements > std::numeric_limits<uint64_t>::max() / d) overflow = true;
    if (!overflow) elements *= d;
  }

  const Json& offsets = value.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    fail("'data_offsets' is not a pair of byte offsets: " + offsets.dump());
  }
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  if (entry.begin > entry.end) {
    fail("data_offsets [" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) +
         "] are reversed");
  }
  if (entry.end > data_size) {
    fail("data_offsets [" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) +
         "] lie outside the data section of " + std::to_string(data_size) + " bytes");
  }
  if (overflow || elements > std::numeric_limits<uint64_t>::max() / element_bytes ||
      elements * element_bytes != entry.end - entry.begin) {
    fail("shape " + shape_string(entry.shape) + " of dtype " + entry.dtype + " needs " +
         (overflow ? std::string("more than 2^64") : std::to_string(elements * element_bytes)) +
         " bytes, but data_offsets span " + std::to_string(entry.end - entry.begin));
  }
  return entry;
}

}  // namespace

uint64_t safetensors_dtype_bytes(std::string_view dtype) {
  for (const DtypeSize& size : kDtypeSizes) {
    if (dtype == size.name) return size.bytes;
  }
  return 0;
}

uint64_t safetensors_value_count(const SafetensorsHeader& header) {
  uint64_t values = 0;
  for (const SafetensorsEntry& entry : header.entries)
    values += (entry.end - entry.begin) / safetensors_dtype_bytes(entry.dtype);
  return values;
}

uint64_t decode_safetensors_header_length(const std::string& path, std::string_view first_bytes,
                                          uint64_t file_size) {
  if (file_size < kSafetensorsLengthBytes || first_bytes.size() < kSafetensorsLengthBytes) {
    throw DataError(located(path, 0,
                            "not a safetensors file: " + std::to_string(file_size) +
                                " bytes, shorter than the 8-byte header length"));
  }
  uint64_t header_size = 0;
  for (int i = static_cast<int>(kSafetensorsLengthBytes) - 1; i >= 0; --i) {
    header_size = (header_size << 8) | static_cast<unsigned char>(first_bytes[i]);
  }
  if (header_size > file_size - kSafetensorsLengthBytes) {
    throw DataError(located(path, 0,
                            "header length " + std::to_string(header_size) +
                                " exceeds the file size of " + std::to_string(file_size) +
                                " bytes (not a safetensors file, or truncated)"));
  }
  return header_size;
}

SafetensorsHeader parse_safetensors_header(const std::string& path, std::string_view json_text,
                                           uint64_t file_size) {
  // Duplicate top-level keys would silently overwrite each other in the DOM; the parser
  // callback sees every key before that happens.
  std::set<std::string> seen;
  std::string duplicate;
  Json json;
  try {
    json = Json::parse(json_text, [&](int depth, Json::parse_event_t event, Json& parsed) {
      if (depth == 1 && event == Json::parse_event_t::key) {
        const std::string& key = parsed.get_ref<const std::string&>();
        if (!seen.insert(key).second && duplicate.empty()) duplicate = key;
      }
      return true;
    });
  } catch (const Json::exception& e) {
    throw DataError(located(path, 0, std::string("malformed JSON header: ") + e.what()));
  }
  if (!duplicate.empty()) {
    throw DataError(tensor_error(path, duplicate, "appears twice in the header"));
  }
  if (!json.is_object()) throw DataError(located(path, 0, "JSON header is not an object"));

  SafetensorsHeader header;
  header.data_start = kSafetensorsLengthBytes + json_text.size();
  if (header.data_start > file_size) {
    throw DataError(located(path, 0,
                            "header length " + std::to_string(json_text.size()) +
                                " exceeds the file size of " + std::to_string(file_size) +
                                " bytes (not a safetensors file, or truncated)"));
  }
  const uint64_t data_size = file_size - header.data_start;
  for (const auto& [key, value] : json.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) throw DataError(located(path, 0, "__metadata__ is not an object"));
      for (const auto& [meta_key, meta_value] : value.items()) {
        if (!meta_value.is_string()) {
          throw DataError(located(
              path, 0,
              "__metadata__ key '" + meta_key + "' holds " + meta_value.dump() + ", not a string"));
        }
        header.metadata[meta_key] = meta_value.get<std::string>();
      }
      continue;
    }
    header.entries.push_back(parse_entry(path, key, value, data_size));
  }

  // Data order; two tensors must not share bytes (empty tensors occupy none).
  std::stable_sort(header.entries.begin(), header.entries.end(),
                   [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
                     return a.begin < b.begin || (a.begin == b.begin && a.end < b.end);
                   });
  for (size_t i = 1; i < header.entries.size(); ++i) {
    const SafetensorsEntry& previous = header.entries[i - 1];
    const SafetensorsEntry& entry = header.entries[i];
    if (entry.begin < previous.end) {
      throw DataError(tensor_error(path, entry.name,
                                   "data_offsets [" + std::to_string(entry.begin) + ", " +
                                       std::to_string(entry.end) + "] overlap those of '" +
                                       previous.name + "' [" + std::to_string(previous.begin) +
                                       ", " + std::to_string(previous.end) + "]"));
    }
  }
  return header;
}

}  // namespace dgr
