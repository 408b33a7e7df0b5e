#include "data/tsv_corpus.h"

#include <optional>
#include <utility>
#include <vector>

#include "data/fields.h"
#include "data/line_reader.h"

namespace dgr::data {
namespace {

constexpr const char* kDprExpected = "the header 'id<TAB>text<TAB>title' then one passage per line";
constexpr const char* kMsMarcoExpected = "one passage 'pid<TAB>text' per line";
constexpr const char* kQueriesExpected = "one query 'qid<TAB>text' per line";

// Splits a line written by Python's csv writer with delimiter '\t': a field that starts with '"'
// runs to the next '"' not doubled, and "" inside it stands for '"'. Throws DataError on an
// unterminated quote or text after a closing quote.
std::vector<std::string> split_csv_tabs(const LineReader& reader, const std::string& line) {
  std::vector<std::string> fields;
  size_t i = 0;
  while (true) {
    std::string field;
    if (i < line.size() && line[i] == '"') {
      const size_t column = i + 1;
      ++i;
      while (true) {
        if (i >= line.size()) {
          throw reader.error("unterminated quoted field starting at byte column " +
                             std::to_string(column));
        }
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += line[i++];
      }
      if (i < line.size() && line[i] != '\t') {
        throw reader.error("unexpected text after the closing quote at byte column " +
                           std::to_string(i + 1));
      }
    } else {
      const size_t tab = line.find('\t', i);
      field = line.substr(i, tab == std::string::npos ? std::string::npos : tab - i);
      i = tab == std::string::npos ? line.size() : tab;
    }
    fields.push_back(std::move(field));
    if (i >= line.size()) return fields;
    ++i;  // the tab
    if (i == line.size()) {
      fields.emplace_back();  // a trailing tab ends with an empty field
      return fields;
    }
  }
}

void read_dpr(const std::string& path, const std::function<void(Passage&&, int64_t)>& fn,
              const RecordFilter& want) {
  LineReader reader(path);
  std::string line;
  bool header_seen = false;
  size_t records = 0;
  while (reader.next(line)) {
    if (is_blank(line)) continue;
    if (!header_seen) {
      if (!is_dpr_header(line)) {
        throw reader.error("expected the DPR header 'id<TAB>text<TAB>title', found " +
                           quote_field(line));
      }
      header_seen = true;
      continue;
    }
    if (skip_record(want, records)) continue;
    std::vector<std::string> fields = split_csv_tabs(reader, line);
    if (fields.size() != 3) {
      throw reader.error("expected 3 tab-separated columns 'id<TAB>text<TAB>title', found " +
                         std::to_string(fields.size()));
    }
    check_id(reader, fields[0], "passage id");
    fn(Passage{std::move(fields[0]), std::move(fields[2]), std::move(fields[1])},
       reader.line_number());
    ++records;
  }
  if (records == 0) throw_no_records(reader, kDprExpected, header_seen);
}

// "id<TAB>text" lines without header or quoting (MS MARCO collection and queries).
void read_id_text(const std::string& path, const char* id_what, const char* expected,
                  const std::function<void(std::string&&, std::string&&, int64_t)>& fn,
                  const RecordFilter& want = nullptr) {
  LineReader reader(path);
  std::string line;
  size_t records = 0;
  while (reader.next(line)) {
    if (is_blank(line)) continue;
    if (skip_record(want, records)) continue;
    const auto fields = split_tabs(line);
    if (fields.size() != 2) {
      std::string message = "expected 2 tab-separated columns, found " +
                            std::to_string(fields.size()) + "; expected " + expected;
      if (records == 0 && is_dpr_header(line)) message += " (this is a DPR header: use format dpr)";
      throw reader.error(message);
    }
    check_id(reader, fields[0], id_what);
    fn(std::string(fields[0]), std::string(fields[1]), reader.line_number());
    ++records;
  }
  if (records == 0) throw_no_records(reader, expected);
}

}  // namespace

bool is_dpr_header(const std::string& line) {
  return line == "id\ttext\ttitle";
}

void for_each_tsv_passage(const std::string& path, TsvCorpusFormat format,
                          const std::function<void(Passage&&, int64_t)>& fn,
                          const RecordFilter& want) {
  if (format == TsvCorpusFormat::kDpr) {
    read_dpr(path, fn, want);
    return;
  }
  read_id_text(
      path, "passage id", kMsMarcoExpected,
      [&](std::string&& id, std::string&& text, int64_t line) {
        fn(Passage{std::move(id), "", std::move(text)}, line);
      },
      want);
}

Corpus read_tsv_corpus(const std::string& path, TsvCorpusFormat format) {
  Corpus corpus;
  for_each_tsv_passage(path, format, [&](Passage&& passage, int64_t line) {
    corpus.add(std::move(passage), path, line);
  });
  return corpus;
}

Queries read_tsv_queries(const std::string& path) {
  Queries queries;
  read_id_text(path, "query id", kQueriesExpected,
               [&](std::string&& id, std::string&& text, int64_t line) {
                 queries.add(Query{std::move(id), std::move(text)}, path, line);
               });
  return queries;
}

}  // namespace dgr::data
