// The distillation set store: write -> open -> read of any hyperslab of rows equals the queries in
// memory (padding candidates, candidates without keys, ragged keys, Unicode text, an empty set);
// the bytes depend on the content only; the writer refuses what the format cannot hold, naming
// the query; the reader names the file and the dataset for every malformed file it can meet
// (missing or mistyped datasets, wrong shapes, inconsistent offsets, bad values, truncated or
// corrupt bytes); hash checks say which hash differs; describe_query lists candidates in teacher
// order.
#include "data/distill_set.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/util/error.h"
#include "data/hdf5_file.h"
#include "tests/data/test_files.h"

namespace dgr::data {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::test_dir;

// Exact text of a record (floats as hex), for equality with a readable difference.
std::string dump(const DistillQuery& q) {
  std::ostringstream out;
  out << std::hexfloat << "id=" << q.query_id << " text=" << q.query << "\n";
  for (const DistillCandidate& c : q.candidates) {
    out << "  p=" << c.passage << " t=" << c.teacher_score << " s=" << c.student_score
        << " l=" << static_cast<int>(c.label) << "\n";
    for (const DistillKey& k : c.keys) {
      out << "    " << search::view_name(k.view) << " n=" << k.count << " lp=" << k.log_prob
          << " [";
      for (int32_t t : k.tokens)
        out << t << ",";
      out << "]\n";
    }
  }
  return out.str();
}

std::vector<std::string> dump(const std::vector<DistillQuery>& queries) {
  std::vector<std::string> out;
  for (const DistillQuery& q : queries)
    out.push_back(dump(q));
  return out;
}

DistillSetMeta test_meta(int64_t m = 6, int64_t max_keys = 5) {
  DistillSetMeta meta;
  meta.teacher = "run:teacher.trec";
  meta.corpus_hash = std::string(64, 'c');
  meta.index_hash = std::string(64, 'i');
  meta.config_hash = std::string(64, 'f');
  meta.created = "2024-05-01T12:00:00Z";
  meta.candidates_per_query = m;
  meta.max_keys_per_candidate = max_keys;
  meta.extra = {{"candidates", "stage1"}};
  return meta;
}

// Queries of every shape for M = meta.candidates_per_query: full and padded candidate lists
// (none at all included), candidates without keys, keys of 1..8 tokens, every view, unjudged and
// graded labels, negative scores, ids and texts of varying length with non-ASCII characters.
std::vector<DistillQuery> synthetic_queries(size_t n, const DistillSetMeta& meta, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> score(-20.0f, 20.0f);
  std::vector<DistillQuery> queries(n);
  for (size_t i = 0; i < n; ++i) {
    DistillQuery& q = queries[i];
    q.query_id = (i % 7 == 3 ? "qüery-" : "q") + std::to_string(i) + std::string(rng() % 4, 'x');
    q.query = i % 5 == 0 ? "" : "what is the ∂-operator of Ω " + std::to_string(rng() % 1000);
    if (i % 11 == 4) q.query += " 日本語のテキスト";
    const size_t cands =
        i % 9 == 2 ? 0 : static_cast<size_t>(rng() % (meta.candidates_per_query + 1));
    for (size_t j = 0; j < cands; ++j) {
      DistillCandidate c;
      c.passage = static_cast<int64_t>(rng() % 100000);
      c.teacher_score = score(rng);
      c.student_score = score(rng) * 10.0f;
      c.label = static_cast<int8_t>(static_cast<int>(rng() % 5) - 1);
      const size_t keys = rng() % (meta.max_keys_per_candidate + 1);
      for (size_t k = 0; k < keys; ++k) {
        DistillKey key;
        key.view = static_cast<search::View>(rng() % 3);
        key.tokens.resize(1 + rng() % 8);
        for (int32_t& t : key.tokens)
          t = static_cast<int32_t>(rng() % 50265);
        key.count = static_cast<int64_t>(rng() % 5000);
        key.log_prob = -static_cast<float>(rng() % 10000) / 100.0f;
        c.keys.push_back(std::move(key));
      }
      q.candidates.push_back(std::move(c));
    }
  }
  return queries;
}

std::string write_set(const std::vector<DistillQuery>& queries, const DistillSetMeta& meta,
                      const std::string& name = "set.h5", const DistillStoreOptions& options = {}) {
  const std::string path = test_dir() + "/" + name;
  write_distill_set(path, meta, queries, options);
  return path;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(DistillSet, RoundTripEqualsMemory) {
  const DistillSetMeta meta = test_meta();
  const auto queries = synthetic_queries(40, meta, 1);
  const std::string path = write_set(queries, meta);
  const DistillSetFile file = DistillSetFile::open(path);
  EXPECT_EQ(file.path(), path);
  ASSERT_EQ(file.size(), queries.size());
  EXPECT_EQ(dump(file.read(0, queries.size())), dump(queries));

  const DistillSetMeta& read = file.meta();
  EXPECT_EQ(read.teacher, meta.teacher);
  EXPECT_EQ(read.corpus_hash, meta.corpus_hash);
  EXPECT_EQ(read.index_hash, meta.index_hash);
  EXPECT_EQ(read.config_hash, meta.config_hash);
  EXPECT_EQ(read.created, meta.created);
  EXPECT_EQ(read.candidates_per_query, 6);
  EXPECT_EQ(read.max_keys_per_candidate, 5);
  EXPECT_EQ(read.extra, meta.extra);
}

TEST(DistillSet, EveryHyperslabOfRowsEqualsMemory) {
  const DistillSetMeta meta = test_meta(4, 3);
  const auto queries = synthetic_queries(25, meta, 2);
  // Small chunks: the rows of a slab cross chunk boundaries of every dataset.
  const std::string path = write_set(queries, meta, "set.h5", {512, 4});
  const DistillSetFile file = DistillSetFile::open(path);
  for (uint64_t first = 0; first <= queries.size(); ++first) {
    for (uint64_t count : {0, 1, 2, 7}) {
      if (first + count > queries.size()) continue;
      const std::vector<DistillQuery> expected(queries.begin() + first,
                                               queries.begin() + first + count);
      ASSERT_EQ(dump(file.read(first, count)), dump(expected)) << first << " + " << count;
    }
  }
}

// Scattered rows in any order, repeats included, come back as asked: the runs of consecutive
// rows cross chunk boundaries and each dataset is read once for all of them.
TEST(DistillSet, ScatteredRowsInAnyOrderEqualMemory) {
  const DistillSetMeta meta = test_meta(4, 3);
  const auto queries = synthetic_queries(25, meta, 3);
  const std::string path = write_set(queries, meta, "set.h5", {512, 4});
  const DistillSetFile file = DistillSetFile::open(path);
  for (const std::vector<uint64_t>& rows : std::vector<std::vector<uint64_t>>{
           {7, 2, 19, 2, 0, 24, 8, 9}, {24}, {3, 4, 5, 6}, {6, 5, 4, 3, 11, 12, 23, 22}, {}}) {
    std::vector<DistillQuery> expected;
    for (uint64_t row : rows)
      expected.push_back(queries[row]);
    ASSERT_EQ(dump(file.read(rows)), dump(expected)) << rows.size() << " rows";
  }
  std::vector<uint64_t> all(queries.size());
  std::iota(all.rbegin(), all.rend(), 0);  // every row, last first
  std::vector<DistillQuery> reversed(queries.rbegin(), queries.rend());
  EXPECT_EQ(dump(file.read(all)), dump(reversed));
  expect_error<DataError>(
      [&] {
        file.read(std::vector<uint64_t>{3, 25});
      },
      {path, "row 25 out of range (25 queries)"});
}

TEST(DistillSet, PaddingEmptyKeyListsAndUnicodeSurvive) {
  DistillSetMeta meta = test_meta(3, 2);
  DistillQuery q;
  q.query_id = "ü-1";
  q.query = "naïve café — 東京 🚀";
  DistillCandidate with_keys;
  with_keys.passage = 0;
  with_keys.teacher_score = 1.5f;
  with_keys.student_score = -3.25f;
  with_keys.label = 2;
  with_keys.keys = {{search::View::kTitle, {7, 8, 9}, 12, -0.5f},
                    {search::View::kBody, {4}, 1, -7}};
  DistillCandidate without_keys;
  without_keys.passage = 99;
  without_keys.teacher_score = -1;
  without_keys.label = -1;
  q.candidates = {with_keys, without_keys};  // one padding slot
  DistillQuery none;
  none.query_id = "empty";
  const std::string path = write_set({q, none}, meta);

  const DistillSetFile file = DistillSetFile::open(path);
  const auto rows = file.read(0, 2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].query, q.query);
  ASSERT_EQ(rows[0].candidates.size(), 2u);
  EXPECT_EQ(rows[0].candidates[0].keys.size(), 2u);
  EXPECT_EQ(rows[0].candidates[0].keys[0].tokens, (std::vector<int32_t>{7, 8, 9}));
  EXPECT_EQ(rows[0].candidates[0].keys[0].view, search::View::kTitle);
  EXPECT_TRUE(rows[0].candidates[1].keys.empty());
  EXPECT_EQ(rows[0].candidates[1].passage, 99);
  EXPECT_TRUE(rows[1].candidates.empty());
  EXPECT_EQ(rows[1].query, "");

  // On disk: the padding slot is passage −1, label −1, with an empty key range.
  h5::File raw = h5::File::open(path);
  EXPECT_EQ(raw.dataset("cand/passage").read_all<int64_t>(),
            (std::vector<int64_t>{0, 99, -1, -1, -1, -1}));
  EXPECT_EQ(raw.dataset("cand/label").read_all<int8_t>(),
            (std::vector<int8_t>{2, -1, -1, -1, -1, -1}));
  EXPECT_EQ(raw.dataset("keys/offset").read_all<int64_t>(),
            (std::vector<int64_t>{0, 2, 2, 2, 2, 2, 2}));
  EXPECT_EQ(raw.dataset("keys/token_offset").read_all<int64_t>(),
            (std::vector<int64_t>{0, 4, 4, 4, 4, 4, 4}));
  EXPECT_EQ(raw.dataset("keys/len").read_all<int32_t>(), (std::vector<int32_t>{3, 1}));
  EXPECT_EQ(raw.attribute("num_candidates"), "2");
  EXPECT_EQ(raw.attribute("num_keys"), "2");
  EXPECT_EQ(raw.attribute("num_tokens"), "4");
  EXPECT_EQ(raw.attribute("num_queries"), "2");
  EXPECT_EQ(raw.attribute("kind"), "dgr-distillation-set");
}

TEST(DistillSet, LayoutTypesShapesAndCompression) {
  const DistillSetMeta meta = test_meta(5, 4);
  const auto queries = synthetic_queries(12, meta, 3);
  const std::string path = write_set(queries, meta);
  h5::File raw = h5::File::open(path);
  struct Expected {
    const char* name;
    const char* type;
    std::vector<uint64_t> dims;
  };
  uint64_t keys = 0, tokens = 0;
  for (const auto& q : queries)
    for (const auto& c : q.candidates) {
      keys += c.keys.size();
      for (const auto& k : c.keys)
        tokens += k.tokens.size();
    }
  for (const Expected& e : std::vector<Expected>{{"query_id", "string", {12}},
                                                 {"query", "string", {12}},
                                                 {"cand/passage", "int64", {12, 5}},
                                                 {"cand/teacher_score", "float32", {12, 5}},
                                                 {"cand/student_score", "float32", {12, 5}},
                                                 {"cand/label", "int8", {12, 5}},
                                                 {"keys/offset", "int64", {61}},
                                                 {"keys/token_offset", "int64", {61}},
                                                 {"keys/len", "int32", {keys}},
                                                 {"keys/count", "int64", {keys}},
                                                 {"keys/view", "int8", {keys}},
                                                 {"keys/log_prob", "float32", {keys}},
                                                 {"keys/tokens", "int32", {tokens}}}) {
    const h5::Dataset d = raw.dataset(e.name);
    EXPECT_EQ(d.type_name(), e.type) << e.name;
    EXPECT_EQ(d.dims(), e.dims) << e.name;
    EXPECT_TRUE(d.is_compressed()) << e.name;
  }
  const std::string plain = write_set(queries, meta, "plain.h5", {1 << 16, 0});
  EXPECT_FALSE(h5::File::open(plain).dataset("keys/tokens").is_compressed());
  EXPECT_EQ(dump(DistillSetFile::open(plain).read(0, 12)), dump(queries));
}

TEST(DistillSet, EmptySetOpensWithNoRows) {
  const std::string path = write_set({}, test_meta());
  const DistillSetFile file = DistillSetFile::open(path);
  EXPECT_EQ(file.size(), 0u);
  EXPECT_TRUE(file.read(0, 0).empty());
  EXPECT_FALSE(file.find("q1").has_value());
}

TEST(DistillSet, FindsQueriesById) {
  const DistillSetMeta meta = test_meta();
  const auto queries = synthetic_queries(30, meta, 4);
  const DistillSetFile file = DistillSetFile::open(write_set(queries, meta));
  for (size_t i : {0, 3, 17, 29}) {
    ASSERT_EQ(file.row(queries[i].query_id), std::optional<uint64_t>(i));
    const auto found = file.find(queries[i].query_id);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(dump(*found), dump(queries[i]));
  }
  EXPECT_FALSE(file.find("no-such-query").has_value());
  EXPECT_FALSE(DistillSetFile().find("q1").has_value());
}

TEST(DistillSet, BytesDependOnContentOnly) {
  // No time is stored but the caller's `created`: writing again later gives the same bytes.
  const DistillSetMeta meta = test_meta();
  const auto queries = synthetic_queries(50, meta, 5);
  const std::string a = write_set(queries, meta, "a.h5");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const std::string b = write_set(queries, meta, "b.h5");
  EXPECT_EQ(file_bytes(a), file_bytes(b));
  DistillSetMeta later = meta;
  later.created = "2024-05-02T12:00:00Z";
  EXPECT_NE(file_bytes(write_set(queries, later, "c.h5")), file_bytes(a));
}

TEST(DistillSet, WritingReplacesAnOldFileAndLeavesNoTemporary) {
  const DistillSetMeta meta = test_meta();
  const std::string path = test_dir() + "/sub/dir/set.h5";
  write_distill_set(path, meta, synthetic_queries(5, meta, 6));
  write_distill_set(path, meta, synthetic_queries(3, meta, 7));
  EXPECT_EQ(DistillSetFile::open(path).size(), 3u);
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(test_dir() + "/sub/dir")) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1u);
}

