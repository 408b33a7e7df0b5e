#include "core/util/error.h"

namespace dgr {

std::string located(const std::string& path, int64_t line, const std::string& message) {
  std::string out = path;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  out += message;
  return out;
}

}  // namespace dgr
