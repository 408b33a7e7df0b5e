// Accumulates judgments into eval::Qrels while reading a qrels file, rejecting a second judgment
// of the same (query, passage) pair with the lines of both. Shared by the BEIR and TREC readers.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "core/eval/qrels.h"
#include "data/line_reader.h"

namespace dgr::data {

class QrelsBuilder {
 public:
  // Adds the judgment read at the reader's current line; throws DataError "path:line: duplicate
  // judgment for query 'Q' and passage 'P' (first at line L)".
  void add(const LineReader& reader, const std::string& query_id, const std::string& passage_id,
           int grade);
  size_t size() const { return count_; }
  eval::Qrels take() { return std::move(qrels_); }

 private:
  eval::Qrels qrels_;
  // query id -> (passage id -> line of the judgment), only for the duplicate message.
  std::unordered_map<std::string, std::unordered_map<std::string, int64_t>> lines_;
  size_t count_ = 0;
};

}  // namespace dgr::data
