// Bad index directories (core/index/manifest, fm_index): a small two-shard index is built with
// the project's own code, then its manifest.yaml is rewritten (not YAML, not a map, unknown
// format version, keys missing or of the wrong type, wrong passage totals, shards missing,
// reordered or pointing elsewhere, wrong sizes and checksums) and its shard files are cut or
// overwritten (every header field, the FM-index payload, the passage id table). Each must be a
// DataError naming the manifest or the shard file (a missing file: an IoError), never a crash,
// a YAML or std exception, or an allocation of a size read from a corrupt header.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/index/fm_index.h"
#include "core/index/manifest.h"
#include "core/util/hash.h"
#include "tests/robustness/bad_files.h"

namespace dgr::robustness {
namespace {

const Expect kData = Expect::kDataError;

// Two shards over 5 passages ("p0".."p4"), as the indexer writes them, into `dir`.
void write_index(const std::string& dir) {
  fs::create_directories(dir);
  const std::vector<std::vector<index::PassageSegments>> shards = {{{{5, 6, 7}}, {{6, 7}}, {{9}}},
                                                                   {{{5, 6}}, {{7, 7, 7}, {8}}}};
  index::Manifest m;
  m.tokenizer_hash = "t";
  m.corpus = "corpus.jsonl";
  m.corpus_hash = "c";
  m.config_hash = "h";
  m.created = "2024-01-01T00:00:00Z";
  uint32_t first = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    const index::FmIndex fm = index::FmIndex::build(shards[s]);
    std::vector<std::string> ids;
    for (size_t i = 0; i < shards[s].size(); ++i)
      ids.push_back("p" + std::to_string(first + i));
    const std::string file = "shard-0000" + std::to_string(s) + ".fmi";
    index::write_shard(dir + "/" + file, fm, ids);
    m.shards.push_back({file, first, static_cast<uint32_t>(shards[s].size()), fm.num_tokens(),
                        fs::file_size(dir + "/" + file), sha256_file(dir + "/" + file)});
    m.num_tokens += fm.num_tokens();
    first += static_cast<uint32_t>(shards[s].size());
  }
  m.num_passages = first;
  m.write(dir + "/manifest.yaml");
}

// A copy of the index (built once per test: building is slow under the sanitizers) in a
// directory of its own; returns the directory.
std::string build_index(const std::string& name) {
  const std::string original = scratch_dir() + "/original-index";
  if (!fs::exists(original + "/manifest.yaml")) write_index(original);
  const std::string dir = scratch_dir() + "/" + name;
  fs::remove_all(dir);
  fs::copy(original, dir, fs::copy_options::recursive);
  return dir;
}

// `text` with its first `from` replaced by `to` (the test fails when `from` is absent).
std::string replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "'" << from << "' not in the manifest:\n" << text;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(IndexFiles, GoodIndexLoads) {
  const std::string dir = build_index("good");
  index::IndexDirectory loaded;
  expect_outcome([&] { loaded = index::load_index_directory(dir); }, Expect::kAccepted, {});
  EXPECT_EQ(loaded.passage_ids.size(), 5u);
  EXPECT_TRUE(loaded.manifest.view_starts_known);
}

// A manifest written before the view start counts were recorded still loads (they are counted
// from the shards where needed: index::fill_view_starts).
TEST(IndexFiles, ManifestWithoutViewStartsLoads) {
  const std::string dir = build_index("without-view-starts");
  std::string text = read_bytes(dir + "/manifest.yaml");
  text = replace(text, "title_starts: 0\n", "");
  text = replace(text, "pq_starts: 0\n", "");
  write_bytes("without-view-starts/manifest.yaml", text);
  index::IndexDirectory loaded;
  expect_outcome([&] { loaded = index::load_index_directory(dir); }, Expect::kAccepted, {});
  EXPECT_FALSE(loaded.manifest.view_starts_known);
}

TEST(IndexFiles, Manifest) {
  const std::string good = read_bytes(build_index("template") + "/manifest.yaml");
  const std::string shard0 =
      good.substr(good.find("  - file: shard-00000"),
                  good.find("  - file: shard-00001") - good.find("  - file: shard-00000"));
  struct ManifestCase {
    std::string name;
    std::string content;
    std::vector<std::string> parts;
  };
  const std::vector<ManifestCase> cases = {
      {"empty", "", {"a manifest must be a YAML map"}},
      {"not-yaml", "format_version: [2\n", {"malformed manifest"}},
      {"a-list", "- 1\n- 2\n", {"a manifest must be a YAML map"}},
      {"truncated-half", good.substr(0, good.size() / 2), {}},
      {"unknown-version",
       replace(good, "format_version: 2", "format_version: 3"),
       {"index format version 3 is not supported"}},
      {"old-version",
       replace(good, "format_version: 2", "format_version: 1"),
       {"index format version 1 is not supported"}},
      {"version-is-a-word",
       replace(good, "format_version: 2", "format_version: two"),
       {"manifest key 'format_version' has the wrong type"}},
      {"version-is-a-list",
       replace(good, "format_version: 2", "format_version: [2]"),
       {"manifest key 'format_version' has the wrong type"}},
      {"missing-version",
       replace(good, "format_version: 2\n", ""),
       {"manifest lacks key 'format_version'"}},
      {"missing-tokenizer-hash",
       replace(good, "tokenizer_hash: t\n", ""),
       {"manifest lacks key 'tokenizer_hash'"}},
      {"corpus-hash-is-a-map",
       replace(good, "corpus_hash: c", "corpus_hash: {a: 1}"),
       {"manifest key 'corpus_hash' has the wrong type"}},
      {"optional-hash-is-a-map",
       replace(good, "pseudo_queries_hash: \"\"", "pseudo_queries_hash: {a: 1}"),
       {"pseudo_queries_hash"}},
      {"created-is-a-list",
       replace(good, "created: 2024-01-01T00:00:00Z", "created: [1, 2]"),
       {"created"}},
      {"views-is-a-string",
       replace(good, "views: [title, body]", "views: title"),
       {"manifest key 'views' must be a list"}},
      {"unknown-view",
       replace(good, "views: [title, body]", "views: [title, bodies]"),
       {"unknown view 'bodies'"}},
      {"view-twice",
       replace(good, "views: [title, body]", "views: [title, title]"),
       {"view 'title' is listed twice"}},
      {"no-views", replace(good, "views: [title, body]", "views: []"), {"at least one view"}},
      {"view-is-a-list",
       replace(good, "views: [title, body]", "views: [[title], body]"),
       {"views"}},
      {"missing-markers",
       replace(good, "markers:", "markers_:"),
       {"manifest lacks the map 'markers'"}},
      {"marker-is-a-list",
       replace(good, "title_end: \" @@\"", "title_end: [1]"),
       {"manifest key 'title_end' has the wrong type"}},
      {"num-passages-off",
       replace(good, "num_passages: 5", "num_passages: 6"),
       {"shards cover 5 passages, the manifest says 6"}},
      {"num-passages-negative",
       replace(good, "num_passages: 5", "num_passages: -5"),
       {"num_passages"}},
      {"num-passages-beyond-uint32",
       replace(good, "num_passages: 5", "num_passages: 4294967301"),
       {"num_passages"}},
      {"num-tokens-is-a-float",
       replace(good, "num_tokens: 12", "num_tokens: 12.5"),
       {"manifest key 'num_tokens' has the wrong type"}},
      {"title-starts-is-a-float",
       replace(good, "title_starts: 0", "title_starts: 0.5"),
       {"manifest key 'title_starts' has the wrong type"}},
      {"pq-starts-is-a-list",
       replace(good, "pq_starts: 0", "pq_starts: [0]"),
       {"manifest key 'pq_starts' has the wrong type"}},
      {"pq-starts-without-title-starts",
       replace(good, "title_starts: 0\n", ""),
       {"manifest has 'pq_starts' without 'title_starts'"}},
      {"no-shards",
       good.substr(0, good.find("shards:")) + "shards: []\n",
       {"manifest key 'shards' must be a non-empty list"}},
      {"shards-is-a-map",
       good.substr(0, good.find("shards:")) + "shards: {a: 1}\n",
       {"manifest key 'shards' must be a non-empty list"}},
      {"shards-are-scalars", good.substr(0, good.find("shards:")) + "shards: [1, 2]\n", {"shard"}},
      {"shard-missing", replace(good, shard0, ""), {"does not continue the passage range at 0"}},
      {"shards-swapped", replace(good, shard0, "") + shard0, {"does not continue"}},
      {"shard-listed-twice", replace(good, shard0, shard0 + shard0), {"does not continue"}},
      {"shard-lacks-sha256",
       replace(good, "    sha256: ", "    sha: "),
       {"manifest lacks key 'sha256'"}},
      {"shard-in-another-directory",
       replace(good, "file: shard-00000.fmi", "file: ../shard-00000.fmi"),
       {"shard '../shard-00000.fmi'"}},
      {"shard-first-passage-off",
       replace(good, "first_passage: 3", "first_passage: 2"),
       {"does not continue the passage range at 3"}},
  };
  for (const ManifestCase& c : cases) {
    SCOPED_TRACE("case '" + c.name + "'");
    const std::string dir = build_index(c.name);
    const std::string path = dir + "/manifest.yaml";
    write_bytes(c.name + "/manifest.yaml", c.content);
    std::vector<std::string> parts = c.parts;
    parts.insert(parts.begin(), path);
    expect_outcome([&] { index::load_index_directory(dir); }, kData, parts);
  }
}

TEST(IndexFiles, ManifestAgainstShards) {
  {
    const std::string dir = build_index("wrong-bytes");
    const std::string path = dir + "/manifest.yaml";
    std::string text = read_bytes(path);
    const size_t at = text.find("bytes: ");
    text.insert(at + 7, "1");  // a size 10^k times too large
    write_bytes("wrong-bytes/manifest.yaml", text);
    expect_outcome([&] { index::load_index_directory(dir); }, kData,
                   {dir + "/shard-00000.fmi", "the manifest says 1"});
  }
  {
    const std::string dir = build_index("wrong-hash");
    const std::string path = dir + "/manifest.yaml";
    std::string text = read_bytes(path);
    const size_t at = text.find("sha256: ") + 8;
    text[at] = text[at] == '0' ? '1' : '0';
    write_bytes("wrong-hash/manifest.yaml", text);
    expect_outcome([&] { index::load_index_directory(dir); }, kData,
                   {dir + "/shard-00000.fmi", "checksum differs from the manifest"});
    // Without checksum verification the shard itself is still read and checked.
    expect_outcome([&] { index::load_index_directory(dir, false); }, Expect::kAccepted, {});
  }
  {
    const std::string dir = build_index("wrong-shard-passages");
    std::string text = read_bytes(dir + "/manifest.yaml");
    text = replace(text, "num_passages: 3", "num_passages: 4");
    text = replace(text, "first_passage: 3", "first_passage: 4");
    text = replace(text, "num_passages: 5", "num_passages: 6");
    write_bytes("wrong-shard-passages/manifest.yaml", text);
    expect_outcome([&] { index::load_index_directory(dir); }, kData,
                   {dir + "/shard-00000.fmi", "shard holds 3 passages, the manifest says 4"});
  }
  {
    const std::string dir = build_index("missing-shard-file");
    fs::remove(dir + "/shard-00001.fmi");
    expect_outcome([&] { index::load_index_directory(dir); }, Expect::kIoError,
                   {dir + "/shard-00001.fmi", "missing"});
  }
  {
    const std::string dir = build_index("shard-is-a-directory");
    fs::remove(dir + "/shard-00001.fmi");
    fs::create_directories(dir + "/shard-00001.fmi");
    expect_outcome([&] { index::load_index_directory(dir); }, Expect::kIoError,
                   {dir + "/shard-00001.fmi"});
  }
  {
    const std::string dir = build_index("shards-exchanged");
    fs::rename(dir + "/shard-00000.fmi", dir + "/tmp.fmi");
    fs::rename(dir + "/shard-00001.fmi", dir + "/shard-00000.fmi");
    fs::rename(dir + "/tmp.fmi", dir + "/shard-00001.fmi");
    expect_outcome([&] { index::load_index_directory(dir, false); }, kData, {dir + "/shard-0000"});
  }
  {
    const std::string dir = scratch_dir() + "/no-manifest";
    fs::create_directories(dir);
    expect_outcome([&] { index::load_index_directory(dir); }, Expect::kIoError,
                   {dir + "/manifest.yaml", "no index manifest here"});
    fs::create_directories(dir + "/manifest.yaml");
    expect_outcome([&] { index::load_index_directory(dir); }, Expect::kIoError,
                   {dir + "/manifest.yaml"});
  }
}

// The shard header: magic[8], version u32, num_passages u32, index_bytes u64, ids_bytes u64.
constexpr size_t kShardHeader = 32;

void put_u64(const std::string& path, size_t offset, uint64_t value) {
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &value, 8);
  std::fstream out(path, std::ios::in | std::ios::out | std::ios::binary);
  out.seekp(static_cast<std::streamoff>(offset));
  out.write(bytes.data(), 8);
}

