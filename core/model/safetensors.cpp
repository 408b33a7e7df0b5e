#include "core/model/safetensors.h"

#include <glog/logging.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

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

// The parsed header of an open file (validation in core/util/safetensors_header.cpp).
SafetensorsHeader parse_header(const std::string& path, std::ifstream& in) {
  in.seekg(0, std::ios::end);
  const std::streamoff end = in.tellg();
  if (!in || end < 0) throw IoError(path + ": cannot determine the file size");
  const uint64_t file_size = static_cast<uint64_t>(end);
  in.seekg(0);
  char length_bytes[kSafetensorsLengthBytes] = {};
  const size_t have = static_cast<size_t>(std::min<uint64_t>(file_size, kSafetensorsLengthBytes));
  if (have > 0 && !in.read(length_bytes, static_cast<std::streamsize>(have))) {
    throw IoError(path + ": read error in the header length");
  }
  const uint64_t header_size =
      decode_safetensors_header_length(path, std::string_view(length_bytes, have), file_size);
  std::string text(header_size, '\0');
  if (header_size > 0 && !in.read(text.data(), static_cast<std::streamsize>(header_size))) {
    throw IoError(path + ": read error in the JSON header");
  }
  return parse_safetensors_header(path, text, file_size);
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
    unsigned char length_bytes[kSafetensorsLengthBytes];
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