// ---------------------------------------------------------------------------------------------
// What the writer refuses

TEST(DistillSet, WriterRefusesRecordsTheFormatCannotHold) {
  const DistillSetMeta meta = test_meta(2, 1);
  auto base = [] {
    DistillQuery q;
    q.query_id = "q7";
    q.query = "text";
    DistillCandidate c;
    c.passage = 3;
    c.keys = {{search::View::kBody, {5, 6}, 2, -1.0f}};
    q.candidates = {c};
    return q;
  };
  struct Case {
    std::string expected;
    std::function<void(DistillQuery&)> spoil;
  };
  const std::vector<Case> cases = {
      {"more than M = 2", [](DistillQuery& q) { q.candidates.resize(3, q.candidates[0]); }},
      {"passage index -4", [](DistillQuery& q) { q.candidates[0].passage = -4; }},
      {"teacher score is not finite",
       [](DistillQuery& q) { q.candidates[0].teacher_score = std::nanf(""); }},
      {"student score is not finite",
       [](DistillQuery& q) {
         q.candidates[0].student_score = std::numeric_limits<float>::infinity();
       }},
      {"label -2", [](DistillQuery& q) { q.candidates[0].label = -2; }},
      {"2 keys, more than 1",
       [](DistillQuery& q) { q.candidates[0].keys.push_back(q.candidates[0].keys[0]); }},
      {"key 0 has no tokens", [](DistillQuery& q) { q.candidates[0].keys[0].tokens.clear(); }},
      {"negative token id -1", [](DistillQuery& q) { q.candidates[0].keys[0].tokens[1] = -1; }},
      {"unknown view 5",
       [](DistillQuery& q) { q.candidates[0].keys[0].view = static_cast<search::View>(5); }},
      {"negative corpus count", [](DistillQuery& q) { q.candidates[0].keys[0].count = -1; }},
      {"log-probability is NaN",
       [](DistillQuery& q) { q.candidates[0].keys[0].log_prob = std::nanf(""); }},
      {"NUL byte in the text", [](DistillQuery& q) { q.query = std::string("a\0b", 3); }},
  };
  for (const Case& c : cases) {
    DistillQuery spoiled = base();
    c.spoil(spoiled);
    const std::string path = test_dir() + "/refused.h5";
    expect_error<DataError>(
        [&] {
          write_distill_set(path, meta, {base(), spoiled});
        },
        {path, "query 'q7' (row 1)", c.expected});
    EXPECT_FALSE(fs::exists(path)) << c.expected;
  }
  DistillQuery unnamed = base();
  unnamed.query_id = "";
  expect_error<DataError>([&] { write_distill_set(test_dir() + "/x.h5", meta, {unnamed}); },
                          {"row 0 has an empty id"});
}

