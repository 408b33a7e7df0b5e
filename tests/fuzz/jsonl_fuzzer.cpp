// Fuzzes the JSON-lines readers: BEIR corpus.jsonl and queries.jsonl (data/beir.h), answers and
// pseudo-queries (data/answers.h), all on the same bytes, and the id scan of keys.jsonl lines
// (data/jsonl.h). Properties: every accepted record has a non-empty id without whitespace, and ids
// are unique within a file; a line the full parse takes an id from scans to an id too (the same
// one unless the line names the key twice: the scan takes the first, the parse the last; the
// scan reads only as far as the id, so it may take lines the full parse refuses).
#include <set>
#include <string>

#include "data/answers.h"
#include "data/beir.h"
#include "data/jsonl.h"
#include "data/line_reader.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = dgr::fuzz::write_scratch(
      "records.jsonl", std::string_view(reinterpret_cast<const char*>(data), size));

  dgr::fuzz::accepts([&] {
    const dgr::data::Corpus corpus = dgr::data::read_beir_corpus(path);
    std::set<std::string> ids;
    for (const dgr::data::Passage& passage : corpus) {
      FUZZ_CHECK(dgr::fuzz::valid_id(passage.id));
      FUZZ_CHECK(ids.insert(passage.id).second);
    }
    FUZZ_CHECK(corpus.size() > 0);
  });
  dgr::fuzz::accepts([&] {
    const dgr::data::Queries queries = dgr::data::read_beir_queries(path);
    FUZZ_CHECK(queries.size() > 0);
  });
  dgr::fuzz::accepts([&] {
    for (const auto& [id, answers] : dgr::data::read_answers(path))
      FUZZ_CHECK(dgr::fuzz::valid_id(id));
  });
  dgr::fuzz::accepts([&] { dgr::data::read_pseudo_queries(path); });
  dgr::fuzz::accepts([&] {
    dgr::data::LineReader reader(path);
    std::string line;
    while (reader.next(line)) {
      const bool full = dgr::fuzz::accepts([&] {
        dgr::data::json_id(reader, dgr::data::parse_json_object(reader, line), "query_id",
                           "query id");
      });
      std::string scanned;
      const bool scan = dgr::fuzz::accepts(
          [&] { scanned = dgr::data::scan_json_id(reader, line, "query_id", "query id"); });
      if (full) FUZZ_CHECK(scan);
      if (scan) FUZZ_CHECK(dgr::fuzz::valid_id(scanned));
    }
  });
  return 0;
}
