// safetensors files (the Hugging Face weight format): an 8-byte little-endian header length, a
// JSON header {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}
// and the raw little-endian tensor bytes. Reading checks every offset against the file size and
// names the file and tensor at fault; writing is atomic (temporary file, then rename).
// Supported dtypes: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL. The host must be
// little-endian (checked at compile time): tensor bytes are copied as they are.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/util/safetensors_header.h"

namespace dgr::model {

// The header types and their validation live in the torch-free core/util/safetensors_header.h.
using dgr::SafetensorsEntry;
using dgr::SafetensorsHeader;

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// The header alone (no tensor bytes read). Throws DataError / IoError naming `path`.
SafetensorsHeader read_safetensors_header(const std::string& path);

// Every tensor, on the CPU. Floating tensors (F32, F16, BF16, F64) are converted to
// `float_dtype`; integer and bool tensors keep their type. Throws DataError naming the file and
// the tensor on a bad dtype, a shape that disagrees with the byte count, or offsets past the end.
// Reads the file in one forward pass straight into the tensors (no copy of the raw file), so
// peak memory is the tensors plus one converted tensor. `float_dtype` must be floating.
NamedTensors read_safetensors(const std::string& path,
                              torch::ScalarType float_dtype = torch::kFloat32);

// Writes `tensors` (any device, contiguous or not) in the given order; names must be unique
// (DataError otherwise). The JSON header ("__metadata__" first, when given) is padded with
// spaces to a multiple of 8 bytes, as the reference writer does; tensors are copied to the CPU
// one at a time.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace dgr::model