TEST(DistillSet, WriterRefusesInvalidMetaAndSlices) {
  const std::string path = test_dir() + "/refused.h5";
  auto with = [](const std::function<void(DistillSetMeta&)>& change) {
    DistillSetMeta meta = test_meta();
    change(meta);
    return meta;
  };
  expect_error<ConfigError>(
      [&] { write_distill_set(path, with([](auto& m) { m.candidates_per_query = 0; }), {}); },
      {path, "M) must be at least 1"});
  expect_error<ConfigError>(
      [&] { write_distill_set(path, with([](auto& m) { m.created.clear(); }), {}); },
      {"creation time is empty"});
  expect_error<ConfigError>(
      [&] { write_distill_set(path, with([](auto& m) { m.teacher.clear(); }), {}); },
      {"teacher name is empty"});
  expect_error<ConfigError>(
      [&] { write_distill_set(path, with([](auto& m) { m.extra["num_keys"] = "3"; }), {}); },
      {"'num_keys'"});
  const DistillSetMeta meta = test_meta();
  const auto queries = synthetic_queries(3, meta, 8);
  expect_error<ConfigError>(
      [&] { write_distill_set(path, meta, queries, 1, 4, h5::WriterGroup::serial()); },
      {"must tile [0, 4) in rank order", "rank 0 starts at row 1"});
  expect_error<ConfigError>(
      [&] { write_distill_set(path, meta, queries, 0, 5, h5::WriterGroup::serial()); },
      {"hold 3 rows, not 5"});
  EXPECT_FALSE(fs::exists(path));
}

