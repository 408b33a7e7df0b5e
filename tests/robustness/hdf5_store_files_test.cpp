// Bad HDF5 stores (data/hdf5_file): the distillation set (data/distill_set) and the stage-1
// example store (data/stage1_examples). Each store is written with the project's own writer,
// then damaged: cut at a dozen lengths, overwritten with garbage, replaced by a text file, an
// empty file or a directory, or rewritten dataset by dataset with one dataset or attribute
// changed (NaN and infinite scores, impossible labels, views, counts and tokens, wrong element
// types and shapes, a missing dataset, duplicate query ids, a hash that disagrees). Each must be
// a DataError naming the file (and the dataset or attribute where one is at fault); a file that
// cannot be opened is an IoError.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "data/distill_set.h"
#include "data/hdf5_file.h"
#include "data/stage1_examples.h"
#include "tests/robustness/bad_files.h"

namespace dgr::robustness {
namespace {

using data::h5::Dataset;
using data::h5::File;

const Expect kData = Expect::kDataError;

// Copies every dataset of `from` (named in `names`) and every root attribute into a new file
// `to`; `change(name, dataset, out)` may write a dataset its own way (returning true), which
// includes not writing it at all. Datasets keep their element type and shape.
using Change = std::function<bool(const std::string& name, const Dataset& dataset, File& out)>;
void rewrite(const std::string& from, const std::string& to, const std::vector<std::string>& names,
             const std::map<std::string, std::string>& attribute_changes, const Change& change) {
  const File in = File::open(from);
  File out = File::create(to);
  for (const auto& [key, value] : in.attributes()) {
    auto changed = attribute_changes.find(key);
    if (changed == attribute_changes.end()) {
      out.set_attribute(key, value);
    } else if (changed->second != "<none>") {
      out.set_attribute(key, changed->second);
    }
  }
  for (const std::string& name : names) {
    const Dataset d = in.dataset(name);
    if (change && change(name, d, out)) continue;
    const std::string type = d.type_name();
    if (d.is_string()) {
      out.write_strings(name, d.read_strings());
    } else if (type == "int8") {
      out.write(name, d.read_all<int8_t>(), d.dims());
    } else if (type == "uint8") {
      out.write(name, d.read_all<uint8_t>(), d.dims());
    } else if (type == "int32") {
      out.write(name, d.read_all<int32_t>(), d.dims());
    } else if (type == "int64") {
      out.write(name, d.read_all<int64_t>(), d.dims());
    } else if (type == "float32") {
      out.write(name, d.read_all<float>(), d.dims());
    } else {
      ADD_FAILURE() << "cannot copy dataset " << name << " of type " << type;
    }
  }
  out.close();
}

// A change that replaces dataset `target` by `values` (of the same shape unless `dims` says).
template <typename T>
Change replace_with(const std::string& target, std::vector<T> values,
                    std::vector<uint64_t> dims = {}) {
  return [=](const std::string& name, const Dataset& d, File& out) {
    if (name != target) return false;
    out.write(name, values, dims.empty() ? d.dims() : dims);
    return true;
  };
}

// A change that sets element `index` of float dataset `target` to `value`.
Change set_float(const std::string& target, size_t index, float value) {
  return [=](const std::string& name, const Dataset& d, File& out) {
    if (name != target) return false;
    std::vector<float> values = d.read_all<float>();
    values.at(index) = value;
    out.write(name, values, d.dims());
    return true;
  };
}

template <typename T>
Change set_int(const std::string& target, size_t index, T value) {
  return [=](const std::string& name, const Dataset& d, File& out) {
    if (name != target) return false;
    std::vector<T> values = d.read_all<T>();
    values.at(index) = value;
    out.write(name, values, d.dims());
    return true;
  };
}

Change drop(const std::string& target) {
  return [=](const std::string& name, const Dataset&, File&) { return name == target; };
}

// Cuts, garbage, non-HDF5 files: every one a DataError naming the file (IoError when absent).
void damage_bytes(const std::string& good, const std::function<void(const std::string&)>& read) {
  const uintmax_t size = fs::file_size(good);
  for (uintmax_t cut : {uintmax_t{0}, uintmax_t{7}, uintmax_t{8}, uintmax_t{64}, uintmax_t{512},
                        size / 8, size / 4, size / 2, size * 3 / 4, size - 100, size - 1}) {
    SCOPED_TRACE("cut at " + std::to_string(cut) + " of " + std::to_string(size));
    const std::string path = scratch_dir() + "/cut-" + std::to_string(cut) + ".h5";
    copy_truncated(good, path, cut);
    expect_outcome([&] { read(path); }, kData, {path});
  }
  for (uintmax_t at : {uintmax_t{0}, uintmax_t{8}, size / 3, size / 2}) {
    SCOPED_TRACE("garbage at " + std::to_string(at));
    const std::string path = scratch_dir() + "/garbage-" + std::to_string(at) + ".h5";
    fs::copy_file(good, path, fs::copy_options::overwrite_existing);
    overwrite(path, at, std::min<uintmax_t>(size - at, size / 2), '\xA5');
    expect_outcome([&] { read(path); }, kData, {path});
  }
  const std::string text = write_bytes("text.h5", "query-id\tcorpus-id\tscore\n");
  expect_outcome([&] { read(text); }, kData, {text, "not an HDF5 file"});
  const std::string signature_only =
      write_bytes("signature.h5", std::string("\x89HDF\r\n\x1a\n", 8) + std::string(200, '\0'));
  expect_outcome([&] { read(signature_only); }, kData, {signature_only});
  const std::string dir = scratch_dir() + "/directory.h5";
  fs::create_directories(dir);
  expect_outcome([&] { read(dir); }, Expect::kIoError, {dir});
  const std::string absent = scratch_dir() + "/absent.h5";
  expect_outcome([&] { read(absent); }, Expect::kIoError, {absent});
}

// ---------------------------------------------------------------------------------------------
// The distillation set

const std::vector<std::string> kDistillDatasets = {
    "query_id",   "query",         "cand/passage",      "cand/teacher_score", "cand/student_score",
    "cand/label", "keys/offset",   "keys/token_offset", "keys/len",           "keys/count",
    "keys/view",  "keys/log_prob", "keys/tokens"};

// Two queries, M = 3: q0 has two candidates with keys, q1 one candidate and a padding slot.
std::string write_distill(const std::string& name) {
  data::DistillSetMeta meta;
  meta.teacher = "bm25";
  meta.corpus_hash = std::string(64, 'c');
  meta.index_hash = std::string(64, 'i');
  meta.config_hash = std::string(64, 'f');
  meta.created = "2024-01-01T00:00:00Z";
  meta.candidates_per_query = 3;
  meta.max_keys_per_candidate = 4;
  auto key = [](search::View view, std::vector<int32_t> tokens) {
    data::DistillKey k;
    k.view = view;
    k.tokens = std::move(tokens);
    k.count = 3;
    k.log_prob = -1.5f;
    return k;
  };
  std::vector<data::DistillQuery> queries(2);
  queries[0].query_id = "q0";
  queries[0].query = "first query";
  queries[0].candidates = {
      {5, 2.0f, 1.0f, 1, {key(search::View::kTitle, {1, 2}), key(search::View::kBody, {3})}},
      {7, 1.0f, 0.5f, 0, {key(search::View::kBody, {4, 5, 6})}}};
  queries[1].query_id = "q1";
  queries[1].query = "second query";
  queries[1].candidates = {{3, 0.5f, 0.1f, -1, {}}};
  const std::string path = scratch_dir() + "/" + name;
  data::write_distill_set(path, meta, queries);
  return path;
}

void read_distill(const std::string& path) {
  const data::DistillSetFile file = data::DistillSetFile::open(path);
  file.read(0, file.size());
  file.summaries(1);
  file.find("q0");
}

TEST(DistillSetFiles, DamagedBytes) {
  const std::string good = write_distill("good.h5");
  expect_outcome([&] { read_distill(good); }, Expect::kAccepted, {});
  damage_bytes(good, read_distill);
}

TEST(DistillSetFiles, DamagedContent) {
  const std::string good = write_distill("good.h5");
  struct ContentCase {
    std::string name;
    std::map<std::string, std::string> attributes;
    Change change;
    std::vector<std::string> parts;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<ContentCase> cases = {
      {"nan-teacher-score",
       {},
       set_float("cand/teacher_score", 1, nan),
       {"'cand/teacher_score' holds a non-finite score at row 0, candidate 1"}},
      {"inf-teacher-score",
       {},
       set_float("cand/teacher_score", 0, inf),
       {"'cand/teacher_score' holds a non-finite score"}},
      {"negative-inf-student-score",
       {},
       set_float("cand/student_score", 3, -inf),
       {"'cand/student_score' holds a non-finite score at row 1, candidate 0"}},
      {"nan-log-prob", {}, set_float("keys/log_prob", 2, nan), {"'keys/log_prob' holds NaN"}},
      {"label-below-minus-one",
       {},
       set_int<int8_t>("cand/label", 0, -5),
       {"'cand/label' holds -5"}},
      {"labelled-padding",
       {},
       set_int<int8_t>("cand/label", 5, 2),
       {"'cand/label' labels a padding slot"}},
      {"negative-passage",
       {},
       set_int<int64_t>("cand/passage", 1, -7),
       {"'cand/passage' holds -7"}},
      {"padding-slot-with-keys",
       {},
       set_int<int64_t>("cand/passage", 0, -1),
       {"'keys/offset' gives keys to a padding slot at row 0, candidate 0"}},
      {"candidate-after-padding",
       {},
       set_int<int64_t>("cand/passage", 5, 9),
       {"'cand/passage' has a candidate after padding"}},
      {"unknown-view", {}, set_int<int8_t>("keys/view", 1, 3), {"'keys/view' holds 3"}},
      {"negative-count", {}, set_int<int64_t>("keys/count", 0, -1), {"'keys/count' holds -1"}},
      {"negative-token",
       {},
       set_int<int32_t>("keys/tokens", 0, -9),
       {"'keys/tokens' holds token id -9"}},
      {"zero-length-key", {}, set_int<int32_t>("keys/len", 1, 0), {"'keys/len' holds 0"}},
      {"empty-query-id",
       {},
       [](const std::string& name, const Dataset&, File& out) {
         if (name != "query_id") return false;
         out.write_strings(name, {"", "q1"});
         return true;
       },
       {"'query_id' holds an empty id at row 0"}},
      {"duplicate-query-id",
       {},
       [](const std::string& name, const Dataset&, File& out) {
         if (name != "query_id") return false;
         out.write_strings(name, {"q0", "q0"});
         return true;
       },
       {"'query_id' holds 'q0' at rows 0 and 1"}},
      {"scores-as-float64",
       {},
       [](const std::string& name, const Dataset& d, File& out) {
         if (name != "cand/teacher_score") return false;
         const auto values = d.read_all<float>();
         out.write(name, std::vector<double>(values.begin(), values.end()), d.dims());
         return true;
       },
       {"'cand/teacher_score' has type float64, expected float32"}},
      {"tokens-as-int64",
       {},
       [](const std::string& name, const Dataset& d, File& out) {
         if (name != "keys/tokens") return false;
         const auto values = d.read_all<int32_t>();
         out.write(name, std::vector<int64_t>(values.begin(), values.end()), d.dims());
         return true;
       },
       {"'keys/tokens' has type int64"}},
      {"query-id-as-numbers", {}, replace_with<int32_t>("query_id", {0, 1}), {"'query_id'"}},
      {"flat-passages",
       {},
       replace_with<int64_t>("cand/passage", {5, 7, -1, 3, -1, -1}, {6}),
       {"'cand/passage' has shape [6], expected [2, 3]"}},
      {"passages-for-three-queries",
       {},
       replace_with<int64_t>("cand/passage", {5, 7, -1, 3, -1, -1, 1, -1, -1}, {3, 3}),
       {"'cand/passage' has shape [3, 3], expected [2, 3]"}},
      {"missing-labels", {}, drop("cand/label"), {"missing dataset 'cand/label'"}},
      {"missing-tokens", {}, drop("keys/tokens"), {"missing dataset 'keys/tokens'"}},
      {"offsets-past-the-keys", {}, set_int<int64_t>("keys/offset", 6, 9), {"'keys/offset'"}},
      {"missing-format-version",
       {{"format_version", "<none>"}},
       nullptr,
       {"missing attribute 'format_version'"}},
      {"newer-format-version", {{"format_version", "2"}}, nullptr, {"format_version '2'"}},
      {"m-is-a-word",
       {{"candidates_per_query", "three"}},
       nullptr,
       {"'candidates_per_query' is 'three'"}},
      {"m-is-negative", {{"candidates_per_query", "-3"}}, nullptr, {"candidates_per_query"}},
      {"num-queries-off", {{"num_queries", "3"}}, nullptr, {"expected [3]"}},
      {"num-queries-beyond-int64",
       {{"num_queries", "99999999999999999999"}},
       nullptr,
       {"num_queries"}},
      {"missing-teacher", {{"teacher", "<none>"}}, nullptr, {"missing attribute 'teacher'"}},
  };
  for (const ContentCase& c : cases) {
    SCOPED_TRACE("case '" + c.name + "'");
    const std::string path = scratch_dir() + "/" + c.name + ".h5";
    rewrite(good, path, kDistillDatasets, c.attributes, c.change);
    std::vector<std::string> parts = c.parts;
    parts.insert(parts.begin(), path);
    expect_outcome([&] { read_distill(path); }, kData, parts);
  }
}

TEST(DistillSetFiles, HashesAndIds) {
  const std::string path = write_distill("good.h5");
  const data::DistillSetFile file = data::DistillSetFile::open(path);
  expect_outcome([&] { file.check_hashes(std::string(64, 'x'), std::string(64, 'i')); }, kData,
                 {path, "another corpus"});
  expect_outcome([&] { file.check_hashes(std::string(64, 'c'), std::string(64, 'x')); }, kData,
                 {path, "another index"});
  expect_outcome([&] { file.check_hashes(std::string(64, 'c'), std::string(64, 'i')); },
                 Expect::kAccepted, {});
  // An unknown query id is not in the set: no error, no row.
  EXPECT_FALSE(file.find("no-such-query").has_value());
  expect_outcome([&] { file.read(1, 5); }, kData, {path, "out of range"});
}

// ---------------------------------------------------------------------------------------------
// The stage-1 example store

const std::vector<std::string> kStage1Datasets = {
    "source_id",     "view",          "supervised",    "source/offset", "source/tokens",
    "prompt/offset", "prompt/tokens", "target/offset", "target/tokens"};

std::string write_stage1(const std::string& name) {
  std::vector<data::Stage1Example> examples(3);
  examples[0] = {"q1", search::View::kTitle, true, {1, 2, 3}, {0}, {7, 8}};
  examples[1] = {"q1", search::View::kBody, true, {1, 2, 3}, {}, {9}};
  examples[2] = {"d4", search::View::kPseudoQuery, false, {4, 5}, {6}, {10, 11, 12}};
  const std::string path = scratch_dir() + "/" + name;
  data::write_stage1_examples(path, examples, {{"tokenizer_hash", "t"}});
  return path;
}

void read_stage1(const std::string& path) {
  const data::Stage1ExampleFile file = data::Stage1ExampleFile::open(path);
  file.read({0, 1, 2});
  file.supervised_rows();
}

TEST(Stage1StoreFiles, DamagedBytes) {
  const std::string good = write_stage1("good.h5");
  expect_outcome([&] { read_stage1(good); }, Expect::kAccepted, {});
  damage_bytes(good, read_stage1);
}

TEST(Stage1StoreFiles, DamagedContent) {
  const std::string good = write_stage1("good.h5");
  struct ContentCase {
    std::string name;
    std::map<std::string, std::string> attributes;
    Change change;
    std::vector<std::string> parts;
  };
  const std::vector<ContentCase> cases = {
      {"unknown-view", {}, set_int<uint8_t>("view", 2, 9), {"'view'", "9"}},
      {"negative-source-token", {}, set_int<int32_t>("source/tokens", 1, -4), {"source/tokens"}},
      {"negative-target-token", {}, set_int<int32_t>("target/tokens", 0, -1), {"target/tokens"}},
      {"offsets-decreasing", {}, set_int<int64_t>("source/offset", 2, 1), {"source/offset"}},
      {"offsets-past-the-tokens", {}, set_int<int64_t>("target/offset", 3, 99), {"target/offset"}},
      {"short-supervised-flags",
       {},
       replace_with<uint8_t>("supervised", {1, 1}, {2}),
       {"'supervised'", "2 rows"}},
      {"missing-target-tokens", {}, drop("target/tokens"), {"missing dataset 'target/tokens'"}},
      {"view-as-float",
       {},
       [](const std::string& name, const Dataset& d, File& out) {
         if (name != "view") return false;
         const auto values = d.read_all<uint8_t>();
         out.write(name, std::vector<float>(values.begin(), values.end()), d.dims());
         return true;
       },
       {"'view'"}},
      {"missing-format-version",
       {{"format_version", "<none>"}},
       nullptr,
       {"missing attribute 'format_version'"}},
      {"newer-format-version", {{"format_version", "9"}}, nullptr, {"format_version '9'"}},
  };
  for (const ContentCase& c : cases) {
    SCOPED_TRACE("case '" + c.name + "'");
    const std::string path = scratch_dir() + "/" + c.name + ".h5";
    rewrite(good, path, kStage1Datasets, c.attributes, c.change);
    std::vector<std::string> parts = c.parts;
    parts.insert(parts.begin(), path);
    expect_outcome([&] { read_stage1(path); }, kData, parts);
  }
}

}  // namespace
}  // namespace dgr::robustness
