#include "data/distill_set.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>
#include <unordered_map>

#include "core/index/views.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/hash.h"

namespace dgr::data {
namespace {

constexpr const char* kFormatVersion = "1";
constexpr const char* kKind = "dgr-distillation-set";

// Datasets (docs/formats.md, "Distillation set (HDF5)").
constexpr const char* kQueryId = "query_id";
constexpr const char* kQuery = "query";
constexpr const char* kPassage = "cand/passage";
constexpr const char* kTeacherScore = "cand/teacher_score";
constexpr const char* kStudentScore = "cand/student_score";
constexpr const char* kLabel = "cand/label";
constexpr const char* kKeyOffset = "keys/offset";
constexpr const char* kTokenOffset = "keys/token_offset";
constexpr const char* kKeyLen = "keys/len";
constexpr const char* kKeyCount = "keys/count";
constexpr const char* kKeyView = "keys/view";
constexpr const char* kKeyLogProb = "keys/log_prob";
constexpr const char* kTokens = "keys/tokens";

// Root attributes the set writes itself (an `extra` name may not be one of them).
const std::set<std::string>& own_attributes() {
  static const std::set<std::string> names = {"format_version",
                                              "kind",
                                              "teacher",
                                              "corpus_hash",
                                              "index_hash",
                                              "config_hash",
                                              "created",
                                              "num_queries",
                                              "num_candidates",
                                              "num_keys",
                                              "num_tokens",
                                              "candidates_per_query",
                                              "max_keys_per_candidate"};
  return names;
}

std::string meta_error(const DistillSetMeta& meta) {
  if (meta.candidates_per_query < 1) {
    return "candidates per query (M) must be at least 1, not " +
           std::to_string(meta.candidates_per_query);
  }
  if (meta.max_keys_per_candidate < 0) {
    return "max keys per candidate must be >= 0, not " +
           std::to_string(meta.max_keys_per_candidate);
  }
  if (meta.teacher.empty()) return "the teacher name is empty";
  if (meta.created.empty()) {
    return "the creation time is empty (take it once on rank 0 and broadcast it)";
  }
  for (const auto& [name, value] : meta.extra) {
    if (own_attributes().count(name) > 0) {
      return "extra attribute '" + name + "' is one the set writes itself";
    }
  }
  return "";
}

// Everything every process must agree on, as text (compared through its hash).
std::string agreement_text(const DistillSetMeta& meta, uint64_t total_rows,
                           const DistillStoreOptions& options) {
  nlohmann::json j = {{"teacher", meta.teacher},
                      {"corpus_hash", meta.corpus_hash},
                      {"index_hash", meta.index_hash},
                      {"config_hash", meta.config_hash},
                      {"created", meta.created},
                      {"m", meta.candidates_per_query},
                      {"max_keys", meta.max_keys_per_candidate},
                      {"extra", meta.extra},
                      {"total_rows", total_rows},
                      {"chunk_bytes", options.chunk_bytes},
                      {"deflate_level", options.deflate_level}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string describe_query_at(const DistillQuery& query, uint64_t row) {
  return "query '" + query.query_id + "' (row " + std::to_string(row) + ")";
}

// The first thing in `query` that the format cannot hold, or "".
std::string record_error(const DistillQuery& query, uint64_t row, const DistillSetMeta& meta) {
  const std::string where = describe_query_at(query, row);
  if (query.query_id.empty()) return "query at row " + std::to_string(row) + " has an empty id";
  if (query.query_id.find('\0') != std::string::npos) return where + ": NUL byte in the id";
  if (query.query.find('\0') != std::string::npos) return where + ": NUL byte in the text";
  if (query.candidates.size() > static_cast<size_t>(meta.candidates_per_query)) {
    return where + " has " + std::to_string(query.candidates.size()) +
           " candidates, more than M = " + std::to_string(meta.candidates_per_query);
  }
  for (size_t j = 0; j < query.candidates.size(); ++j) {
    const DistillCandidate& c = query.candidates[j];
    auto at = [&] { return where + ", candidate " + std::to_string(j); };
    if (c.passage < 0) return at() + ": passage index " + std::to_string(c.passage) + " < 0";
    if (!std::isfinite(c.teacher_score)) return at() + ": teacher score is not finite";
    if (!std::isfinite(c.student_score)) return at() + ": student score is not finite";
    if (c.label < -1) return at() + ": label " + std::to_string(c.label) + " < -1";
    if (c.keys.size() > static_cast<size_t>(meta.max_keys_per_candidate)) {
      return at() + " has " + std::to_string(c.keys.size()) + " keys, more than " +
             std::to_string(meta.max_keys_per_candidate);
    }
    for (size_t k = 0; k < c.keys.size(); ++k) {
      const DistillKey& key = c.keys[k];
      auto key_at = [&] { return at() + ", key " + std::to_string(k); };
      if (static_cast<uint8_t>(key.view) > static_cast<uint8_t>(search::View::kPseudoQuery)) {
        return key_at() + ": unknown view " + std::to_string(static_cast<int>(key.view));
      }
      if (key.tokens.empty()) return key_at() + " has no tokens";
      for (int32_t t : key.tokens) {
        if (t < 0) return key_at() + ": negative token id " + std::to_string(t);
      }
      if (key.count < 0) return key_at() + ": negative corpus count " + std::to_string(key.count);
      if (std::isnan(key.log_prob)) return key_at() + ": log-probability is NaN";
    }
  }
  return "";
}

// One process's rows, flattened into the datasets' layout.
struct LocalArrays {
  std::vector<std::string> ids, texts;
  std::vector<int64_t> passage;         // [n * M]
  std::vector<float> teacher, student;  // [n * M]
  std::vector<int8_t> label;            // [n * M]
  std::vector<int64_t> key_offset;      // [n * M] (+ 1 on the process that ends the set)
  std::vector<int64_t> token_offset;    // likewise
  std::vector<int32_t> key_len;         // [local keys]
  std::vector<int64_t> key_count;
  std::vector<int8_t> key_view;
  std::vector<float> key_log_prob;
  std::vector<int32_t> tokens;  // [local tokens]
};

LocalArrays flatten(const std::vector<DistillQuery>& local, uint64_t m, int64_t key_base,
                    int64_t token_base, bool ends_set) {
  LocalArrays a;
  const size_t slots = local.size() * m;
  a.passage.assign(slots, -1);
  a.teacher.assign(slots, 0.0f);
  a.student.assign(slots, 0.0f);
  a.label.assign(slots, -1);
  a.key_offset.reserve(slots + 1);
  a.token_offset.reserve(slots + 1);
  int64_t keys = key_base, tokens = token_base;
  for (size_t i = 0; i < local.size(); ++i) {
    const DistillQuery& q = local[i];
    a.ids.push_back(q.query_id);
    a.texts.push_back(q.query);
    for (size_t j = 0; j < m; ++j) {
      a.key_offset.push_back(keys);
      a.token_offset.push_back(tokens);
      if (j >= q.candidates.size()) continue;  // padding: passage −1, no keys
      const DistillCandidate& c = q.candidates[j];
      const size_t s = i * m + j;
      a.passage[s] = c.passage;
      a.teacher[s] = c.teacher_score;
      a.student[s] = c.student_score;
      a.label[s] = c.label;
      for (const DistillKey& key : c.keys) {
        a.key_len.push_back(static_cast<int32_t>(key.tokens.size()));
        a.key_count.push_back(key.count);
        a.key_view.push_back(static_cast<int8_t>(key.view));
        a.key_log_prob.push_back(key.log_prob);
        a.tokens.insert(a.tokens.end(), key.tokens.begin(), key.tokens.end());
        ++keys;
        tokens += static_cast<int64_t>(key.tokens.size());
      }
    }
  }
  if (ends_set) {
    a.key_offset.push_back(keys);
    a.token_offset.push_back(tokens);
  }
  return a;
}

h5::WriteOptions layout(const DistillStoreOptions& options, uint64_t row_bytes) {
  return {std::max<uint64_t>(1, options.chunk_bytes / std::max<uint64_t>(row_bytes, 1)),
          options.deflate_level};
}

void fsync_file(const std::string& path, const std::string& name) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int error = errno;
    if (fd >= 0) ::close(fd);
    throw IoError(name + ": cannot sync to disk: " + std::strerror(error));
  }
  ::close(fd);
}

}  // namespace

void write_distill_set(const std::string& path, const DistillSetMeta& meta,
                       const std::vector<DistillQuery>& local, uint64_t first_row,
                       uint64_t total_rows, const h5::WriterGroup& group,
                       const DistillStoreOptions& options) {
  const std::string where = path + ": distillation set: ";
  // 1. Arguments, agreed on by every process before any collective HDF5 call.
  std::string error = meta_error(meta);
  if (error.empty() && options.deflate_level > 9) {
    error = "deflate level " + std::to_string(options.deflate_level) + " is not in 0-9";
  }
  error = group.first_error(error);
  if (!error.empty()) throw ConfigError(where + error);
  const std::string agreed = sha256_hex(agreement_text(meta, total_rows, options));
  error = group.first_error(
      group.broadcast(agreed) == agreed ? "" : "meta, total rows or options differ from rank 0's");
  if (!error.empty()) throw ConfigError(where + error);

  const uint64_t m = static_cast<uint64_t>(meta.candidates_per_query);
  size_t id_width = 1, text_width = 1;
  int64_t keys = 0, tokens = 0, candidates = 0;
  error.clear();
  for (size_t i = 0; i < local.size() && error.empty(); ++i) {
    error = record_error(local[i], first_row + i, meta);
    id_width = std::max(id_width, local[i].query_id.size());
    text_width = std::max(text_width, local[i].query.size());
    candidates += static_cast<int64_t>(local[i].candidates.size());
    for (const DistillCandidate& c : local[i].candidates) {
      keys += static_cast<int64_t>(c.keys.size());
      for (const DistillKey& key : c.keys)
        tokens += static_cast<int64_t>(key.tokens.size());
    }
  }
  error = group.first_error(error);
  if (!error.empty()) throw DataError(where + error);

  // 2. Where this process's rows, keys and tokens go, from every process's figures.
  constexpr size_t kFigures = 7;
  const std::vector<int64_t> all = group.all_gather(
      {static_cast<int64_t>(first_row), static_cast<int64_t>(local.size()), keys, tokens,
       static_cast<int64_t>(id_width), static_cast<int64_t>(text_width), candidates});
  const size_t ranks = all.size() / kFigures;
  auto figure = [&](size_t rank, size_t k) { return all[rank * kFigures + k]; };
  // Slices in rank order: parallel HDF5 places compressed chunks in rank order, so this keeps
  // the file the same for any number of ranks.
  int64_t next_row = 0, key_base = 0, token_base = 0, total_keys = 0, total_tokens = 0,
          total_candidates = 0;
  size_t set_id_width = 1, set_text_width = 1;
  for (size_t r = 0; r < ranks; ++r) {
    if (figure(r, 0) != next_row && figure(r, 1) > 0) {
      throw ConfigError(where + "the ranks' rows must tile [0, " + std::to_string(total_rows) +
                        ") in rank order: rank " + std::to_string(r) + " starts at row " +
                        std::to_string(figure(r, 0)) + " where row " + std::to_string(next_row) +
                        " was expected");
    }
    if (r < static_cast<size_t>(group.rank())) {
      key_base += figure(r, 2);
      token_base += figure(r, 3);
    }
    next_row += figure(r, 1);
    total_keys += figure(r, 2);
    total_tokens += figure(r, 3);
    set_id_width = std::max(set_id_width, static_cast<size_t>(figure(r, 4)));
    set_text_width = std::max(set_text_width, static_cast<size_t>(figure(r, 5)));
    total_candidates += figure(r, 6);
  }
  if (next_row != static_cast<int64_t>(total_rows)) {
    throw ConfigError(where + "the processes hold " + std::to_string(next_row) + " rows, not " +
                      std::to_string(total_rows));
  }
  // The last rank also writes the final offsets (a rank without rows writes at row total_rows).
  const bool ends_set = group.rank() + 1 == group.size();
  const uint64_t first = local.empty() ? (ends_set ? total_rows : 0) : first_row;
  LocalArrays a = flatten(local, m, key_base, token_base, ends_set);

  // 3. The file, under a temporary name that every process knows (rank 0's pid).
  const std::string tmp =
      path + ".tmp." + group.broadcast(group.rank() == 0 ? std::to_string(::getpid()) : "");
  error.clear();
  if (group.rank() == 0) {
    try {
      const std::filesystem::path target(path);
      if (target.has_parent_path()) ensure_directory(target.parent_path().string());
    } catch (const Error& e) {
      error = e.what();
    }
  }
  error = group.first_error(error);
  if (!error.empty()) throw IoError(error);

  const uint64_t q = total_rows, slots = q * m;
  const uint64_t slot_first = first * m;
  h5::File file;
  // Each collective step is followed by an agreement, so that an error on one process makes
  // every process throw instead of leaving the others in the next collective.
  auto step = [&](const std::function<void()>& run) {
    std::string failed;
    try {
      run();
    } catch (const Error& e) {
      failed = e.what();
    }
    failed = group.first_error(failed);
    if (failed.empty()) return;
    try {
      file = h5::File();  // closes (collectively: every process is here)
    } catch (...) {
    }
    if (group.rank() == 0) std::remove(tmp.c_str());
    throw IoError(failed);
  };
  step([&] { file = h5::File::create(tmp, group); });
  step([&] {
    file.set_attribute("format_version", kFormatVersion);
    file.set_attribute("kind", kKind);
    file.set_attribute("teacher", meta.teacher);
    file.set_attribute("corpus_hash", meta.corpus_hash);
    file.set_attribute("index_hash", meta.index_hash);
    file.set_attribute("config_hash", meta.config_hash);
    file.set_attribute("created", meta.created);
    file.set_attribute("num_queries", std::to_string(q));
    file.set_attribute("candidates_per_query", std::to_string(m));
    file.set_attribute("max_keys_per_candidate", std::to_string(meta.max_keys_per_candidate));
    file.set_attribute("num_candidates", std::to_string(total_candidates));
    file.set_attribute("num_keys", std::to_string(total_keys));
    file.set_attribute("num_tokens", std::to_string(total_tokens));
    for (const auto& [name, value] : meta.extra)
      file.set_attribute(name, value);
  });
  step([&] {
    file.write_string_rows(kQueryId, a.ids, first, q, set_id_width, layout(options, set_id_width));
  });
  step([&] {
    file.write_string_rows(kQuery, a.texts, first, q, set_text_width,
                           layout(options, set_text_width));
  });
  step([&] { file.write_rows(kPassage, a.passage, first, {q, m}, layout(options, 8 * m)); });
  step([&] { file.write_rows(kTeacherScore, a.teacher, first, {q, m}, layout(options, 4 * m)); });
  step([&] { file.write_rows(kStudentScore, a.student, first, {q, m}, layout(options, 4 * m)); });
  step([&] { file.write_rows(kLabel, a.label, first, {q, m}, layout(options, m)); });
  step([&] {
    file.write_rows(kKeyOffset, a.key_offset, slot_first, {slots + 1}, layout(options, 8));
  });
  step([&] {
    file.write_rows(kTokenOffset, a.token_offset, slot_first, {slots + 1}, layout(options, 8));
  });
  const uint64_t nk = static_cast<uint64_t>(total_keys);
  const uint64_t key_first = static_cast<uint64_t>(key_base);
  step([&] { file.write_rows(kKeyLen, a.key_len, key_first, {nk}, layout(options, 4)); });
  step([&] { file.write_rows(kKeyCount, a.key_count, key_first, {nk}, layout(options, 8)); });
  step([&] { file.write_rows(kKeyView, a.key_view, key_first, {nk}, layout(options, 1)); });
  step([&] { file.write_rows(kKeyLogProb, a.key_log_prob, key_first, {nk}, layout(options, 4)); });
  step([&] {
    file.write_rows(kTokens, a.tokens, static_cast<uint64_t>(token_base),
                    {static_cast<uint64_t>(total_tokens)}, layout(options, 4));
  });
  step([&] { file.close(); });

  // 4. Into place, once complete.
  error.clear();
  if (group.rank() == 0) {
    try {
      fsync_file(tmp, path);
      if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        throw IoError(path + ": cannot rename into place: " + std::strerror(errno));
      }
    } catch (const Error& e) {
      error = e.what();
      std::remove(tmp.c_str());
    }
  }
  error = group.first_error(error);
  if (!error.empty()) throw IoError(error);
}