// ---------------------------------------------------------------------------------------------
// What the reader refuses

TEST(DistillSet, MissingOrNonHdf5FilesAreErrors) {
  const std::string absent = test_dir() + "/absent.h5";
  expect_error<IoError>([&] { DistillSetFile::open(absent); }, {absent});
  const std::string text = test::write_file("text.h5", "query-id\tcorpus-id\tscore\n");
  expect_error<DataError>([&] { DistillSetFile::open(text); }, {text, "not an HDF5 file"});

  const std::string other = test_dir() + "/other.h5";
  h5::File file = h5::File::create(other);
  file.write("x", std::vector<int32_t>{1});
  file.close();
  expect_error<DataError>([&] { DistillSetFile::open(other); },
                          {other, "missing attribute 'format_version'"});
}

TEST(DistillSet, TruncatedOrCorruptFilesAreDataErrors) {
  const DistillSetMeta meta = test_meta(20, 10);
  const auto queries = synthetic_queries(200, meta, 9);
  for (int deflate : {4, 0}) {
    const std::string path = write_set(queries, meta, "set-" + std::to_string(deflate) + ".h5",
                                       {size_t{16} << 10, deflate});
    const auto size = fs::file_size(path);
    for (double fraction : {0.9, 0.5, 0.01}) {
      const std::string cut = test_dir() + "/cut.h5";
      fs::copy_file(path, cut, fs::copy_options::overwrite_existing);
      fs::resize_file(cut, static_cast<uintmax_t>(static_cast<double>(size) * fraction));
      expect_error<DataError>([&] { DistillSetFile::open(cut).read(0, queries.size()); }, {cut});
    }
    const std::string corrupt = test_dir() + "/corrupt.h5";
    fs::copy_file(path, corrupt, fs::copy_options::overwrite_existing);
    {
      std::fstream out(corrupt, std::ios::in | std::ios::out | std::ios::binary);
      out.seekp(static_cast<std::streamoff>(size / 4));
      const std::string garbage(size / 2, '\xA5');
      out.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    }
    expect_error<DataError>([&] { DistillSetFile::open(corrupt).read(0, queries.size()); },
                            {corrupt});
  }
}

