// Wall-clock intervals for logs and reports.
#pragma once

#include <chrono>

namespace dgr {

// Seconds of the monotonic clock since `start`.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace dgr
