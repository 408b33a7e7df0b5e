#include "data/corpus.h"

#include <algorithm>
#include <utility>

#include "core/util/error.h"

namespace dgr::data {

void IdIndex::add(const std::string& id, size_t index, const std::string& path, int64_t line) {
  auto known = entries_.find(id);
  if (known != entries_.end()) {
    const Entry& first = known->second;
    const std::string& first_path = sources_[first.source];
    std::string where = "index " + std::to_string(first.index);  // added without a file
    if (first.line > 0) {
      where = (first_path == path ? "line " : first_path + ":") + std::to_string(first.line);
    }
    throw DataError(located(
        path.empty() ? std::string(kind_) + "s" : path, line,
        "duplicate " + std::string(kind_) + " id '" + id + "' (first defined at " + where + ")"));
  }
  // Nearly always a single path per index, so a linear search from the back is enough.
  auto known_path = std::find(sources_.rbegin(), sources_.rend(), path);
  if (known_path == sources_.rend()) {
    sources_.push_back(path);
    known_path = sources_.rbegin();
  }
  const auto source = static_cast<uint32_t>(sources_.rend() - known_path - 1);
  entries_.emplace(id, Entry{index, line, source});
}

std::optional<size_t> IdIndex::find(const std::string& id) const {
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second.index;
}

size_t IdIndex::index_of(const std::string& id, const std::string& context) const {
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    throw DataError("unknown " + std::string(kind_) + " id '" + id + "' (" + context + ")");
  }
  return it->second.index;
}

void Corpus::add(Passage passage, const std::string& path, int64_t line) {
  ids_.add(passage.id, passages_.size(), path, line);
  passages_.push_back(std::move(passage));
}

void Corpus::reserve(size_t n) {
  passages_.reserve(n);
  ids_.reserve(n);
}

void Queries::add(Query query, const std::string& path, int64_t line) {
  ids_.add(query.id, queries_.size(), path, line);
  queries_.push_back(std::move(query));
}

void Queries::reserve(size_t n) {
  queries_.reserve(n);
  ids_.reserve(n);
}

}  // namespace dgr::data