// A small set written dataset by dataset, so that one part of it can be wrong. Two queries,
// M = 2: q0 has passages 5 (keys of 2 and 1 tokens) and 7 (no keys); q1 has passage 3 (a key of
// 3 tokens) and a padding slot.
struct HandWritten {
  std::map<std::string, std::string> attributes = {{"format_version", "1"},
                                                   {"kind", "dgr-distillation-set"},
                                                   {"teacher", "bm25"},
                                                   {"corpus_hash", "c"},
                                                   {"index_hash", "i"},
                                                   {"config_hash", "f"},
                                                   {"created", "now"},
                                                   {"num_queries", "2"},
                                                   {"candidates_per_query", "2"},
                                                   {"max_keys_per_candidate", "4"}};
  std::vector<std::string> ids = {"q0", "q1"};
  std::vector<int64_t> passage = {5, 7, 3, -1};
  std::vector<float> teacher = {2, 1, 0.5f, 0};
  std::vector<int8_t> label = {1, -1, 0, -1};
  bool label_as_float = false;
  std::vector<int64_t> key_offset = {0, 2, 2, 3, 3};
  std::vector<int64_t> token_offset = {0, 3, 3, 6, 6};
  std::vector<int32_t> key_len = {2, 1, 3};
  std::vector<int8_t> key_view = {0, 1, 2};
  std::vector<int32_t> tokens = {1, 2, 3, 4, 5, 6};
  std::vector<uint64_t> passage_dims = {2, 2};
  std::string skip;  // a dataset not to write

  std::string write(const std::string& name) const {
    const std::string path = test_dir() + "/" + name;
    h5::File file = h5::File::create(path);
    for (const auto& [key, value] : attributes)
      file.set_attribute(key, value);
    auto put = [&](const std::string& dataset, const auto& values, std::vector<uint64_t> dims) {
      if (dataset != skip) file.write(dataset, values, dims);
    };
    if (skip != "query_id") file.write_strings("query_id", ids);
    if (skip != "query") file.write_strings("query", {"first", "second"});
    put("cand/passage", passage, passage_dims);
    put("cand/teacher_score", teacher, {2, 2});
    put("cand/student_score", std::vector<float>{1, 2, 3, 0}, {2, 2});
    if (label_as_float) {
      put("cand/label", std::vector<float>(label.begin(), label.end()), {2, 2});
    } else {
      put("cand/label", label, {2, 2});
    }
    put("keys/offset", key_offset, {});
    put("keys/token_offset", token_offset, {});
    put("keys/len", key_len, {});
    put("keys/count", std::vector<int64_t>{10, 20, 30}, {});
    put("keys/view", key_view, {});
    put("keys/log_prob", std::vector<float>{-1, -2, -3}, {});
    put("keys/tokens", tokens, {});
    file.close();
    return path;
  }
};

TEST(DistillSet, HandWrittenSetReads) {
  const DistillSetFile file = DistillSetFile::open(HandWritten{}.write("good.h5"));
  const auto rows = file.read(0, 2);
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[0].candidates.size(), 2u);
  EXPECT_EQ(rows[0].candidates[0].keys.size(), 2u);
  EXPECT_EQ(rows[0].candidates[0].keys[1].tokens, (std::vector<int32_t>{3}));
  EXPECT_EQ(rows[0].candidates[0].keys[1].count, 20);
  ASSERT_EQ(rows[1].candidates.size(), 1u);
  EXPECT_EQ(rows[1].candidates[0].keys[0].tokens, (std::vector<int32_t>{4, 5, 6}));
  EXPECT_EQ(rows[1].candidates[0].keys[0].view, search::View::kPseudoQuery);
  EXPECT_EQ(file.meta().teacher, "bm25");
  EXPECT_TRUE(file.meta().extra.empty());
}

