#include "core/index/manifest.h"

#include <yaml-cpp/yaml.h>

#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/hash.h"

namespace dgr::index {
namespace {

namespace fs = std::filesystem;

constexpr char kShardMagic[8] = {'D', 'G', 'R', 'S', 'H', 'A', 'R', 'D'};
constexpr uint32_t kShardVersion = 1;

struct ShardHeader {
  char magic[8];
  uint32_t version;
  uint32_t num_passages;
  uint64_t index_bytes;
  uint64_t ids_bytes;
};

template <class T>
T required(const YAML::Node& node, const char* key, const std::string& path) {
  if (!node.IsMap()) {
    throw DataError(located(path, node.Mark().line + 1,
                            std::string("manifest: expected a map with the key '") + key + "'"));
  }
  YAML::Node value = node[key];
  if (!value.IsDefined() || value.IsNull()) {
    throw DataError(path + ": manifest lacks key '" + key + "'");
  }
  try {
    return value.as<T>();
  } catch (const YAML::Exception&) {
    throw DataError(located(path, value.Mark().line + 1,
                            std::string("manifest key '") + key + "' has the wrong type"));
  }
}

// An optional string key: "" when absent or null.
std::string optional_string(const YAML::Node& node, const char* key, const std::string& path) {
  YAML::Node value = node[key];
  if (!value.IsDefined() || value.IsNull()) return "";
  return required<std::string>(node, key, path);
}

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

}  // namespace

Manifest Manifest::read(const std::string& path) {
  if (!file_exists(path)) {
    throw IoError(path + ": no index manifest here (build the index with `dgr index build`)");
  }
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::ParserException& e) {
    throw DataError(located(path, e.mark.line + 1, "malformed manifest: " + e.msg));
  }
  if (!root.IsMap()) throw DataError(path + ": a manifest must be a YAML map");
  Manifest m;
  m.format_version = required<int>(root, "format_version", path);
  if (m.format_version != kIndexFormatVersion) {
    throw DataError(path + ": index format version " + std::to_string(m.format_version) +
                    " is not supported (this build reads version " +
                    std::to_string(kIndexFormatVersion) + "); rebuild the index");
  }
  m.tokenizer_hash = required<std::string>(root, "tokenizer_hash", path);
  m.corpus = required<std::string>(root, "corpus", path);
  m.corpus_hash = required<std::string>(root, "corpus_hash", path);
  m.pseudo_queries_hash = optional_string(root, "pseudo_queries_hash", path);
  m.config_hash = required<std::string>(root, "config_hash", path);
  m.created = optional_string(root, "created", path);
  YAML::Node views = root["views"];
  if (!views.IsSequence()) throw DataError(path + ": manifest key 'views' must be a list");
  try {
    set_views(m.views, views.as<std::vector<std::string>>(), path);
  } catch (const YAML::Exception&) {
    throw DataError(
        located(path, views.Mark().line + 1, "manifest key 'views' must be a list of view names"));
  } catch (const ConfigError& e) {
    // A bad view here is a damaged file, not a bad setting.
    throw DataError(std::string(e.what()) + " (manifest key 'views')");
  }
  YAML::Node markers = root["markers"];
  if (!markers.IsMap()) throw DataError(path + ": manifest lacks the map 'markers'");
  m.views.title_start = required<std::string>(markers, "title_start", path);
  m.views.title_end = required<std::string>(markers, "title_end", path);
  m.views.pq_start = required<std::string>(markers, "pq_start", path);
  m.views.pq_end = required<std::string>(markers, "pq_end", path);
  m.num_passages = required<uint32_t>(root, "num_passages", path);
  m.num_tokens = required<uint64_t>(root, "num_tokens", path);
  // The view start counts came later (format version 2 without them still reads): both or
  // neither.
  const bool has_title_starts = root["title_starts"].IsDefined();
  const bool has_pq_starts = root["pq_starts"].IsDefined();
  if (has_title_starts != has_pq_starts) {
    throw DataError(path + ": manifest has '" +
                    std::string(has_title_starts ? "title_starts" : "pq_starts") + "' without '" +
                    (has_title_starts ? "pq_starts" : "title_starts") + "'");
  }
  m.view_starts_known = has_title_starts;
  if (m.view_starts_known) {
    m.title_starts = required<uint64_t>(root, "title_starts", path);
    m.pq_starts = required<uint64_t>(root, "pq_starts", path);
  }
  YAML::Node shards = root["shards"];
  if (!shards.IsSequence() || shards.size() == 0) {
    throw DataError(path + ": manifest key 'shards' must be a non-empty list");
  }
  uint32_t next_passage = 0;
  for (const auto& node : shards) {
    ShardInfo s;
    s.file = required<std::string>(node, "file", path);
    s.first_passage = required<uint32_t>(node, "first_passage", path);
    s.num_passages = required<uint32_t>(node, "num_passages", path);
    s.num_tokens = required<uint64_t>(node, "num_tokens", path);
    s.bytes = required<uint64_t>(node, "bytes", path);
    s.sha256 = required<std::string>(node, "sha256", path);
    if (s.first_passage != next_passage || s.file.find('/') != std::string::npos) {
      throw DataError(located(path, node.Mark().line + 1,
                              "shard '" + s.file + "' does not continue the passage range at " +
                                  std::to_string(next_passage)));
    }
    next_passage += s.num_passages;
    m.shards.push_back(s);
  }
  if (next_passage != m.num_passages) {
    throw DataError(path + ": shards cover " + std::to_string(next_passage) + " passages, the " +
                    "manifest says " + std::to_string(m.num_passages));
  }
  return m;
}

