#include "data/stage_outputs.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/util/error.h"
#include "core/util/files.h"

namespace dgr::data {
namespace {

constexpr int kFormat = 1;

}  // namespace

std::string retrieval_manifest_path(const std::string& dir) {
  return (std::filesystem::path(dir) / "outputs.json").string();
}

void write_retrieval_manifest(const std::string& dir, const RetrievalManifest& o) {
  const nlohmann::json j = {{"stage", "retrieve"},  {"format", kFormat},        {"run", o.run},
                            {"keys", o.keys},       {"index_dir", o.index_dir}, {"model", o.model},
                            {"queries", o.queries}, {"retrieved", o.retrieved}};
  write_file_atomic(retrieval_manifest_path(dir), j.dump(2) + "\n");
}

RetrievalManifest read_retrieval_manifest(const std::string& dir) {
  const std::string path = retrieval_manifest_path(dir);
  if (!file_exists(path)) {
    throw IoError(path + " does not exist: " + dir +
                  " is not the output directory of `dgr retrieve` (or of an older dgr: run "
                  "`dgr retrieve` again)");
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {  // parse errors, numbers out of range
    throw DataError(path + ": not JSON (" + e.what() + ")");
  }
  auto field = [&](const char* key) -> const nlohmann::json& {
    if (!j.is_object() || !j.contains(key)) {
      throw DataError(path + ": missing field '" + std::string(key) +
                      "' (expected the outputs manifest of `dgr retrieve`)");
    }
    return j.at(key);
  };
  auto text = [&](const char* key) {
    const nlohmann::json& v = field(key);
    if (!v.is_string()) {
      throw DataError(path + ": field '" + std::string(key) + "' must be a string, found " +
                      v.type_name());
    }
    return v.get<std::string>();
  };
  if (text("stage") != "retrieve") {
    throw DataError(path + ": field 'stage' is '" + j.at("stage").get<std::string>() +
                    "', expected 'retrieve'");
  }
  const nlohmann::json& format = field("format");
  if (!format.is_number_integer() || format.get<int64_t>() != kFormat) {
    throw DataError(path + ": field 'format' is " + format.dump() + ", this dgr reads format " +
                    std::to_string(kFormat));
  }
  RetrievalManifest o;
  o.run = text("run");
  o.keys = text("keys");
  o.index_dir = text("index_dir");
  o.model = text("model");
  o.queries = text("queries");
  const nlohmann::json& retrieved = field("retrieved");
  if (!retrieved.is_number_integer() || retrieved.get<int64_t>() < 0) {
    throw DataError(path + ": field 'retrieved' must be a count, found " + retrieved.dump());
  }
  o.retrieved = retrieved.get<int64_t>();
  if (o.run.empty()) throw DataError(path + ": field 'run' is empty");
  if (o.index_dir.empty()) throw DataError(path + ": field 'index_dir' is empty");
  return o;
}

}  // namespace dgr::data