TEST(DistillSet, MissingDatasetOrAttributeIsNamed) {
  for (const std::string name : {"query_id", "cand/label", "keys/token_offset", "keys/tokens"}) {
    HandWritten set;
    set.skip = name;
    const std::string path = set.write("missing.h5");
    expect_error<DataError>([&] { DistillSetFile::open(path); },
                            {path, "missing dataset '" + name + "'"});
  }
  HandWritten no_teacher;
  no_teacher.attributes.erase("teacher");
  const std::string a = no_teacher.write("teacher.h5");
  expect_error<DataError>([&] { DistillSetFile::open(a); }, {a, "missing attribute 'teacher'"});
  HandWritten v2;
  v2.attributes["format_version"] = "2";
  const std::string b = v2.write("v2.h5");
  expect_error<DataError>([&] { DistillSetFile::open(b); }, {b, "format_version '2'"});
  HandWritten bad_m;
  bad_m.attributes["candidates_per_query"] = "two";
  const std::string c = bad_m.write("m.h5");
  expect_error<DataError>([&] { DistillSetFile::open(c); }, {c, "'candidates_per_query' is 'two'"});
}

TEST(DistillSet, WrongTypesAndShapesAreNamed) {
  HandWritten float_labels;
  float_labels.label_as_float = true;
  const std::string a = float_labels.write("labels.h5");
  expect_error<DataError>([&] { DistillSetFile::open(a); },
                          {a, "dataset 'cand/label' has type float32, expected int8"});

  HandWritten flat;
  flat.passage_dims = {4};
  const std::string b = flat.write("flat.h5");
  expect_error<DataError>([&] { DistillSetFile::open(b); },
                          {b, "dataset 'cand/passage' has shape [4], expected [2, 2]"});

  HandWritten three_queries;
  three_queries.attributes["num_queries"] = "3";
  const std::string c = three_queries.write("rows.h5");
  expect_error<DataError>([&] { DistillSetFile::open(c); },
                          {c, "dataset 'query_id' has shape [2], expected [3]"});
}

TEST(DistillSet, InconsistentOffsetsAreNamed) {
  HandWritten long_offsets;
  long_offsets.key_offset = {0, 2, 2, 3, 4};
  const std::string a = long_offsets.write("ends.h5");
  expect_error<DataError>([&] { DistillSetFile::open(a); },
                          {a, "'keys/offset' ends at 4 but 'keys/len' holds 3"});

  HandWritten decreasing;
  decreasing.token_offset = {0, 3, 1, 6, 6};
  const std::string b = decreasing.write("decreasing.h5");
  const DistillSetFile file = DistillSetFile::open(b);  // only the ends are checked here
  expect_error<DataError>([&] { file.read(0, 1); }, {b, "'keys/token_offset' is corrupt"});

  HandWritten lengths;
  lengths.key_len = {1, 1, 3};  // the first candidate's keys cover 2 of its 3 tokens
  const std::string c = lengths.write("lengths.h5");
  expect_error<DataError>([&] { DistillSetFile::open(c).read(0, 2); },
                          {c, "'keys/token_offset'", "row 0, candidate 0", "add up to 2"});

  HandWritten too_long;
  too_long.key_len = {2, 5, 3};
  const std::string d = too_long.write("too-long.h5");
  expect_error<DataError>([&] { DistillSetFile::open(d).read(0, 1); },
                          {d, "'keys/len' holds 5 at row 0, candidate 0, key 1"});
}