void Manifest::write(const std::string& path) const {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "format_version" << YAML::Value << format_version;
  out << YAML::Key << "kind" << YAML::Value << "dgr-fm-index";
  out << YAML::Key << "tokenizer_hash" << YAML::Value << tokenizer_hash;
  out << YAML::Key << "corpus" << YAML::Value << corpus;
  out << YAML::Key << "corpus_hash" << YAML::Value << corpus_hash;
  out << YAML::Key << "pseudo_queries_hash" << YAML::Value << pseudo_queries_hash;
  out << YAML::Key << "config_hash" << YAML::Value << config_hash;
  out << YAML::Key << "created" << YAML::Value << (created.empty() ? utc_now() : created);
  out << YAML::Key << "views" << YAML::Value << YAML::Flow << view_names(views);
  out << YAML::Key << "markers" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "title_start" << YAML::Value << YAML::DoubleQuoted << views.title_start;
  out << YAML::Key << "title_end" << YAML::Value << YAML::DoubleQuoted << views.title_end;
  out << YAML::Key << "pq_start" << YAML::Value << YAML::DoubleQuoted << views.pq_start;
  out << YAML::Key << "pq_end" << YAML::Value << YAML::DoubleQuoted << views.pq_end;
  out << YAML::EndMap;
  out << YAML::Key << "num_passages" << YAML::Value << num_passages;
  out << YAML::Key << "num_tokens" << YAML::Value << num_tokens;
  if (view_starts_known) {
    out << YAML::Key << "title_starts" << YAML::Value << title_starts;
    out << YAML::Key << "pq_starts" << YAML::Value << pq_starts;
  }
  out << YAML::Key << "shards" << YAML::Value << YAML::BeginSeq;
  for (const auto& s : shards) {
    out << YAML::BeginMap;
    out << YAML::Key << "file" << YAML::Value << s.file;
    out << YAML::Key << "first_passage" << YAML::Value << s.first_passage;
    out << YAML::Key << "num_passages" << YAML::Value << s.num_passages;
    out << YAML::Key << "num_tokens" << YAML::Value << s.num_tokens;
    out << YAML::Key << "bytes" << YAML::Value << s.bytes;
    out << YAML::Key << "sha256" << YAML::Value << s.sha256;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  write_file_atomic(path, std::string(out.c_str()) + "\n");
}

ViewStarts count_view_starts(const FmIndex& shard, const ViewOptions& views,
                             const ViewMarkers& markers) {
  ViewStarts starts;
  if (views.title && !markers.title_start.empty()) starts.title = shard.count(markers.title_start);
  if (views.pseudo_queries && !markers.pq_start.empty()) starts.pq = shard.count(markers.pq_start);
  return starts;
}

void fill_view_starts(const std::string& dir, Manifest& manifest, const ViewMarkers& markers) {
  if (manifest.view_starts_known) return;
  ViewStarts total;
  for (const auto& info : manifest.shards) {
    const std::string path = (fs::path(dir) / info.file).string();
    const Shard shard = read_shard(path);
    if (shard.passage_ids.size() != info.num_passages) {
      throw DataError(path + ": shard holds " + std::to_string(shard.passage_ids.size()) +
                      " passages, the manifest says " + std::to_string(info.num_passages));
    }
    const ViewStarts starts = count_view_starts(*shard.index, manifest.views, markers);
    total.title += starts.title;
    total.pq += starts.pq;
  }
  manifest.title_starts = total.title;
  manifest.pq_starts = total.pq;
  manifest.view_starts_known = true;
}

void write_shard(const std::string& path, const FmIndex& index,
                 const std::vector<std::string>& passage_ids) {
  if (passage_ids.size() != index.num_passages()) {
    throw Error(path + ": " + std::to_string(passage_ids.size()) + " passage ids for an index of " +
                std::to_string(index.num_passages()) + " passages");
  }
  std::ostringstream payload;
  index.save(payload);
  const std::string index_bytes = payload.str();
  std::string ids;
  for (const auto& id : passage_ids) {
    uint32_t length = static_cast<uint32_t>(id.size());
    ids.append(reinterpret_cast<const char*>(&length), sizeof(length));
    ids += id;
  }
  ShardHeader header{};
  std::memcpy(header.magic, kShardMagic, sizeof(kShardMagic));
  header.version = kShardVersion;
  header.num_passages = static_cast<uint32_t>(passage_ids.size());
  header.index_bytes = index_bytes.size();
  header.ids_bytes = ids.size();
  write_file_atomic(path, [&](std::FILE* file) {
    if (std::fwrite(&header, sizeof(header), 1, file) != 1 ||
        std::fwrite(index_bytes.data(), 1, index_bytes.size(), file) != index_bytes.size() ||
        std::fwrite(ids.data(), 1, ids.size(), file) != ids.size()) {
      throw IoError(path + ": write failed");
    }
  });
}

Shard read_shard(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open index shard");
  std::error_code ec;
  const uint64_t file_size = fs::file_size(path, ec);
  ShardHeader header{};
  if (file_size < sizeof(header) || !in.read(reinterpret_cast<char*>(&header), sizeof(header))) {
    throw DataError(path + ": truncated index shard (no complete header)");
  }
  if (std::memcmp(header.magic, kShardMagic, sizeof(kShardMagic)) != 0) {
    throw DataError(path + ": not a dgr index shard (bad magic)");
  }
  if (header.version != kShardVersion) {
    throw DataError(path + ": shard version " + std::to_string(header.version) +
                    " is not supported; rebuild the index");
  }
  if (sizeof(header) + header.index_bytes + header.ids_bytes != file_size) {
    throw DataError(path + ": truncated or padded index shard (header says " +
                    std::to_string(sizeof(header) + header.index_bytes + header.ids_bytes) +
                    " bytes, the file has " + std::to_string(file_size) + ")");
  }
  Shard shard;
  auto index = std::make_shared<FmIndex>(FmIndex::load(in, path));
  if (static_cast<uint64_t>(in.tellg()) != sizeof(header) + header.index_bytes) {
    throw DataError(path + ": corrupt index shard (index payload size mismatch)");
  }
  if (index->num_passages() != header.num_passages) {
    throw DataError(path + ": corrupt index shard (passage count mismatch)");
  }
  std::string ids(header.ids_bytes, '\0');
  if (!in.read(ids.data(), static_cast<std::streamsize>(ids.size()))) {
    throw DataError(path + ": truncated index shard (passage ids)");
  }
  size_t pos = 0;
  shard.passage_ids.reserve(header.num_passages);
  for (uint32_t i = 0; i < header.num_passages; ++i) {
    uint32_t length = 0;
    if (pos + sizeof(length) > ids.size()) throw DataError(path + ": corrupt passage id table");
    std::memcpy(&length, ids.data() + pos, sizeof(length));
    pos += sizeof(length);
    if (pos + length > ids.size()) throw DataError(path + ": corrupt passage id table");
    shard.passage_ids.emplace_back(ids.data() + pos, length);
    pos += length;
  }
  if (pos != ids.size()) throw DataError(path + ": corrupt passage id table (trailing bytes)");
  shard.index = std::move(index);
  return shard;
}

IndexDirectory load_index_directory(const std::string& dir, bool verify_checksums) {
  IndexDirectory out;
  out.dir = dir;
  out.manifest = Manifest::read((fs::path(dir) / "manifest.yaml").string());
  std::vector<std::shared_ptr<const FmIndex>> shards;
  std::vector<uint32_t> first_passage;
  for (const auto& info : out.manifest.shards) {
    const std::string path = (fs::path(dir) / info.file).string();
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      throw IoError(path + ": index shard listed in the manifest is missing");
    }
    uint64_t size = fs::file_size(path, ec);
    if (size != info.bytes) {
      throw DataError(path + ": index shard has " + std::to_string(size) +
                      " bytes, the manifest says " + std::to_string(info.bytes) +
                      " (truncated or replaced)");
    }
    if (verify_checksums && sha256_file(path) != info.sha256) {
      throw DataError(path + ": index shard checksum differs from the manifest (corrupt)");
    }
    Shard shard = read_shard(path);
    if (shard.passage_ids.size() != info.num_passages) {
      throw DataError(path + ": shard holds " + std::to_string(shard.passage_ids.size()) +
                      " passages, the manifest says " + std::to_string(info.num_passages));
    }
    out.passage_ids.insert(out.passage_ids.end(), shard.passage_ids.begin(),
                           shard.passage_ids.end());
    shards.push_back(std::move(shard.index));
    first_passage.push_back(info.first_passage);
  }
  out.index = ShardedIndex(std::move(shards), std::move(first_passage));
  return out;
}

}  // namespace dgr::index
