// Fuzzes the JSON-lines readers: BEIR corpus.jsonl and queries.jsonl (data/beir.h), answers and
// pseudo-queries (data/answers.h), all on the same bytes. Property: every accepted record has a
// non-empty id without whitespace, and ids are unique within a file.
#include <set>
#include <string>

#include "data/answers.h"
#include "data/beir.h"
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
  return 0;
}