uint64_t get_u64(const std::string& path, size_t offset) {
  const std::string bytes = read_bytes(path);
  uint64_t value = 0;
  std::memcpy(&value, bytes.data() + offset, 8);
  return value;
}

TEST(IndexFiles, TruncatedShards) {
  const std::string dir = build_index("source");
  const std::string shard = dir + "/shard-00000.fmi";
  const uintmax_t size = fs::file_size(shard);
  std::vector<uintmax_t> cuts = {0,
                                 1,
                                 7,
                                 8,
                                 12,
                                 kShardHeader - 1,
                                 kShardHeader,
                                 kShardHeader + 1,
                                 kShardHeader + 40,
                                 size / 2,
                                 size - 5,
                                 size - 1};
  for (uintmax_t cut : cuts) {
    SCOPED_TRACE("cut at " + std::to_string(cut) + " of " + std::to_string(size));
    const std::string path = scratch_dir() + "/cut.fmi";
    copy_truncated(shard, path, cut);
    expect_outcome([&] { index::read_shard(path); }, kData, {path});
  }
  // Padded by a byte.
  const std::string padded = scratch_dir() + "/padded.fmi";
  fs::copy_file(shard, padded, fs::copy_options::overwrite_existing);
  std::ofstream(padded, std::ios::binary | std::ios::app) << '\n';
  expect_outcome([&] { index::read_shard(padded); }, kData, {padded, "truncated or padded"});
}

