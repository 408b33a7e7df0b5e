#include "core/util/files.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/util/error.h"

namespace dgr {
namespace fs = std::filesystem;

void ensure_directory(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw IoError(dir + ": exists and is not a directory");
  }
  fs::create_directories(dir, ec);
  if (ec) throw IoError(dir + ": cannot create directory: " + ec.message());
}

void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& write) {
  fs::path target(path);
  if (target.has_parent_path()) ensure_directory(target.parent_path().string());
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* file = std::fopen(tmp.c_str(), "wb");
  if (file == nullptr) throw IoError(path + ": cannot write: " + std::strerror(errno));
  try {
    write(file);
  } catch (...) {
    std::fclose(file);
    std::remove(tmp.c_str());
    throw;
  }
  // Errors of buffered writes surface at flush, fsync or close; the first one is reported.
  errno = 0;
  int error = 0;
  if (std::fflush(file) != 0 || std::ferror(file)) {
    error = errno != 0 ? errno : EIO;
  } else if (::fsync(fileno(file)) != 0) {
    error = errno;
  }
  if (std::fclose(file) != 0 && error == 0) error = errno != 0 ? errno : EIO;
  if (error != 0) {
    std::remove(tmp.c_str());
    throw IoError(path + ": write failed: " + std::strerror(error));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int rename_error = errno;
    std::remove(tmp.c_str());
    throw IoError(path + ": cannot rename into place: " + std::strerror(rename_error));
  }
}

void write_file_atomic(const std::string& path, const std::string& content) {
  write_file_atomic(path, [&](std::FILE* file) {
    if (!content.empty() &&
        std::fwrite(content.data(), 1, content.size(), file) != content.size()) {
      throw IoError(path + ": write failed: " + std::strerror(errno));
    }
  });
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open (" + std::strerror(errno) + ")");
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) throw IoError(path + ": read error");
  return out.str();
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

}  // namespace dgr
