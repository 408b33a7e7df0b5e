// Small file-system helpers with dgr's error conventions: every failure is an IoError naming
// the path. Outputs are written atomically (temporary file, fsync, rename) so a crash never
// leaves a half-written artifact under its final name.
#pragma once

#include <string>

namespace dgr {

// Creates `dir` and its parents; throws IoError when it cannot, or when it exists as a file.
void ensure_directory(const std::string& dir);

// Writes `content` to `path` through `path.tmp.<pid>`, fsyncs and renames it into place.
void write_file_atomic(const std::string& path, const std::string& content);

// Whole content of a small file (configs, manifests); IoError when it cannot be read.
std::string read_file(const std::string& path);

// True when `path` names an existing regular file.
bool file_exists(const std::string& path);

}  // namespace dgr