TEST(DistillSet, BadValuesAreNamed) {
  HandWritten early_padding;
  early_padding.passage = {-1, 7, 3, -1};
  early_padding.label = {-1, -1, 0, -1};
  early_padding.key_offset = {0, 0, 2, 3, 3};
  early_padding.token_offset = {0, 0, 3, 6, 6};
  const std::string a = early_padding.write("padding.h5");
  expect_error<DataError>(
      [&] { DistillSetFile::open(a).read(0, 1); },
      {a, "'cand/passage' has a candidate after padding", "row 0, candidate 1"});

  HandWritten keyed_padding;
  keyed_padding.key_offset = {0, 2, 2, 2, 3};
  keyed_padding.token_offset = {0, 3, 3, 3, 6};
  const std::string b = keyed_padding.write("keyed-padding.h5");
  expect_error<DataError>([&] { DistillSetFile::open(b).read(1, 1); },
                          {b, "'keys/offset' gives keys to a padding slot", "row 1, candidate 1"});

  HandWritten bad_view;
  bad_view.key_view = {0, 7, 1};
  const std::string c = bad_view.write("view.h5");
  expect_error<DataError>([&] { DistillSetFile::open(c).read(0, 2); }, {c, "'keys/view' holds 7"});

  HandWritten nan_score;
  nan_score.teacher = {2, std::nanf(""), 0.5f, 0};
  const std::string d = nan_score.write("nan.h5");
  expect_error<DataError>(
      [&] { DistillSetFile::open(d).read(0, 2); },
      {d, "'cand/teacher_score' holds a non-finite score at row 0, candidate 1"});

  HandWritten negative_token;
  negative_token.tokens = {1, 2, 3, 4, -5, 6};
  const std::string e = negative_token.write("token.h5");
  expect_error<DataError>([&] { DistillSetFile::open(e).read(0, 2); },
                          {e, "'keys/tokens' holds token id -5"});

  HandWritten many_keys;
  many_keys.attributes["max_keys_per_candidate"] = "1";
  const std::string f = many_keys.write("keys.h5");
  expect_error<DataError>([&] { DistillSetFile::open(f).read(0, 1); },
                          {f, "gives 2 keys at row 0, candidate 0, more than 1"});

  HandWritten duplicate;
  duplicate.ids = {"q0", "q0"};
  const std::string g = duplicate.write("duplicate.h5");
  expect_error<DataError>([&] { DistillSetFile::open(g).find("q0"); },
                          {g, "'query_id' holds 'q0' at rows 0 and 1"});
}

TEST(DistillSet, RowsOutOfRangeAreDataErrors) {
  const std::string path = HandWritten{}.write("good.h5");
  const DistillSetFile file = DistillSetFile::open(path);
  expect_error<DataError>([&] { file.read(1, 2); }, {path, "rows [1, 3) out of range (2 queries)"});
  expect_error<DataError>([&] { DistillSetFile().read(0, 1); }, {"no distillation set open"});
}

// ---------------------------------------------------------------------------------------------
// Provenance

TEST(DistillSet, HashMismatchSaysWhichHash) {
  const DistillSetMeta meta = test_meta();
  const std::string path = write_set(synthetic_queries(2, meta, 10), meta);
  const DistillSetFile file = DistillSetFile::open(path);
  const std::string corpus(64, 'c'), index(64, 'i'), other(64, 'x');
  file.check_hashes(corpus, index);
  file.check_hashes("", "");  // nothing configured: nothing to compare
  expect_error<DataError>([&] { file.check_hashes(other, index); },
                          {path, "another corpus", "corpus_hash is '" + corpus + "'",
                           "configured corpus's is '" + other + "'"});
  try {
    file.check_hashes(other, index);
  } catch (const DataError& e) {
    EXPECT_EQ(std::string(e.what()).find("index"), std::string::npos) << e.what();
  }
  expect_error<DataError>([&] { file.check_hashes(corpus, other); },
                          {path, "another index", "index_hash is '" + index + "'"});
  expect_error<DataError>([&] { file.check_hashes(other, other); },
                          {"another corpus", "and from another index"});
  DistillSetMeta bm25 = meta;
  bm25.index_hash.clear();
  expect_error<DataError>([&] { check_hashes("set.h5", bm25, corpus, index); },
                          {"set.h5", "index_hash is empty"});
}

TEST(DistillSet, IndexContentHashIgnoresBuildTimeAndPath) {
  index::Manifest m;
  m.tokenizer_hash = "t";
  m.corpus = "/data/a/corpus.jsonl";
  m.corpus_hash = "c";
  m.config_hash = "f1";
  m.created = "2024-01-01T00:00:00Z";
  m.num_passages = 10;
  m.num_tokens = 500;
  m.shards = {{"shard-00000.fmi", 0, 6, 300, 4096, "s0"},
              {"shard-00001.fmi", 6, 4, 200, 3000, "s1"}};
  const std::string hash = index_content_hash(m);
  EXPECT_EQ(hash.size(), 64u);
  index::Manifest rebuilt = m;
  rebuilt.corpus = "/elsewhere/corpus.jsonl";
  rebuilt.config_hash = "f2";
  rebuilt.created = "2025-01-01T00:00:00Z";
  EXPECT_EQ(index_content_hash(rebuilt), hash);
  index::Manifest changed = m;
  changed.shards[1].sha256 = "s1'";
  EXPECT_NE(index_content_hash(changed), hash);
  changed = m;
  changed.views.pseudo_queries = true;
  EXPECT_NE(index_content_hash(changed), hash);
  changed = m;
  changed.corpus_hash = "c2";
  EXPECT_NE(index_content_hash(changed), hash);
}

// ---------------------------------------------------------------------------------------------
// Inspection

DistillQuery inspected_query() {
  DistillQuery q;
  q.query_id = "q9";
  q.query = "solar \"panels\"";
  auto candidate = [](int64_t passage, float teacher, float student, int8_t label) {
    DistillCandidate c;
    c.passage = passage;
    c.teacher_score = teacher;
    c.student_score = student;
    c.label = label;
    return c;
  };
  q.candidates = {candidate(10, 1.0f, 40.0f, 0), candidate(11, 3.0f, 10.0f, 2),
                  candidate(12, 2.0f, 30.0f, -1), candidate(13, 3.0f, 20.0f, -1)};
  q.candidates[1].keys = {{search::View::kTitle, {101, 102}, 4, -0.25f},
                          {search::View::kBody, {103}, 900, -3.5f}};
  return q;
}

