#include "data/qrels_builder.h"

#include "data/fields.h"

namespace dgr::data {

void QrelsBuilder::add(const LineReader& reader, const std::string& query_id,
                       const std::string& passage_id, int grade) {
  auto [it, inserted] = lines_[query_id].emplace(passage_id, reader.line_number());
  if (!inserted) {
    throw reader.error("duplicate judgment for query " + quote_field(query_id) + " and passage " +
                       quote_field(passage_id) + " (first at line " + std::to_string(it->second) +
                       ")");
  }
  qrels_.by_query[query_id].emplace(passage_id, grade);
  ++count_;
}

}  // namespace dgr::data
