// What a stage hands to the next, as a small typed manifest it writes beside its outputs: the
// paths and facts the next stage needs, so that no stage re-reads another's configuration.
//
// `dgr retrieve` writes <run.out>/outputs.json:
//   {"stage": "retrieve", "format": 1, "run": <TREC run>, "keys": <keys.jsonl or "">,
//    "index_dir": <index it searched>, "model": <model it ran>, "queries": <query file>,
//    "retrieved": <queries retrieved>}
// `dgr teacher rank` reads it from teacher.candidates_dir. No torch here.
#pragma once

#include <cstdint>
#include <string>

namespace dgr::data {

struct RetrievalManifest {
  std::string run;        // the TREC run: the candidates and their scores
  std::string keys;       // keys.jsonl (retrieve.dump_keys), "" when not dumped
  std::string index_dir;  // the index the candidates come from
  std::string model;      // the model that retrieved them
  std::string queries;    // the query file
  int64_t retrieved = 0;  // queries retrieved
};

// The manifest's path in a retrieval output directory.
std::string retrieval_manifest_path(const std::string& dir);

// Writes dir/outputs.json atomically. IoError when it cannot.
void write_retrieval_manifest(const std::string& dir, const RetrievalManifest& outputs);

// Reads dir/outputs.json. IoError naming the file when it is missing (with what to run),
// DataError naming the file and the field when it is not such a manifest.
RetrievalManifest read_retrieval_manifest(const std::string& dir);

}  // namespace dgr::data
