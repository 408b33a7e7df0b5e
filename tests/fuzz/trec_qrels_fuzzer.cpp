// Fuzzes the TREC qrels reader (data/trec.h) and the BEIR/TREC detection of data/dataset.h.
// Property: accepted ids are non-empty and free of whitespace and every judgment is counted.
#include <string>

#include "data/dataset.h"
#include "data/trec.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = dgr::fuzz::write_scratch(
      "qrels.txt", std::string_view(reinterpret_cast<const char*>(data), size));

  dgr::fuzz::accepts([&] {
    const dgr::eval::Qrels qrels = dgr::data::read_trec_qrels(path);
    size_t judgments = 0;
    for (const auto& [query, judged] : qrels.by_query) {
      FUZZ_CHECK(dgr::fuzz::valid_id(query));
      for (const auto& [passage, grade] : judged) {
        FUZZ_CHECK(dgr::fuzz::valid_id(passage));
        FUZZ_CHECK(qrels.grade(query, passage, -12345) == grade);
        ++judgments;
      }
    }
    FUZZ_CHECK(judgments == qrels.size() && judgments > 0);
  });
  dgr::fuzz::accepts([&] { dgr::data::read_qrels(path); });
  return 0;
}
