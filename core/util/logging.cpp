#include "core/util/logging.h"

#include <glog/logging.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <system_error>

#include "core/util/error.h"

namespace dgr {
namespace {

// What the prefix callback needs; glog keeps only a pointer to it, so it lives for the process.
struct RankPrefix {
  int rank = 0;
  int world_size = 1;
};

RankPrefix& rank_prefix() {
  static RankPrefix prefix;
  return prefix;
}

void write_prefix(std::ostream& out, const google::LogMessageInfo& info, void* data) {
  const auto* prefix = static_cast<const RankPrefix*>(data);
  out << format_log_prefix(prefix->rank, prefix->world_size, info.severity[0], info.time.tm(),
                           info.time.usec(), info.filename, info.line_number);
}

// Creates the directory and checks that the file can be opened, so a bad log_dir is an error
// naming the path instead of a glog complaint on stderr.
std::string prepare_log_file(const std::string& log_dir, int rank) {
  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  if (ec) throw IoError(log_dir + ": cannot create log directory: " + ec.message());
  std::string path =
      (std::filesystem::path(log_dir) / ("rank-" + std::to_string(rank) + ".log")).string();
  std::ofstream probe(path, std::ios::app);
  if (!probe) throw IoError(path + ": cannot open log file for writing");
  return path;
}

void configure(const char* argv0, int rank, int world_size, const std::string& log_dir,
               bool verbose) {
  std::string path;
  if (!log_dir.empty()) path = prepare_log_file(log_dir, rank);

  RankPrefix& prefix = rank_prefix();
  prefix.rank = rank;
  prefix.world_size = world_size;

  // libtorch's c10 may have initialised glog already, without our prefix: start it again.
  if (google::IsGoogleLoggingInitialized()) google::ShutdownGoogleLogging();
  google::InitGoogleLogging(argv0 != nullptr ? argv0 : "dgr", &write_prefix, &prefix);

  FLAGS_v = verbose ? 1 : 0;
  FLAGS_colorlogtostderr = false;
  if (path.empty()) {
    FLAGS_logtostderr = true;
    return;
  }
  FLAGS_logtostderr = false;
  FLAGS_alsologtostderr = true;
  // A rank that aborts must not lose its last lines: write every line through.
  FLAGS_logbuflevel = -1;
  FLAGS_logbufsecs = 0;
  FLAGS_timestamp_in_logfile_name = false;
  // All severities go to the one INFO file; no separate WARNING/ERROR/FATAL files.
  google::SetLogDestination(google::GLOG_INFO, path.c_str());
  google::SetLogDestination(google::GLOG_WARNING, "");
  google::SetLogDestination(google::GLOG_ERROR, "");
  google::SetLogDestination(google::GLOG_FATAL, "");
  // No "<program>.INFO" symlink: ranks sharing a log directory would race for it.
  for (google::LogSeverity severity = 0; severity < google::NUM_SEVERITIES; ++severity) {
    google::SetLogSymlink(severity, "");
  }
}

}  // namespace

void init_logging(const char* argv0, int rank, int world_size, const std::string& log_dir,
                  bool verbose) {
  static std::once_flag once;
  std::call_once(once, configure, argv0, rank, world_size, log_dir, verbose);
}

std::string format_log_prefix(int rank, int world_size, char severity, const std::tm& time,
                              int microseconds, const char* file, int line) {
  char buffer[96];
  std::snprintf(buffer, sizeof(buffer), "[r%d/%d %c %02d:%02d:%02d.%03d ", rank, world_size,
                severity, time.tm_hour, time.tm_min, time.tm_sec, microseconds / 1000);
  std::string out = buffer;
  out += file != nullptr ? file : "?";
  out += ':';
  out += std::to_string(line);
  out += ']';
  return out;
}

bool stderr_is_terminal() {
  return ::isatty(::fileno(stderr)) == 1;
}

}  // namespace dgr