// The non-empty lines of `text`.
std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

TEST(DistillSet, DescribeListsCandidatesInTeacherOrder) {
  DescribeOptions options;
  options.passage_id = [](int64_t p) { return "doc-" + std::to_string(p); };
  options.detokenize = [](const std::vector<int32_t>& tokens) {
    return tokens.size() == 2 ? std::string(" Solar panels @@") : std::string(" sun");
  };
  const std::vector<std::string> text = lines(describe_query(inspected_query(), options));
  ASSERT_EQ(text.size(), 9u) << describe_query(inspected_query(), options);
  EXPECT_NE(text[0].find("\"q9\""), std::string::npos);
  EXPECT_NE(text[0].find("\"solar \\\"panels\\\"\""), std::string::npos);
  EXPECT_NE(text[1].find("4 candidates, 2 judged, 1 positive, 2 keys"), std::string::npos);
  // Teacher order: 11 and 13 tie at 3.0 (stored order kept), then 12, then 10.
  auto expect_line = [&](size_t i, const std::vector<std::string>& parts) {
    for (const std::string& part : parts)
      EXPECT_NE(text[i].find(part), std::string::npos) << "line " << i << ": " << text[i];
  };
  expect_line(3, {"1  doc-11", "3.0000", "10.0000", " 4 ", " 2"});
  expect_line(4, {"title", "\" Solar panels @@\"", "count 4", "log_prob -0.250"});
  expect_line(5, {"body", "\" sun\"", "count 900", "log_prob -3.500"});
  expect_line(6, {"2  doc-13", " 3 ", " -"});
  expect_line(7, {"3  doc-12", "2.0000", " 2 ", " -"});
  expect_line(8, {"4  doc-10", "1.0000", "40.0000", " 1 ", " 0"});
}

TEST(DistillSet, DescribeWithoutCallbacksShowsIndicesAndTokenIds) {
  DescribeOptions options;
  options.max_candidates = 1;
  const std::string text = describe_query(inspected_query(), options);
  EXPECT_NE(text.find("    1  11     "), std::string::npos) << text;
  EXPECT_NE(text.find("[101 102]"), std::string::npos) << text;
  EXPECT_NE(text.find("(3 more candidates)"), std::string::npos) << text;
  EXPECT_EQ(text.find("doc-13"), std::string::npos) << text;
  options.keys = false;
  EXPECT_EQ(describe_query(inspected_query(), options).find("[101 102]"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The HDF5 helpers added for the set

TEST(Hdf5File, TypeNamesAndSerialWriterGroup) {
  const std::string path = test_dir() + "/types.h5";
  const h5::WriterGroup group = h5::WriterGroup::serial();
  EXPECT_FALSE(group.is_mpi());
  EXPECT_EQ(group.rank(), 0);
  EXPECT_EQ(group.size(), 1);
  EXPECT_EQ(group.all_gather({4, 5}), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(group.broadcast("x"), "x");
  EXPECT_EQ(group.first_error(""), "");
  EXPECT_EQ(group.first_error("bad"), "bad");
  {
    h5::File file = h5::File::create(path, group);
    file.write_rows("a/b/int8", std::vector<int8_t>{1, 2, 3, 4}, 0, {2, 2});
    file.write_rows("a/uint8", std::vector<uint8_t>{1}, 0, {1});
    file.write_rows("f64", std::vector<double>{1, 2}, 0, {2});
    file.write_string_rows("s", {"ab", "c"}, 0, 2, 4);
    file.write_rows("empty", std::vector<int64_t>{}, 0, {0, 3});
    file.close();
  }
  h5::File file = h5::File::open(path);
  EXPECT_EQ(file.dataset("a/b/int8").type_name(), "int8");
  EXPECT_TRUE(file.dataset("a/b/int8").has_type(h5::Element::kInt8));
  EXPECT_FALSE(file.dataset("a/b/int8").has_type(h5::Element::kUInt8));
  EXPECT_EQ(file.dataset("a/b/int8").read_all<int8_t>(), (std::vector<int8_t>{1, 2, 3, 4}));
  EXPECT_EQ(file.dataset("a/uint8").type_name(), "uint8");
  EXPECT_EQ(file.dataset("f64").type_name(), "float64");
  EXPECT_EQ(file.dataset("s").type_name(), "string");
  EXPECT_EQ(file.dataset("s").read_strings(), (std::vector<std::string>{"ab", "c"}));
  EXPECT_EQ(file.dataset("empty").dims(), (std::vector<uint64_t>{0, 3}));
}

}  // namespace
}  // namespace dgr::data
