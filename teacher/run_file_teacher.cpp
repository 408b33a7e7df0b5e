#include "teacher/run_file_teacher.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/util/error.h"
#include "data/trec.h"

namespace dgr::teacher {

MissingPairPolicy parse_missing_pair_policy(const std::string& name) {
  if (name == "error") return MissingPairPolicy::kError;
  if (name == "fill") return MissingPairPolicy::kFillBelowMinimum;
  throw ConfigError("unknown missing-pair policy '" + name + "', expected 'error' or 'fill'");
}

RunFileTeacher::RunFileTeacher(const std::string& run_path, RunFileTeacherOptions options)
    : source_(run_path), options_(options) {
  index(data::read_trec_run(run_path));
}

RunFileTeacher::RunFileTeacher(const eval::Run& run, std::string source,
                               RunFileTeacherOptions options)
    : source_(std::move(source)), options_(options) {
  index(run);
}

void RunFileTeacher::index(const eval::Run& run) {
  queries_.reserve(run.by_query.size());
  for (const auto& [query_id, entries] : run.by_query) {
    if (entries.empty()) continue;
    QueryScores& scores = queries_[query_id];
    scores.by_passage.reserve(entries.size());
    double minimum = entries.front().score;
    for (const eval::RunEntry& entry : entries) {
      scores.by_passage.emplace(entry.passage_id, entry.score);
      minimum = std::min(minimum, entry.score);
    }
    // For large scores minimum - 1 rounds back to the minimum in float; step below it then.
    const auto float_minimum = static_cast<float>(minimum);
    scores.fill = static_cast<float>(minimum - 1.0);
    if (!(scores.fill < float_minimum)) {
      scores.fill = std::nextafter(float_minimum, -std::numeric_limits<float>::infinity());
    }
  }
}

std::string RunFileTeacher::name() const {
  return "run:" + source_;
}

std::vector<float> RunFileTeacher::score(const std::string& query_id,
                                         const std::string& /*query_text*/,
                                         const std::vector<std::string>& passage_ids) {
  auto query = queries_.find(query_id);
  if (query == queries_.end()) {
    throw DataError(source_ + ": query '" + query_id + "' has no entries in the run file");
  }
  const QueryScores& scores = query->second;
  std::vector<float> out;
  out.reserve(passage_ids.size());
  for (const std::string& passage_id : passage_ids) {
    auto hit = scores.by_passage.find(passage_id);
    if (hit != scores.by_passage.end()) {
      out.push_back(static_cast<float>(hit->second));
    } else if (options_.missing_pair == MissingPairPolicy::kFillBelowMinimum) {
      out.push_back(scores.fill);
    } else {
      throw DataError(source_ + ": no score for query '" + query_id + "' and passage '" +
                      passage_id + "' in the run file (missing-pair policy: error)");
    }
  }
  return out;
}

}  // namespace dgr::teacher
