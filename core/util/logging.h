// Rank-aware logging on top of glog. Every line carries the rank that wrote it,
//   [r1/2 I 18:33:01.123 trainer.cpp:42] step 100 loss 0.731
// and goes to stderr; with a log directory each rank also writes its own file
// `<log_dir>/rank-<R>.log` (appended to, so a restarted job keeps the earlier attempt's lines).
// glog is process-wide: call init_logging once, early in main; later calls change nothing.
#pragma once

#include <ctime>
#include <string>

namespace dgr {

// Initialises glog for this rank. `verbose` enables VLOG(1). Throws IoError if log_dir cannot be
// created or the rank's log file cannot be opened.
void init_logging(const char* argv0, int rank, int world_size, const std::string& log_dir,
                  bool verbose);

// The prefix init_logging puts before each message, without the space that follows it:
// "[r<rank>/<world_size> <severity> HH:MM:SS.mmm <file>:<line>]".
std::string format_log_prefix(int rank, int world_size, char severity, const std::tm& time,
                              int microseconds, const char* file, int line);

// True when stderr is an interactive terminal (not a pipe, a file or a SLURM log).
bool stderr_is_terminal();

}  // namespace dgr
