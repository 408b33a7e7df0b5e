// Fuzzes the tab-separated readers on the same bytes: BEIR qrels (data/beir.h), DPR and MS MARCO
// corpora and "qid<TAB>text" queries (data/tsv_corpus.h), and the format sniffing of
// data/dataset.h. Property: accepted ids are non-empty and free of whitespace.
#include <string>

#include "data/beir.h"
#include "data/dataset.h"
#include "data/tsv_corpus.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = dgr::fuzz::write_scratch(
      "records.tsv", std::string_view(reinterpret_cast<const char*>(data), size));

  dgr::fuzz::accepts([&] {
    for (const auto& [query, judged] : dgr::data::read_beir_qrels(path).by_query) {
      FUZZ_CHECK(dgr::fuzz::valid_id(query));
      for (const auto& [passage, grade] : judged)
        FUZZ_CHECK(dgr::fuzz::valid_id(passage));
    }
  });
  for (auto format : {dgr::data::TsvCorpusFormat::kDpr, dgr::data::TsvCorpusFormat::kMsMarco}) {
    dgr::fuzz::accepts([&] {
      for (const dgr::data::Passage& passage : dgr::data::read_tsv_corpus(path, format)) {
        FUZZ_CHECK(dgr::fuzz::valid_id(passage.id));
      }
    });
  }
  dgr::fuzz::accepts([&] { dgr::data::read_tsv_queries(path); });
  dgr::fuzz::accepts([&] { dgr::data::load_corpus(path, "auto"); });
  dgr::fuzz::accepts([&] { dgr::data::read_qrels(path); });
  return 0;
}
