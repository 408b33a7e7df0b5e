// A progress indicator for long loops (encoding a corpus, building an index, scoring queries).
// On a terminal it redraws one line in place, at most ten times a second:
//   encode 4200/8841  47.5% 612.3/s ETA 7.6s
// When stderr is not a terminal (a SLURM log, a pipe) it writes one plain line every 30 s and a
// summary at the end, so logs stay readable:
//   encode: 4200/8841 (47.5%), 612.3/s, ETA 7.6s
//   encode: done, 8841 in 14.4s (614.0/s)
// Callers enable it on rank 0 only; a disabled Progress counts but prints nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>

namespace dgr {

struct ProgressOptions {
  double log_interval_s = 30.0;    // not a terminal: one line every this many seconds
  double redraw_interval_s = 0.1;  // terminal: redraw at most this often
  // Where lines go. nullptr: std::cerr on a terminal, glog INFO (with the rank prefix) otherwise.
  std::ostream* out = nullptr;
  std::optional<bool> terminal;   // unset: stderr_is_terminal()
  std::function<double()> clock;  // monotonic seconds; empty: std::chrono::steady_clock
};

class Progress {
 public:
  // total = 0: unknown, shown as a count with a rate and the elapsed time.
  Progress(std::string label, int64_t total, bool enabled, ProgressOptions options = {});
  // Ends a drawn terminal line; prints no summary unless finish() was called.
  ~Progress();

  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Counts n more items done; may redraw or log. Safe to call from several threads.
  void add(int64_t n = 1);
  // Prints the summary line (once; later calls do nothing).
  void finish();

  int64_t count() const;

 private:
  double now() const;
  std::string status_line(double now) const;
  std::string summary_line(double now) const;
  void emit_line(const std::string& line);

  const std::string label_;
  const int64_t total_;
  const bool enabled_;
  ProgressOptions options_;
  bool terminal_ = false;

  mutable std::mutex mutex_;
  int64_t count_ = 0;
  double start_ = 0;
  double last_output_ = 0;
  size_t drawn_width_ = 0;  // terminal: width of the line currently shown
  bool finished_ = false;
};

// "4.2s", "3m05s", "2h03m": a duration in seconds, for humans.
std::string format_duration(double seconds);

}  // namespace dgr
