// In-memory passages and queries with stable internal indices. A passage's index is its position
// in the file it was read from (0..n-1 in file order); the FM-index, the distillation set
// (`cand/passage`) and the evaluators all refer to passages by this index, so it never changes
// after loading. External ids (the `_id` of the file) map to indices in O(1).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace dgr::data {

// Selects records by their 0-based position among a file's records (blank lines and headers
// are not records); records it rejects are skipped without being parsed, so ranks that each
// need one range of a large corpus do not pay for parsing the rest. Empty: every record.
using RecordFilter = std::function<bool(size_t record)>;

struct Passage {
  std::string id;
  std::string title;  // "" when the format has none
  std::string text;
};

struct Query {
  std::string id;
  std::string text;
};

// External id -> internal index, remembering where each id was defined so that a duplicate can
// name both lines. `kind` ("passage", "query") is used in messages.
class IdIndex {
 public:
  explicit IdIndex(const char* kind) : kind_(kind) {}

  // Registers `id` as index `index`, defined at path:line (line 0: not from a file). Throws
  // DataError "path:line: duplicate <kind> id 'X' (first defined at P:L)" when `id` is known.
  void add(const std::string& id, size_t index, const std::string& path, int64_t line);
  std::optional<size_t> find(const std::string& id) const;
  // Throws DataError "unknown <kind> id 'X' (context)" when `id` is unknown.
  size_t index_of(const std::string& id, const std::string& context) const;
  void reserve(size_t n) { entries_.reserve(n); }

 private:
  struct Entry {
    size_t index;
    int64_t line;
    uint32_t source;  // into sources_
  };
  const char* kind_;
  std::unordered_map<std::string, Entry> entries_;
  std::vector<std::string> sources_;  // distinct paths ids were read from
};

// The passages of a corpus, in file order.
class Corpus {
 public:
  size_t size() const { return passages_.size(); }
  bool empty() const { return passages_.empty(); }
  const Passage& operator[](size_t index) const { return passages_[index]; }
  std::vector<Passage>::const_iterator begin() const { return passages_.begin(); }
  std::vector<Passage>::const_iterator end() const { return passages_.end(); }

  // Internal index of passage `id`, or nullopt.
  std::optional<size_t> find(const std::string& id) const { return ids_.find(id); }
  // The text of passage `id`, or nullptr (answer matching's eval::AnswerMatcher::PassageText).
  const std::string* text_of(const std::string& id) const {
    const std::optional<size_t> index = find(id);
    return index ? &passages_[*index].text : nullptr;
  }
  // Internal index of passage `id`; throws DataError "unknown passage id 'X' (context)", where
  // `context` says who asked, e.g. "qrels/test.tsv:12".
  size_t index_of(const std::string& id, const std::string& context) const {
    return ids_.index_of(id, context);
  }
  // Appends `passage` as index size(); `path` and `line` say where it was read (for the duplicate
  // message). Throws DataError when the id is already present, naming both lines.
  void add(Passage passage, const std::string& path = "", int64_t line = 0);
  void reserve(size_t n);

 private:
  std::vector<Passage> passages_;
  IdIndex ids_{"passage"};
};

// The queries of a query file, in file order.
class Queries {
 public:
  size_t size() const { return queries_.size(); }
  bool empty() const { return queries_.empty(); }
  const Query& operator[](size_t index) const { return queries_[index]; }
  std::vector<Query>::const_iterator begin() const { return queries_.begin(); }
  std::vector<Query>::const_iterator end() const { return queries_.end(); }

  std::optional<size_t> find(const std::string& id) const { return ids_.find(id); }
  // Throws DataError "unknown query id 'X' (context)".
  size_t index_of(const std::string& id, const std::string& context) const {
    return ids_.index_of(id, context);
  }
  // Appends `query` as index size(); throws DataError on a duplicate id, naming both lines.
  void add(Query query, const std::string& path = "", int64_t line = 0);
  void reserve(size_t n);

 private:
  std::vector<Query> queries_;
  IdIndex ids_{"query"};
};

}  // namespace dgr::data
