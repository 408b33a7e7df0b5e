#include "core/eval/qrels.h"

namespace dgr::eval {

size_t Qrels::size() const {
  size_t n = 0;
  for (const auto& [query, judged] : by_query)
    n += judged.size();
  return n;
}

int Qrels::grade(const std::string& query_id, const std::string& passage_id, int unjudged) const {
  auto q = by_query.find(query_id);
  if (q == by_query.end()) return unjudged;
  auto p = q->second.find(passage_id);
  return p == q->second.end() ? unjudged : p->second;
}

size_t Run::size() const {
  size_t n = 0;
  for (const auto& [query, entries] : by_query)
    n += entries.size();
  return n;
}

}  // namespace dgr::eval
