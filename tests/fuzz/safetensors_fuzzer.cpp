// Fuzzes the safetensors header parser (core/util/safetensors_header.h) the way the file reader
// uses it: the input is a whole file, the first 8 bytes give the JSON header's length, and the
// data section is what follows the header. Property: an accepted header holds what the header
// file guarantees (known dtypes, byte counts matching shapes, entries sorted inside the data
// section without overlap, unique names).
#include <set>
#include <string>
#include <string_view>

#include "core/util/safetensors_header.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  const std::string path = "model.safetensors";  // messages only: nothing is written

  dgr::SafetensorsHeader header;
  const bool accepted = dgr::fuzz::accepts([&] {
    const uint64_t length = dgr::decode_safetensors_header_length(
        path, file.substr(0, dgr::kSafetensorsLengthBytes), file.size());
    header = dgr::parse_safetensors_header(path, file.substr(dgr::kSafetensorsLengthBytes, length),
                                           file.size());
  });
  if (!accepted) return 0;

  FUZZ_CHECK(header.data_start <= file.size());
  const uint64_t data_size = file.size() - header.data_start;
  std::set<std::string> names;
  uint64_t previous_end = 0;
  for (const dgr::SafetensorsEntry& entry : header.entries) {
    FUZZ_CHECK(names.insert(entry.name).second);
    FUZZ_CHECK(entry.begin <= entry.end && entry.end <= data_size);
    FUZZ_CHECK(entry.begin >= previous_end);
    previous_end = entry.end;
    const uint64_t element_bytes = dgr::safetensors_dtype_bytes(entry.dtype);
    FUZZ_CHECK(element_bytes > 0);
    // The element count, multiplied in shape order, never passed 2^64 (the reader refuses such a
    // shape even when a later dimension is zero), and the byte count is the span.
    uint64_t elements = 1;
    for (int64_t dim : entry.shape) {
      FUZZ_CHECK(dim >= 0);
      FUZZ_CHECK(!__builtin_mul_overflow(elements, static_cast<uint64_t>(dim), &elements));
    }
    uint64_t bytes = 0;
    FUZZ_CHECK(!__builtin_mul_overflow(elements, element_bytes, &bytes));
    FUZZ_CHECK(bytes == entry.end - entry.begin);
  }
  return 0;
}
