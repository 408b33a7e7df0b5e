#include "core/model/safetensors.h"

#include <glog/logging.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/util/error.h"
#include "core/util/files.h"

// Tensor bytes are copied between the file and torch's memory as they are: the format is
// little-endian, and so must the host be.
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors I/O assumes a little-endian host"
#endif

namespace dgr::model {
namespace {

using Json = nlohmann::ordered_json;

constexpr uint64_t kHeaderLengthBytes = 8;

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
  uint64_t bytes;
};

constexpr DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64, 8},   {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8},   {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},     {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DtypeInfo* dtype_by_name(const std::string& name) {
  for (const DtypeInfo& info : kDtypes) {
    if (name == info.name) return &info;
  }
  return nullptr;
}

const DtypeInfo* dtype_by_type(torch::ScalarType type) {
  for (const DtypeInfo& info : kDtypes) {
    if (type == info.type) return &info;
  }
  return nullptr;
}

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
  const DtypeInfo* info = dtype_by_name(entry.dtype);
  if (info == nullptr) fail("unknown dtype '" + entry.dtype + "'");

  const Json& shape = value.at("shape");
  if (!shape.is_array()) fail("'shape' is not an array");
  // Element count with overflow detection: a corrupt shape must not wrap around to the byte
  // count by accident.
  uint64_t elements = 1;
  bool overflow = false;
  for (const Json& dim : shape) {
    if (!dim.is_number_unsigned()) fail("'shape' holds " + dim.dump() + ", not a size");
    const uint64_t d = dim.get<uint64_t>();
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) fail("dimension too large");
    entry.shape.push_back(static_cast<int64_t>(d));
    if (d != 0 && elements > std::numeric_limits<uint64_t>::max() / d) overflow = true;
    elements *= d;
  }
  if (std::find(entry.shape.begin(), entry.shape.end(), 0) != entry.shape.end()) {
    elements = 0;
    overflow = false;
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
  if (overflow || elements > std::numeric_limits<uint64_t>::max() / info->bytes ||
      elements * info->bytes != entry.end - entry.begin) {
    fail("shape " + shape_string(entry.shape) + " of dtype " + entry.dtype + " needs " +
         (overflow ? std::string("more than 2^64") : std::to_string(elements * info->bytes)) +
         " bytes, but data_offsets span " + std::to_string(entry.end - entry.begin));
  }
  return entry;
}