// ---------------------------------------------------------------------------------------------
// Reading

struct DistillSetFile::Impl {
  h5::File file;
  DistillSetMeta meta;
  uint64_t size = 0;  // Q
  uint64_t m = 0;
  uint64_t num_keys = 0;
  uint64_t num_tokens = 0;
  h5::Dataset query_id, query, passage, teacher, student, label;
  h5::Dataset key_offset, token_offset, key_len, key_count, key_view, key_log_prob, tokens;

  std::mutex ids_mutex;  // guards the id index, built at the first find
  bool ids_loaded = false;
  std::unordered_map<std::string, uint64_t> rows_by_id;

  [[noreturn]] void fail(const std::string& message) const {
    throw DataError(file.path() + ": " + message);
  }
};

namespace {

int64_t integer_attribute(const std::string& path, const std::map<std::string, std::string>& all,
                          const std::string& name) {
  const auto it = all.find(name);
  if (it == all.end()) throw DataError(path + ": missing attribute '" + name + "'");
  size_t used = 0;
  long long value = -1;
  try {
    value = std::stoll(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != it->second.size() || value < 0) {
    throw DataError(path + ": attribute '" + name + "' is '" + it->second +
                    "', not a non-negative integer");
  }
  return value;
}

std::string string_attribute(const std::string& path, const std::map<std::string, std::string>& all,
                             const std::string& name) {
  const auto it = all.find(name);
  if (it == all.end()) throw DataError(path + ": missing attribute '" + name + "'");
  return it->second;
}

std::string shape_text(const std::vector<uint64_t>& dims) {
  std::string out = "[";
  for (size_t k = 0; k < dims.size(); ++k)
    out += (k ? ", " : "") + std::to_string(dims[k]);
  return out + "]";
}

// Opens `name` and checks its element type and shape.
h5::Dataset expect_dataset(const h5::File& file, const std::string& name, h5::Element element,
                           const std::vector<uint64_t>& dims, size_t cache) {
  h5::Dataset d = file.dataset(name, cache);
  if (!d.has_type(element)) {
    const char* expected = element == h5::Element::kInt8      ? "int8"
                           : element == h5::Element::kInt32   ? "int32"
                           : element == h5::Element::kInt64   ? "int64"
                           : element == h5::Element::kFloat32 ? "float32"
                                                              : "another type";
    d.fail("has type " + d.type_name() + ", expected " + expected);
  }
  if (d.dims() != dims)
    d.fail("has shape " + shape_text(d.dims()) + ", expected " + shape_text(dims));
  return d;
}

h5::Dataset expect_strings(const h5::File& file, const std::string& name, uint64_t rows,
                           size_t cache) {
  h5::Dataset d = file.dataset(name, cache);
  if (!d.is_string()) d.fail("has type " + d.type_name() + ", expected fixed-length strings");
  if (d.dims() != std::vector<uint64_t>{rows}) {
    d.fail("has shape " + shape_text(d.dims()) + ", expected [" + std::to_string(rows) + "]");
  }
  return d;
}

// The `count` offsets of a ragged array from element `first` on, over `total` elements:
// non-decreasing and within.
void check_offsets(const h5::Dataset& d, const int64_t* offsets, size_t count, uint64_t first,
                   uint64_t total) {
  for (size_t i = 0; i < count; ++i) {
    const int64_t o = offsets[i];
    if (o < 0 || static_cast<uint64_t>(o) > total || (i > 0 && o < offsets[i - 1])) {
      d.fail("is corrupt at element " + std::to_string(first + i) + " (offset " +
             std::to_string(o) + (i > 0 ? " after " + std::to_string(offsets[i - 1]) : "") + "; " +
             std::to_string(total) + " elements)");
    }
  }
}

}  // namespace

DistillSetFile::DistillSetFile() = default;
DistillSetFile::~DistillSetFile() = default;
DistillSetFile::DistillSetFile(DistillSetFile&&) noexcept = default;
DistillSetFile& DistillSetFile::operator=(DistillSetFile&&) noexcept = default;

DistillSetFile DistillSetFile::open(const std::string& path, size_t cache) {
  auto impl = std::make_unique<Impl>();
  impl->file = h5::File::open(path);
  const h5::File& file = impl->file;
  const std::map<std::string, std::string> attributes = file.attributes();
  const auto version = attributes.find("format_version");
  if (version == attributes.end()) {
    throw DataError(path + ": missing attribute 'format_version' (not a distillation set?)");
  }
  if (attributes.count("kind") == 0 || attributes.at("kind") != kKind) {
    throw DataError(path + ": attribute 'kind' is not '" + kKind + "' (not a distillation set?)");
  }
  if (version->second != kFormatVersion) {
    throw DataError(path + ": distillation set format_version '" + version->second +
                    "' is not supported (this build reads '" + kFormatVersion + "')");
  }
  DistillSetMeta& meta = impl->meta;
  meta.teacher = string_attribute(path, attributes, "teacher");
  meta.corpus_hash = string_attribute(path, attributes, "corpus_hash");
  meta.index_hash = string_attribute(path, attributes, "index_hash");
  meta.config_hash = string_attribute(path, attributes, "config_hash");
  meta.created = string_attribute(path, attributes, "created");
  meta.candidates_per_query = integer_attribute(path, attributes, "candidates_per_query");
  meta.max_keys_per_candidate = integer_attribute(path, attributes, "max_keys_per_candidate");
  for (const auto& [name, value] : attributes) {
    if (own_attributes().count(name) == 0) meta.extra[name] = value;
  }
  if (meta.candidates_per_query < 1) {
    throw DataError(path + ": attribute 'candidates_per_query' is 0");
  }
  const uint64_t q = static_cast<uint64_t>(integer_attribute(path, attributes, "num_queries"));
  const uint64_t m = static_cast<uint64_t>(meta.candidates_per_query);
  impl->size = q;
  impl->m = m;

  using h5::Element;
  impl->query_id = expect_strings(file, kQueryId, q, cache);
  impl->query = expect_strings(file, kQuery, q, cache);
  impl->passage = expect_dataset(file, kPassage, Element::kInt64, {q, m}, cache);
  impl->teacher = expect_dataset(file, kTeacherScore, Element::kFloat32, {q, m}, cache);
  impl->student = expect_dataset(file, kStudentScore, Element::kFloat32, {q, m}, cache);
  impl->label = expect_dataset(file, kLabel, Element::kInt8, {q, m}, cache);
  impl->key_offset = expect_dataset(file, kKeyOffset, Element::kInt64, {q * m + 1}, cache);
  impl->token_offset = expect_dataset(file, kTokenOffset, Element::kInt64, {q * m + 1}, cache);
  impl->key_len = file.dataset(kKeyLen, cache);
  if (impl->key_len.dims().size() != 1) impl->key_len.fail("is not 1-D");
  const uint64_t k = impl->num_keys = impl->key_len.dims()[0];
  impl->key_len = expect_dataset(file, kKeyLen, Element::kInt32, {k}, cache);
  impl->key_count = expect_dataset(file, kKeyCount, Element::kInt64, {k}, cache);
  impl->key_view = expect_dataset(file, kKeyView, Element::kInt8, {k}, cache);
  impl->key_log_prob = expect_dataset(file, kKeyLogProb, Element::kFloat32, {k}, cache);
  impl->tokens = file.dataset(kTokens, cache);
  if (impl->tokens.dims().size() != 1) impl->tokens.fail("is not 1-D");
  const uint64_t t = impl->num_tokens = impl->tokens.dims()[0];
  impl->tokens = expect_dataset(file, kTokens, Element::kInt32, {t}, cache);

  // The ends of both offset arrays; the rows' own offsets are checked as they are read.
  auto check_ends = [&](const h5::Dataset& d, uint64_t total, const char* of) {
    const std::vector<int64_t> ends = d.read_points<int64_t>({0, q * m});
    if (ends[0] != 0) d.fail("starts at " + std::to_string(ends[0]) + ", not 0");
    if (ends[1] != static_cast<int64_t>(total)) {
      d.fail("ends at " + std::to_string(ends[1]) + " but '" + of + "' holds " +
             std::to_string(total) + " elements");
    }
  };
  check_ends(impl->key_offset, k, kKeyLen);
  check_ends(impl->token_offset, t, kTokens);
  DistillSetFile out;
  out.impl_ = std::move(impl);
  return out;
}

const std::string& DistillSetFile::path() const {
  static const std::string kNone;
  return impl_ ? impl_->file.path() : kNone;
}

uint64_t DistillSetFile::size() const {
  return impl_ ? impl_->size : 0;
}

const DistillSetMeta& DistillSetFile::meta() const {
  static const DistillSetMeta kNone;
  return impl_ ? impl_->meta : kNone;
}

std::vector<DistillQuery> DistillSetFile::read(uint64_t first, uint64_t count) const {
  if (first > size() || count > size() - first) {
    throw DataError((impl_ ? path() : std::string("(no distillation set open)")) + ": rows [" +
                    std::to_string(first) + ", " + std::to_string(first + count) +
                    ") out of range (" + std::to_string(size()) + " queries)");
  }
  std::vector<uint64_t> rows(count);
  std::iota(rows.begin(), rows.end(), first);
  return read(rows);
}

std::vector<DistillQuery> DistillSetFile::read(const std::vector<uint64_t>& wanted) const {
  for (uint64_t row : wanted) {
    if (row >= size()) {
      throw DataError((impl_ ? path() : std::string("(no distillation set open)")) + ": row " +
                      std::to_string(row) + " out of range (" + std::to_string(size()) +
                      " queries)");
    }
  }
  if (wanted.empty()) return {};
  const Impl& f = *impl_;
  const uint64_t m = f.m;

  // The distinct rows in ascending order, as runs of consecutive rows: one range per run in
  // every dataset, all runs of a dataset in one read of a union of hyperslabs.
  std::vector<uint64_t> rows = wanted;
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  std::vector<h5::Range> row_ranges;
  for (uint64_t row : rows) {
    if (!row_ranges.empty() && row_ranges.back().end == row) {
      ++row_ranges.back().end;
    } else {
      row_ranges.push_back({row, row + 1});
    }
  }
  // A run's slot offsets include the end of its last slot: rows*m + 1 values.
  std::vector<h5::Range> slot_ranges;
  for (const h5::Range& r : row_ranges)
    slot_ranges.push_back({r.begin * m, r.end * m + 1});

  std::vector<std::string> ids = f.query_id.read_strings(rows);
  std::vector<std::string> texts = f.query.read_strings(rows);
  const auto passage = f.passage.read_ranges<int64_t>(row_ranges);
  const auto teacher = f.teacher.read_ranges<float>(row_ranges);
  const auto student = f.student.read_ranges<float>(row_ranges);
  const auto label = f.label.read_ranges<int8_t>(row_ranges);
  const auto key_offset = f.key_offset.read_ranges<int64_t>(slot_ranges);
  const auto token_offset = f.token_offset.read_ranges<int64_t>(slot_ranges);

  // Each run's keys and tokens, and where they start in what is read.
  std::vector<h5::Range> key_ranges, token_ranges;
  std::vector<uint64_t> key_base, token_base;  // per run: its first key (token) in the read
  uint64_t keys = 0, tokens = 0;
  size_t at = 0;  // the run's first offset in key_offset / token_offset
  for (const h5::Range& r : row_ranges) {
    const size_t n = static_cast<size_t>((r.end - r.begin) * m + 1);
    const int64_t* ko = key_offset.data() + at;  // the run's slot offsets
    const int64_t* to = token_offset.data() + at;
    check_offsets(f.key_offset, ko, n, r.begin * m, f.num_keys);
    check_offsets(f.token_offset, to, n, r.begin * m, f.num_tokens);
    key_ranges.push_back({static_cast<uint64_t>(ko[0]), static_cast<uint64_t>(ko[n - 1])});
    token_ranges.push_back({static_cast<uint64_t>(to[0]), static_cast<uint64_t>(to[n - 1])});
    key_base.push_back(keys);
    token_base.push_back(tokens);
    keys += key_ranges.back().end - key_ranges.back().begin;
    tokens += token_ranges.back().end - token_ranges.back().begin;
    at += n;
  }
  const auto key_len = f.key_len.read_ranges<int32_t>(key_ranges);
  const auto key_count = f.key_count.read_ranges<int64_t>(key_ranges);
  const auto key_view = f.key_view.read_ranges<int8_t>(key_ranges);
  const auto key_log_prob = f.key_log_prob.read_ranges<float>(key_ranges);
  const auto token_ids = f.tokens.read_ranges<int32_t>(token_ranges);

  std::vector<DistillQuery> distinct(rows.size());
  size_t u = 0;          // index of the row among the distinct rows
  size_t offset_at = 0;  // the run's first offset
  for (size_t run = 0; run < row_ranges.size(); ++run) {
    const h5::Range& r = row_ranges[run];
    const uint64_t key_first = key_ranges[run].begin, token_first = token_ranges[run].begin;
    for (uint64_t row = r.begin; row < r.end; ++row, ++u) {
      DistillQuery& q = distinct[u];
      q.query_id = std::move(ids[u]);
      q.query = std::move(texts[u]);
      if (q.query_id.empty()) f.query_id.fail("holds an empty id at row " + std::to_string(row));
      bool padding = false;
      q.candidates.reserve(m);
      for (uint64_t j = 0; j < m; ++j) {
        const uint64_t s = u * m + j;  // slot within the rows read
        const size_t o = offset_at + static_cast<size_t>((row - r.begin) * m + j);
        // Where a problem is, built only for the message (a row holds thousands of keys).
        auto at = [&] {
          return " at row " + std::to_string(row) + ", candidate " + std::to_string(j);
        };
        const uint64_t k0 = static_cast<uint64_t>(key_offset[o]) - key_first + key_base[run];
        const uint64_t k1 = static_cast<uint64_t>(key_offset[o + 1]) - key_first + key_base[run];
        const uint64_t t0 = static_cast<uint64_t>(token_offset[o]) - token_first + token_base[run];
        uint64_t t = t0;
        const uint64_t t1 =
            static_cast<uint64_t>(token_offset[o + 1]) - token_first + token_base[run];
        if (passage[s] == -1) {
          padding = true;
          if (k1 != k0 || t1 != t0) f.key_offset.fail("gives keys to a padding slot" + at());
          if (label[s] != -1) f.label.fail("labels a padding slot" + at());
          continue;
        }
        if (passage[s] < 0) f.passage.fail("holds " + std::to_string(passage[s]) + at());
        if (padding) f.passage.fail("has a candidate after padding (passage -1)" + at());
        if (!std::isfinite(teacher[s])) f.teacher.fail("holds a non-finite score" + at());
        if (!std::isfinite(student[s])) f.student.fail("holds a non-finite score" + at());
        if (label[s] < -1) f.label.fail("holds " + std::to_string(label[s]) + at());
        if (k1 - k0 > static_cast<uint64_t>(f.meta.max_keys_per_candidate)) {
          f.key_offset.fail("gives " + std::to_string(k1 - k0) + " keys" + at() + ", more than " +
                            std::to_string(f.meta.max_keys_per_candidate));
        }
        DistillCandidate c;
        c.passage = passage[s];
        c.teacher_score = teacher[s];
        c.student_score = student[s];
        c.label = label[s];
        c.keys.resize(k1 - k0);
        for (uint64_t k = k0; k < k1; ++k) {
          auto key_at = [&] { return at() + ", key " + std::to_string(k - k0); };
          if (key_len[k] < 1 || static_cast<uint64_t>(key_len[k]) > t1 - t) {
            f.key_len.fail("holds " + std::to_string(key_len[k]) + key_at() + ", where " +
                           std::to_string(t1 - t) + " of the candidate's tokens remain");
          }
          if (key_view[k] < 0 || key_view[k] > static_cast<int8_t>(search::View::kPseudoQuery)) {
            f.key_view.fail("holds " + std::to_string(key_view[k]) + key_at() +
                            " (0 title, 1 body, 2 pseudo_queries)");
          }
          if (key_count[k] < 0)
            f.key_count.fail("holds " + std::to_string(key_count[k]) + key_at());
          if (std::isnan(key_log_prob[k])) f.key_log_prob.fail("holds NaN" + key_at());
          DistillKey& key = c.keys[k - k0];
          key.view = static_cast<search::View>(key_view[k]);
          key.count = key_count[k];
          key.log_prob = key_log_prob[k];
          key.tokens.assign(token_ids.begin() + static_cast<std::ptrdiff_t>(t),
                            token_ids.begin() + static_cast<std::ptrdiff_t>(t + key_len[k]));
          for (int32_t id : key.tokens) {
            if (id < 0) f.tokens.fail("holds token id " + std::to_string(id) + key_at());
          }
          t += static_cast<uint64_t>(key_len[k]);
        }
        if (t != t1) {
          f.token_offset.fail("gives " + std::to_string(t1 - t0) + " tokens" + at() +
                              " but its keys' lengths add up to " + std::to_string(t - t0));
        }
        q.candidates.push_back(std::move(c));
      }
    }
    offset_at += static_cast<size_t>((r.end - r.begin) * m + 1);
  }

  // In the order asked: a row's first request takes it, a repeat copies that.
  std::vector<DistillQuery> out;
  out.reserve(wanted.size());
  std::vector<size_t> first_at(rows.size(), wanted.size());
  for (uint64_t row : wanted) {
    const auto k =
        static_cast<size_t>(std::lower_bound(rows.begin(), rows.end(), row) - rows.begin());
    if (first_at[k] == wanted.size()) {
      first_at[k] = out.size();
      out.push_back(std::move(distinct[k]));
    } else {
      out.push_back(out[first_at[k]]);
    }
  }
  return out;
}

std::vector<DistillSetFile::RowSummary> DistillSetFile::summaries(int relevance_threshold) const {
  if (!impl_ || impl_->size == 0) return {};
  const Impl& f = *impl_;
  const uint64_t m = f.m;
  std::vector<RowSummary> out(f.size);
  // In blocks of rows, so a large set is never held whole.
  constexpr uint64_t kBlock = 4096;
  for (uint64_t first = 0; first < f.size; first += kBlock) {
    const uint64_t count = std::min(kBlock, f.size - first);
    const auto passage = f.passage.read_rows<int64_t>(first, count);
    const auto label = f.label.read_rows<int8_t>(first, count);
    for (uint64_t i = 0; i < count; ++i) {
      RowSummary& r = out[first + i];
      bool padding = false;
      for (uint64_t j = 0; j < m; ++j) {
        const uint64_t s = i * m + j;
        auto at = [&] {
          return " at row " + std::to_string(first + i) + ", candidate " + std::to_string(j);
        };
        if (passage[s] == -1) {
          padding = true;
          continue;
        }
        if (passage[s] < 0) f.passage.fail("holds " + std::to_string(passage[s]) + at());
        if (padding) f.passage.fail("has a candidate after padding (passage -1)" + at());
        if (label[s] < -1) f.label.fail("holds " + std::to_string(label[s]) + at());
        ++r.candidates;
        if (label[s] >= relevance_threshold) ++r.positives;
      }
    }
  }
  return out;
}

std::optional<uint64_t> DistillSetFile::row(const std::string& query_id) const {
  if (!impl_) return std::nullopt;
  Impl& f = *impl_;
  std::lock_guard<std::mutex> lock(f.ids_mutex);
  if (!f.ids_loaded) {
    const std::vector<std::string> ids = f.query_id.read_strings();
    f.rows_by_id.reserve(ids.size());
    for (uint64_t r = 0; r < ids.size(); ++r) {
      const auto [it, inserted] = f.rows_by_id.emplace(ids[r], r);
      if (!inserted) {
        // Read the first row before clear() frees the node `it` points to.
        const uint64_t first = it->second;
        f.rows_by_id.clear();
        f.query_id.fail("holds '" + ids[r] + "' at rows " + std::to_string(first) + " and " +
                        std::to_string(r));
      }
    }
    f.ids_loaded = true;
  }
  const auto it = f.rows_by_id.find(query_id);
  if (it == f.rows_by_id.end()) return std::nullopt;
  return it->second;
}

std::optional<DistillQuery> DistillSetFile::find(const std::string& query_id) const {
  const std::optional<uint64_t> r = row(query_id);
  if (!r) return std::nullopt;
  return std::move(read(*r, 1).front());
}

void DistillSetFile::check_hashes(const std::string& expected_corpus_hash,
                                  const std::string& expected_index_hash) const {
  data::check_hashes(path(), meta(), expected_corpus_hash, expected_index_hash);
}

// ---------------------------------------------------------------------------------------------
// Provenance

void check_hashes(const std::string& path, const DistillSetMeta& meta,
                  const std::string& expected_corpus_hash, const std::string& expected_index_hash) {
  std::vector<std::string> problems;
  auto compare = [&](const char* what, const char* attribute, const std::string& recorded,
                     const std::string& expected) {
    if (expected.empty() || recorded == expected) return;
    problems.push_back(std::string("another ") + what + " (the file's " + attribute + " is " +
                       (recorded.empty() ? "empty" : "'" + recorded + "'") + ", the configured " +
                       what + "'s is '" + expected + "')");
  };
  compare("corpus", "corpus_hash", meta.corpus_hash, expected_corpus_hash);
  compare("index", "index_hash", meta.index_hash, expected_index_hash);
  if (problems.empty()) return;
  std::string message = path + ": distillation set was made from ";
  for (size_t i = 0; i < problems.size(); ++i)
    message += (i ? " and from " : "") + problems[i];
  throw DataError(message + "; rebuild it with `dgr teacher rank` for this configuration");
}

std::string index_content_hash(const index::Manifest& manifest) {
  std::ostringstream text;
  text << "dgr index content 1\n"
       << "format_version " << manifest.format_version << "\n"
       << "tokenizer_hash " << manifest.tokenizer_hash << "\n"
       << "corpus_hash " << manifest.corpus_hash << "\n"
       << "pseudo_queries_hash " << manifest.pseudo_queries_hash << "\n";
  std::string views;
  for (const std::string& name : index::view_names(manifest.views))
    views += (views.empty() ? "" : ",") + name;
  text << "views " << views << "\n"
       << "markers "
       << nlohmann::json{{"title_start", manifest.views.title_start},
                         {"title_end", manifest.views.title_end},
                         {"pq_start", manifest.views.pq_start},
                         {"pq_end", manifest.views.pq_end}}
              .dump()
       << "\n"
       << "num_passages " << manifest.num_passages << "\n"
       << "num_tokens " << manifest.num_tokens << "\n";
  for (const index::ShardInfo& shard : manifest.shards) {
    text << "shard " << shard.first_passage << " " << shard.num_passages << " " << shard.num_tokens
         << " " << shard.bytes << " " << shard.sha256 << "\n";
  }
  return sha256_hex(text.str());
}

// ---------------------------------------------------------------------------------------------
// Inspection

namespace {

std::string quoted(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string token_list(const std::vector<int32_t>& tokens) {
  std::string out = "[";
  for (size_t i = 0; i < tokens.size(); ++i)
    out += (i ? " " : "") + std::to_string(tokens[i]);
  return out + "]";
}

std::string fixed(double value, int precision) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(precision) << value;
  return out.str();
}

}  // namespace

std::string describe_query(const DistillQuery& query, const DescribeOptions& options) {
  const auto& cands = query.candidates;
  std::vector<size_t> by_teacher(cands.size()), by_student(cands.size());
  std::iota(by_teacher.begin(), by_teacher.end(), 0);
  std::iota(by_student.begin(), by_student.end(), 0);
  std::stable_sort(by_teacher.begin(), by_teacher.end(), [&](size_t a, size_t b) {
    return cands[a].teacher_score > cands[b].teacher_score;
  });
  std::stable_sort(by_student.begin(), by_student.end(), [&](size_t a, size_t b) {
    return cands[a].student_score > cands[b].student_score;
  });
  std::vector<size_t> student_rank(cands.size());
  for (size_t r = 0; r < by_student.size(); ++r)
    student_rank[by_student[r]] = r + 1;
  size_t judged = 0, positive = 0, keys = 0;
  for (const DistillCandidate& c : cands) {
    judged += c.label >= 0 ? 1 : 0;
    positive += c.label > 0 ? 1 : 0;
    keys += c.keys.size();
  }

  std::ostringstream out;
  out << "query " << quoted(query.query_id) << ": " << quoted(query.query) << "\n"
      << cands.size() << " candidates, " << judged << " judged, " << positive << " positive, "
      << keys << " keys; in teacher order:\n";
  const size_t shown =
      options.max_candidates == 0 ? cands.size() : std::min(options.max_candidates, cands.size());
  std::vector<std::string> passages(shown);
  size_t width = 7;  // "passage"
  for (size_t r = 0; r < shown; ++r) {
    const int64_t p = cands[by_teacher[r]].passage;
    passages[r] = options.passage_id ? options.passage_id(p) : std::to_string(p);
    width = std::max(width, passages[r].size());
  }
  out << std::right << std::setw(5) << "rank"
      << "  " << std::left << std::setw(static_cast<int>(width)) << "passage" << std::right
      << std::setw(12) << "teacher" << std::setw(12) << "student" << std::setw(8) << "s.rank"
      << std::setw(7) << "label"
      << "\n";
  for (size_t r = 0; r < shown; ++r) {
    const DistillCandidate& c = cands[by_teacher[r]];
    out << std::right << std::setw(5) << r + 1 << "  " << std::left
        << std::setw(static_cast<int>(width)) << passages[r] << std::right << std::setw(12)
        << fixed(c.teacher_score, 4) << std::setw(12) << fixed(c.student_score, 4) << std::setw(8)
        << student_rank[by_teacher[r]] << std::setw(7)
        << (c.label < 0 ? std::string("-") : std::to_string(c.label)) << "\n";
    if (!options.keys) continue;
    for (const DistillKey& key : c.keys) {
      out << "         " << std::left << std::setw(15) << search::view_name(key.view)
          << (options.detokenize ? quoted(options.detokenize(key.tokens)) : token_list(key.tokens))
          << "  count " << key.count << "  log_prob " << fixed(key.log_prob, 3) << "\n";
    }
  }
  if (shown < cands.size()) out << "(" << cands.size() - shown << " more candidates)\n";
  return out.str();
}

}  // namespace dgr::data