TEST(IndexFiles, CorruptShards) {
  const std::string dir = build_index("source");
  const std::string shard = dir + "/shard-00000.fmi";
  const uintmax_t size = fs::file_size(shard);
  const uint64_t index_bytes = get_u64(shard, 16);
  const uint64_t ids_bytes = get_u64(shard, 24);
  struct Damage {
    std::string name;
    std::function<void(const std::string&)> apply;
    std::string part;
  };
  const std::vector<Damage> damages = {
      {"bad-magic", [](const std::string& p) { overwrite(p, 0, 3, 'X'); }, "bad magic"},
      {"other-version", [](const std::string& p) { overwrite(p, 8, 1, '\x07'); }, "shard version"},
      {"more-passages", [](const std::string& p) { overwrite(p, 12, 1, '\x09'); },
       "passage count mismatch"},
      {"huge-index-size", [](const std::string& p) { put_u64(p, 16, uint64_t{1} << 62); },
       "truncated or padded"},
      {"huge-ids-size", [](const std::string& p) { put_u64(p, 24, ~uint64_t{0} - 7); },
       "truncated or padded"},
      {"sizes-that-wrap-around",
       [&](const std::string& p) {
         put_u64(p, 16, index_bytes + (uint64_t{1} << 63));
         put_u64(p, 24, ids_bytes + (uint64_t{1} << 63));
       },
       ""},
      {"index-payload-garbage",
       [&](const std::string& p) { overwrite(p, kShardHeader + 60, 40, '\xA5'); }, "FM-index"},
      {"index-header-garbage",
       [&](const std::string& p) { overwrite(p, kShardHeader + 12, 16, '\xFF'); }, ""},
      {"id-length-huge",
       [&](const std::string& p) { overwrite(p, kShardHeader + index_bytes, 4, '\xFF'); },
       "corrupt passage id table"},
      {"id-length-zero",
       [&](const std::string& p) { overwrite(p, kShardHeader + index_bytes, 4, '\0'); },
       "corrupt passage id table"},
      {"all-zero", [&](const std::string& p) { overwrite(p, 0, size, '\0'); }, "bad magic"},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE("damage '" + d.name + "'");
    const std::string path = scratch_dir() + "/" + d.name + ".fmi";
    fs::copy_file(shard, path, fs::copy_options::overwrite_existing);
    d.apply(path);
    std::vector<std::string> parts = {path};
    if (!d.part.empty()) parts.push_back(d.part);
    expect_outcome([&] { index::read_shard(path); }, kData, parts);
  }
  // A text file in place of a shard.
  const std::string text = write_bytes("text.fmi", "format_version: 2\n" + std::string(64, ' '));
  expect_outcome([&] { index::read_shard(text); }, kData, {text, "bad magic"});
  const std::string absent = scratch_dir() + "/absent.fmi";
  expect_outcome([&] { index::read_shard(absent); }, Expect::kIoError, {absent});
}

}  // namespace
}  // namespace dgr::robustness
