// Fuzzes the TREC run reader (data/trec.h). Property: an accepted run written back with
// eval::write_trec_run (core/eval/run_io.h) reads again to the same queries, passages and scores
// in the same order, since runs are passed between stages as files.
#include <string>

#include "core/eval/run_io.h"
#include "data/trec.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = dgr::fuzz::write_scratch(
      "run.trec", std::string_view(reinterpret_cast<const char*>(data), size));

  dgr::eval::Run run;
  if (!dgr::fuzz::accepts([&] { run = dgr::data::read_trec_run(path); })) return 0;
  FUZZ_CHECK(run.size() > 0);
  const std::string copy = dgr::fuzz::scratch_dir() + "/copy.trec";
  // The writer checks what the reader does not (e.g. whitespace-like bytes in the tag): a clean
  // rejection there is allowed, a silent change is not.
  if (!dgr::fuzz::accepts([&] { dgr::eval::write_trec_run(copy, run); })) return 0;
  const dgr::eval::Run again = dgr::data::read_trec_run(copy);
  FUZZ_CHECK(again.tag == run.tag);
  FUZZ_CHECK(again.by_query.size() == run.by_query.size());
  for (const auto& [query, entries] : run.by_query) {
    auto it = again.by_query.find(query);
    FUZZ_CHECK(it != again.by_query.end());
    FUZZ_CHECK(it->second.size() == entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      FUZZ_CHECK(it->second[i].passage_id == entries[i].passage_id);
      FUZZ_CHECK(it->second[i].score == entries[i].score);
      FUZZ_CHECK(it->second[i].rank == static_cast<int>(i + 1));
    }
  }
  return 0;
}
