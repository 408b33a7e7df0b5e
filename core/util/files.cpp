#include "core/util/files.h"

#include <fcntl.h>
#include <sys/statvfs.h>
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
  std::error_code ec;
  // A directory opens as a stream that reads nothing: the caller would see an empty file.
  if (fs::is_directory(path, ec)) throw IoError(path + ": is a directory, expected a file");
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

void check_output_directory(const std::string& dir, uint64_t required_bytes,
                            const std::string& needed_for) {
  ensure_directory(dir);
  // A real write, not access(2): root passes permission checks, and a quota or a full disk
  // shows only when data is written and synced.
  const std::string probe =
      (fs::path(dir) / (".dgr-write-probe." + std::to_string(::getpid()))).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    throw IoError(dir + ": cannot write a file in this directory: " + std::strerror(errno));
  }
  const char data[] = "dgr write probe\n";
  int error = 0;
  if (::write(fd, data, sizeof data - 1) != static_cast<ssize_t>(sizeof data - 1)) {
    error = errno != 0 ? errno : EIO;
  } else if (::fsync(fd) != 0) {
    error = errno;
  }
  if (::close(fd) != 0 && error == 0) error = errno;
  const int unlink_rc = ::unlink(probe.c_str());
  const int unlink_error = errno;
  if (error != 0) {
    throw IoError(dir + ": cannot write a file in this directory: " + std::strerror(error));
  }
  if (unlink_rc != 0) {
    throw IoError(probe + ": cannot remove the write probe: " + std::strerror(unlink_error));
  }

  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) != 0) {
    throw IoError(dir + ": cannot read the file system's free space: " + std::strerror(errno));
  }
  const uint64_t free_bytes =
      static_cast<uint64_t>(vfs.f_bavail) * static_cast<uint64_t>(vfs.f_frsize);
  if (free_bytes < required_bytes) {
    constexpr uint64_t kMiB = uint64_t{1} << 20;
    throw IoError(dir + ": " + std::to_string(free_bytes / kMiB) + " MiB free, " + needed_for +
                  " needs about " + std::to_string((required_bytes + kMiB - 1) / kMiB) + " MiB");
  }
}

}  // namespace dgr