// The parsed header of an open file; `data_start` is where the data section begins.
SafetensorsHeader parse_header(const std::string& path, std::ifstream& in) {
  in.seekg(0, std::ios::end);
  const std::streamoff end = in.tellg();
  if (!in || end < 0) throw IoError(path + ": cannot determine the file size");
  const uint64_t file_size = static_cast<uint64_t>(end);
  if (file_size < kHeaderLengthBytes) {
    throw DataError(located(path, 0,
                            "not a safetensors file: " + std::to_string(file_size) +
                                " bytes, shorter than the 8-byte header length"));
  }
  in.seekg(0);
  unsigned char length_bytes[kHeaderLengthBytes];
  if (!in.read(reinterpret_cast<char*>(length_bytes), kHeaderLengthBytes)) {
    throw IoError(path + ": read error in the header length");
  }
  uint64_t header_size = 0;
  for (int i = static_cast<int>(kHeaderLengthBytes) - 1; i >= 0; --i) {
    header_size = (header_size << 8) | length_bytes[i];
  }
  if (header_size > file_size - kHeaderLengthBytes) {
    throw DataError(located(path, 0,
                            "header length " + std::to_string(header_size) +
                                " exceeds the file size of " + std::to_string(file_size) +
                                " bytes (not a safetensors file, or truncated)"));
  }
  std::string text(header_size, '\0');
  if (header_size > 0 && !in.read(text.data(), static_cast<std::streamsize>(header_size))) {
    throw IoError(path + ": read error in the JSON header");
  }

  // Duplicate top-level keys would silently overwrite each other in the DOM; the parser
  // callback sees every key before that happens.
  std::set<std::string> seen;
  std::string duplicate;
  Json json;
  try {
    json = Json::parse(text, [&](int depth, Json::parse_event_t event, Json& parsed) {
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
  header.data_start = kHeaderLengthBytes + header_size;
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

std::ifstream open_for_reading(const std::string& path) {
  if (!file_exists(path)) throw IoError(path + ": no such file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open (" + std::strerror(errno) + ")");
  return in;
}

}  // namespace

SafetensorsHeader read_safetensors_header(const std::string& path) {
  std::ifstream in = open_for_reading(path);
  return parse_header(path, in);
}

NamedTensors read_safetensors(const std::string& path, torch::ScalarType float_dtype) {
  CHECK(torch::isFloatingType(float_dtype))
      << "read_safetensors: float_dtype must be a floating type, not " << float_dtype;
  std::ifstream in = open_for_reading(path);
  const SafetensorsHeader header = parse_header(path, in);

  // One forward pass over the data section, each tensor read straight into its own memory:
  // peak memory is the tensors plus one converted tensor, never a copy of the whole file.
  NamedTensors tensors;
  tensors.reserve(header.entries.size());
  for (const SafetensorsEntry& entry : header.entries) {
    const DtypeInfo* info = dtype_by_name(entry.dtype);
    // BOOL bytes are read as U8 and compared with 0: a byte other than 0 or 1 must not become
    // an invalid bool.
    const torch::ScalarType stored = info->type == torch::kBool ? torch::kUInt8 : info->type;
    torch::Tensor tensor = torch::empty(entry.shape, torch::TensorOptions().dtype(stored));
    const uint64_t bytes = entry.end - entry.begin;
    if (bytes > 0) {
      in.seekg(static_cast<std::streamoff>(header.data_start + entry.begin));
      if (!in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(bytes))) {
        throw IoError(tensor_error(path, entry.name, "read error (file changed while reading?)"));
      }
    }
    if (info->type == torch::kBool) {
      tensor = tensor.ne(0);
    } else if (torch::isFloatingType(info->type) && info->type != float_dtype) {
      tensor = tensor.to(float_dtype);
    }
    tensors.emplace_back(entry.name, std::move(tensor));
  }
  return tensors;
}

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // The header first: names, dtypes and offsets are all known before a byte is written.
  Json json = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [key, value] : metadata)
      meta[key] = value;
    json["__metadata__"] = std::move(meta);
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__") {
      throw DataError(tensor_error(path, name, "the name is reserved for the metadata"));
    }
    if (!names.insert(name).second) throw DataError(tensor_error(path, name, "written twice"));
    if (!tensor.defined()) throw DataError(tensor_error(path, name, "undefined tensor"));
    const DtypeInfo* info = dtype_by_type(tensor.scalar_type());
    if (info == nullptr) {
      throw DataError(tensor_error(path, name,
                                   std::string("dtype ") + c10::toString(tensor.scalar_type()) +
                                       " has no safetensors equivalent"));
    }
    const uint64_t bytes = static_cast<uint64_t>(tensor.numel()) * info->bytes;
    json[name] = {{"dtype", info->name},
                  {"shape", tensor.sizes().vec()},
                  {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = json.dump();
  } catch (const Json::exception& e) {
    throw DataError(located(path, 0, std::string("cannot encode the header: ") + e.what()));
  }
  // Padding to a multiple of 8 keeps the data section 8-byte aligned, as the reference does.
  text.append((8 - text.size() % 8) % 8, ' ');

  write_file_atomic(path, [&](std::FILE* file) {
    auto put = [&](const void* data, size_t size, const std::string& what) {
      if (size > 0 && std::fwrite(data, 1, size, file) != size) {
        throw IoError(path + ": write failed in " + what + ": " + std::strerror(errno));
      }
    };
    unsigned char length_bytes[kHeaderLengthBytes];
    uint64_t length = text.size();
    for (unsigned char& byte : length_bytes) {
      byte = static_cast<unsigned char>(length & 0xff);
      length >>= 8;
    }
    put(length_bytes, sizeof length_bytes, "the header");
    put(text.data(), text.size(), "the header");
    // One tensor at a time on the CPU and contiguous: a GPU model is never copied whole.
    for (const auto& [name, tensor] : tensors) {
      const torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
      put(cpu.data_ptr(), static_cast<size_t>(cpu.nbytes()), "tensor '" + name + "'");
    }
  });
}

}  // namespace dgr::model
