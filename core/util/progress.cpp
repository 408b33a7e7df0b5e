#include "core/util/progress.h"

#include <glog/logging.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <utility>

#include "core/util/logging.h"

namespace dgr {
namespace {

double steady_seconds() {
  using std::chrono::duration;
  using std::chrono::steady_clock;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string format_rate(int64_t count, double elapsed) {
  if (elapsed <= 0) return "-/s";
  const double rate = static_cast<double>(count) / elapsed;
  char buffer[48];
  std::snprintf(buffer, sizeof(buffer), rate >= 100 ? "%.0f/s" : "%.1f/s", rate);
  return buffer;
}

std::string format_percent(int64_t count, int64_t total) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f%%",
                100.0 * static_cast<double>(count) / static_cast<double>(total));
  return buffer;
}

std::string format_eta(int64_t count, int64_t total, double elapsed) {
  if (count <= 0 || elapsed <= 0) return "?";
  if (count >= total) return format_duration(0);
  const double rate = static_cast<double>(count) / elapsed;
  return format_duration(static_cast<double>(total - count) / rate);
}

}  // namespace

std::string format_duration(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  char buffer[48];
  if (seconds < 60) {
    std::snprintf(buffer, sizeof(buffer), "%.1fs", seconds);
  } else if (seconds < 3600) {
    const auto whole = static_cast<int64_t>(seconds);
    std::snprintf(buffer, sizeof(buffer), "%lldm%02llds", static_cast<long long>(whole / 60),
                  static_cast<long long>(whole % 60));
  } else {
    const auto minutes = static_cast<int64_t>(seconds / 60);
    std::snprintf(buffer, sizeof(buffer), "%lldh%02lldm", static_cast<long long>(minutes / 60),
                  static_cast<long long>(minutes % 60));
  }
  return buffer;
}

Progress::Progress(std::string label, int64_t total, bool enabled, ProgressOptions options)
    : label_(std::move(label)),
      total_(total > 0 ? total : 0),
      enabled_(enabled),
      options_(std::move(options)) {
  terminal_ = options_.terminal.has_value() ? *options_.terminal : stderr_is_terminal();
  start_ = now();
  // On a terminal the first add() draws at once; in a log the first line waits one interval.
  last_output_ = terminal_ ? -std::numeric_limits<double>::infinity() : start_;
}

Progress::~Progress() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (enabled_ && terminal_ && !finished_ && drawn_width_ > 0) {
    std::ostream& out = options_.out != nullptr ? *options_.out : std::cerr;
    out << '\n' << std::flush;
  }
}

double Progress::now() const {
  return options_.clock ? options_.clock() : steady_seconds();
}

void Progress::add(int64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  count_ += n;
  if (!enabled_ || finished_) return;
  const double t = now();
  const double interval = terminal_ ? options_.redraw_interval_s : options_.log_interval_s;
  if (t - last_output_ < interval) return;
  last_output_ = t;
  emit_line(status_line(t));
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  emit_line(summary_line(now()));
  if (terminal_) {
    std::ostream& out = options_.out != nullptr ? *options_.out : std::cerr;
    out << '\n' << std::flush;
  }
}

int64_t Progress::count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return count_;
}

std::string Progress::status_line(double t) const {
  const double elapsed = t - start_;
  const std::string rate = format_rate(count_, elapsed);
  std::string line = label_;
  if (terminal_) {
    line += ' ';
    line += std::to_string(count_);
    if (total_ > 0) {
      line += '/' + std::to_string(total_) + ' ' + format_percent(count_, total_) + ' ' + rate +
              " ETA " + format_eta(count_, total_, elapsed);
    } else {
      line += ' ' + rate + ' ' + format_duration(elapsed);
    }
    return line;
  }
  line += ": ";
  line += std::to_string(count_);
  if (total_ > 0) {
    line += '/' + std::to_string(total_) + " (" + format_percent(count_, total_) + "), " + rate +
            ", ETA " + format_eta(count_, total_, elapsed);
  } else {
    line += ", " + rate + ", elapsed " + format_duration(elapsed);
  }
  return line;
}

std::string Progress::summary_line(double t) const {
  const double elapsed = t - start_;
  std::string done = std::to_string(count_);
  // Stopped early (or overshot): show what it was meant to reach.
  if (total_ > 0 && count_ != total_) done += '/' + std::to_string(total_);
  return label_ + ": done, " + done + " in " + format_duration(elapsed) + " (" +
         format_rate(count_, elapsed) + ")";
}

void Progress::emit_line(const std::string& line) {
  if (terminal_) {
    std::ostream& out = options_.out != nullptr ? *options_.out : std::cerr;
    // Overwrite what is shown; pad with blanks when the new line is shorter.
    out << '\r' << line;
    if (line.size() < drawn_width_) out << std::string(drawn_width_ - line.size(), ' ');
    out << std::flush;
    drawn_width_ = line.size();
    return;
  }
  if (options_.out != nullptr) {
    *options_.out << line << '\n' << std::flush;
  } else {
    LOG(INFO) << line;
  }
}

}  // namespace dgr
