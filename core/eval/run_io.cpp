#include "core/eval/run_io.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>

#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::eval {
namespace {

bool is_field(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    // A NUL byte would silently cut the field short in the "%s" of fprintf.
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '\0') {
      return false;
    }
  }
  return true;
}

void check_field(const std::string& path, const std::string& value, const std::string& what) {
  if (!is_field(value)) {
    // Shown with NUL bytes spelled out: what() is read as a C string.
    std::string shown;
    for (char c : value)
      shown += c == '\0' ? std::string("\\0") : std::string(1, c);
    throw DataError(
        located(path, 0, what + " '" + shown + "' is empty or contains whitespace or a NUL byte"));
  }
}

}  // namespace

void write_trec_run(const std::string& path, const Run& run) {
  write_trec_run(path, run, {});
}

void write_trec_run(const std::string& path, const Run& run,
                    const std::vector<std::string>& query_order) {
  check_field(path, run.tag, "run tag");
  // Check everything first, so a bad run leaves no file behind and a partial one is never seen.
  for (const auto& [query_id, entries] : run.by_query) {
    if (entries.empty()) continue;
    check_field(path, query_id, "query id");
    for (const RunEntry& entry : entries) {
      check_field(path, entry.passage_id, "query '" + query_id + "': passage id");
      // The reader (data/trec) refuses non-finite scores, so they are never written.
      if (!std::isfinite(entry.score)) {
        throw DataError(located(path, 0,
                                "query '" + query_id + "', passage '" + entry.passage_id +
                                    "': the score is " +
                                    (std::isnan(entry.score) ? "NaN" : "infinite") +
                                    " (a run file holds finite scores)"));
      }
    }
  }
  std::vector<const std::string*> order;
  std::set<std::string> listed;
  for (const std::string& id : query_order) {
    if (run.by_query.count(id) && listed.insert(id).second) order.push_back(&id);
  }
  for (const auto& entry : run.by_query) {
    if (!listed.count(entry.first)) order.push_back(&entry.first);
  }
  write_file_atomic(path, [&](std::FILE* file) {
    char score[64];
    for (const std::string* id : order) {
      const std::string& query_id = *id;
      const std::vector<RunEntry>& entries = run.by_query.at(query_id);
      size_t rank = 0;
      for (const RunEntry& entry : entries) {
        // Shortest round-trip form: a reader gets the very same double, so ties stay ties.
        const auto result = std::to_chars(score, score + sizeof(score) - 1, entry.score);
        *result.ptr = '\0';
        std::fprintf(file, "%s Q0 %s %zu %s %s\n", query_id.c_str(), entry.passage_id.c_str(),
                     ++rank, score, run.tag.c_str());
      }
    }
  });
}

}  // namespace dgr::eval
