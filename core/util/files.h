// Small file-system helpers with dgr's error conventions: every failure is an IoError naming
// the path. Outputs are written atomically (temporary file, fsync, rename) so a crash never
// leaves a half-written artifact under its final name.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace dgr {

// Creates `dir` and its parents; throws IoError when it cannot, or when it exists as a file.
void ensure_directory(const std::string& dir);

// Writes `content` to `path` through `path.tmp.<pid>`, fsyncs and renames it into place.
void write_file_atomic(const std::string& path, const std::string& content);

// The streaming form, for outputs too large to build in memory first (a run of 7k queries x
// 1000 passages is ~300 MB): `write` gets a stdio stream on the temporary file and reports its
// own data errors by throwing (the temporary file is then removed and the exception passed on).
void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& write);

// Whole content of a small file (configs, manifests); IoError when it cannot be read.
std::string read_file(const std::string& path);

// True when `path` names an existing regular file.
bool file_exists(const std::string& path);

// The pre-flight check of a long job's output directory, so that a full or unwritable disk
// fails the job before its first step instead of at its first save: creates `dir` (and its
// parents), writes, fsyncs and removes a probe file in it, and checks that the file system
// holding it has at least `required_bytes` free for unprivileged writers (statvfs: f_bavail x
// f_frsize). IoError naming `dir` and the OS's reason when it cannot be created or written, or
// "<dir>: N MiB free, <needed_for> needs about M MiB" when the space is short.
void check_output_directory(const std::string& dir, uint64_t required_bytes,
                            const std::string& needed_for = "a checkpoint");

}  // namespace dgr
