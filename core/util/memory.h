// Memory figures a stage reports at its end (DESIGN: "peak RSS of each stage reported").
#pragma once

#include <cstdint>
#include <string>

namespace dgr {

// Peak resident set size of this process so far, in bytes (getrusage).
uint64_t peak_rss_bytes();

// "1.2 GiB", "340 MiB", "12 KiB", "17 B".
std::string format_bytes(uint64_t bytes);

}  // namespace dgr
