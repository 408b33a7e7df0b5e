// The distillation set written by several ranks through parallel HDF5: whatever the cut of the
// rows over the ranks (uneven slices, chunks shared by two ranks, ranks without rows), the file is
// byte for byte the one a single process writes (serially, or alone on MPI_COMM_SELF), and each
// rank reads its own hyperslab back. An invalid record on one rank, a meta that differs between
// ranks, or slices out of rank order make every rank throw the same error, and nothing is
// written. Holds for any world size.
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "data/distill_set.h"
#include "data/hdf5_file.h"
#include "distributed/hdf5_group.h"
#include "tests/distributed/mpi_test_env.h"

namespace dgr::data {
namespace {

namespace fs = std::filesystem;
using distributed::test_env::context;

// A directory every rank of this run shares (named after rank 0's pid).
std::string shared_dir(const std::string& test) {
  std::string pid = std::to_string(::getpid());
  context().broadcast_string(pid);
  const fs::path dir = fs::path(DGR_TEST_TMP_DIR) / ("distill_set_mpi_" + pid) / test;
  if (context().is_root()) fs::create_directories(dir);
  context().barrier();
  return dir.string();
}

h5::WriterGroup world() {
  return distributed::hdf5_writer_group(context().comm());
}

DistillSetMeta test_meta() {
  DistillSetMeta meta;
  meta.teacher = "cross-encoder:tiny";
  meta.corpus_hash = std::string(64, 'c');
  meta.index_hash = std::string(64, 'i');
  meta.config_hash = std::string(64, 'f');
  meta.created = "2024-05-01T12:00:00Z";
  meta.candidates_per_query = 12;
  meta.max_keys_per_candidate = 6;
  return meta;
}

// The same queries on every rank (fixed seed): padded candidate lists, ragged keys, Unicode.
std::vector<DistillQuery> make_queries(size_t n, const DistillSetMeta& meta) {
  std::mt19937_64 rng(77);
  std::vector<DistillQuery> queries(n);
  for (size_t i = 0; i < n; ++i) {
    DistillQuery& q = queries[i];
    q.query_id = "q" + std::to_string(i) + std::string(i % 5, 'z');
    q.query = "qüestion " + std::to_string(rng() % 100000) + (i % 3 == 0 ? " ∑ λ" : "");
    const size_t cands = rng() % (meta.candidates_per_query + 1);
    for (size_t j = 0; j < cands; ++j) {
      DistillCandidate c;
      c.passage = static_cast<int64_t>(rng() % 50000);
      c.teacher_score = static_cast<float>(rng() % 2000) / 100.0f - 10.0f;
      c.student_score = static_cast<float>(rng() % 90000) / 10.0f;
      c.label = static_cast<int8_t>(static_cast<int>(rng() % 4) - 1);
      const size_t keys = rng() % (meta.max_keys_per_candidate + 1);
      for (size_t k = 0; k < keys; ++k) {
        DistillKey key;
        key.view = static_cast<search::View>(rng() % 3);
        key.tokens.resize(1 + rng() % 7);
        for (int32_t& t : key.tokens)
          t = static_cast<int32_t>(rng() % 50265);
        key.count = static_cast<int64_t>(rng() % 100000);
        key.log_prob = -static_cast<float>(rng() % 3000) / 100.0f;
        c.keys.push_back(std::move(key));
      }
      q.candidates.push_back(std::move(c));
    }
  }
  return queries;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string dump(const std::vector<DistillQuery>& queries) {
  std::ostringstream out;
  out << std::hexfloat;
  for (const DistillQuery& q : queries) {
    out << q.query_id << " " << q.query << "\n";
    for (const DistillCandidate& c : q.candidates) {
      out << " " << c.passage << " " << c.teacher_score << " " << c.student_score << " "
          << static_cast<int>(c.label) << "\n";
      for (const DistillKey& k : c.keys) {
        out << "  " << static_cast<int>(k.view) << " " << k.count << " " << k.log_prob;
        for (int32_t t : k.tokens)
          out << " " << t;
        out << "\n";
      }
    }
  }
  return out.str();
}

// Rank r's slice [begin, end) of `n` rows under one way of cutting them.
enum class Cut { kUneven, kAllOnLast, kAllOnFirst, kReversed };  // kReversed: refused

std::pair<size_t, size_t> slice(Cut cut, size_t n, int rank, int size) {
  const size_t r = static_cast<size_t>(rank), s = static_cast<size_t>(size);
  switch (cut) {
    case Cut::kUneven: {  // rank r gets a share growing with r: r+1 parts of s(s+1)/2
      auto edge = [&](size_t k) { return n * (k * (k + 1) / 2) / (s * (s + 1) / 2); };
      return {edge(r), edge(r + 1)};
    }
    case Cut::kAllOnLast:
      return r + 1 == s ? std::make_pair(size_t{0}, n) : std::make_pair(size_t{0}, size_t{0});
    case Cut::kAllOnFirst:
      return r == 0 ? std::make_pair(size_t{0}, n) : std::make_pair(n, n);
    case Cut::kReversed: {  // rank 0 holds the last rows, the last rank the first
      const size_t k = s - 1 - r;
      return {n * k / s, n * (k + 1) / s};
    }
  }
  return {0, 0};
}

TEST(DistillSetMpi, RanksWriteTheBytesOfOneProcess) {
  const std::string dir = shared_dir("bytes");
  const DistillSetMeta meta = test_meta();
  const size_t n = 37;
  const std::vector<DistillQuery> queries = make_queries(n, meta);
  // Small chunks, so that chunks straddle the ranks' slices.
  const DistillStoreOptions options{2048, 4};
  const std::string serial = dir + "/serial.h5", self = dir + "/self.h5";
  if (context().is_root()) {
    write_distill_set(serial, meta, queries, 0, n, h5::WriterGroup::serial(), options);
    write_distill_set(self, meta, queries, 0, n, distributed::hdf5_writer_group(MPI_COMM_SELF),
                      options);
  }
  context().barrier();
  const std::string expected = file_bytes(serial);
  ASSERT_FALSE(expected.empty());
  EXPECT_TRUE(file_bytes(self) == expected) << "MPI_COMM_SELF differs from the serial writer";

  for (Cut cut : {Cut::kUneven, Cut::kAllOnLast, Cut::kAllOnFirst}) {
    const auto [begin, end] = slice(cut, n, context().rank(), context().size());
    const std::vector<DistillQuery> local(queries.begin() + begin, queries.begin() + end);
    const std::string path = dir + "/cut-" + std::to_string(static_cast<int>(cut)) + ".h5";
    write_distill_set(path, meta, local, begin, n, world(), options);
    const std::string bytes = file_bytes(path);
    EXPECT_EQ(bytes.size(), expected.size()) << "cut " << static_cast<int>(cut);
    EXPECT_TRUE(bytes == expected) << "cut " << static_cast<int>(cut) << " differs";

    // Every rank reads its own rows back.
    const DistillSetFile file = DistillSetFile::open(path);
    ASSERT_EQ(file.size(), n);
    EXPECT_EQ(dump(file.read(begin, end - begin)), dump(local)) << "cut " << static_cast<int>(cut);
  }
  context().barrier();
  if (context().is_root()) fs::remove_all(fs::path(dir).parent_path());
}

TEST(DistillSetMpi, BadRecordOnOneRankFailsEveryRank) {
  const std::string dir = shared_dir("bad-record");
  const DistillSetMeta meta = test_meta();
  const size_t n = 8;
  std::vector<DistillQuery> queries = make_queries(n, meta);
  const int last = context().size() - 1;
  const auto [begin, end] = slice(Cut::kUneven, n, last, context().size());
  queries[begin].candidates.resize(1);
  queries[begin].candidates[0].teacher_score = std::nanf("");
  const auto [my_begin, my_end] = slice(Cut::kUneven, n, context().rank(), context().size());
  const std::vector<DistillQuery> local(queries.begin() + my_begin, queries.begin() + my_end);
  const std::string path = dir + "/bad.h5";
  try {
    write_distill_set(path, meta, local, my_begin, n, world());
    ADD_FAILURE() << "no exception";
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("[rank " + std::to_string(last) + "/"), std::string::npos) << message;
    EXPECT_NE(message.find("query '" + queries[begin].query_id + "'"), std::string::npos)
        << message;
    EXPECT_NE(message.find("teacher score is not finite"), std::string::npos) << message;
  }
  context().barrier();
  EXPECT_FALSE(fs::exists(path));
  (void)end;
  (void)my_end;
}

TEST(DistillSetMpi, DifferentMetaOrOverlappingSlicesFailEveryRank) {
  const std::string dir = shared_dir("meta");
  DistillSetMeta meta = test_meta();
  const size_t n = 6;
  const std::vector<DistillQuery> queries = make_queries(n, meta);
  const auto [begin, end] = slice(Cut::kUneven, n, context().rank(), context().size());
  const std::vector<DistillQuery> local(queries.begin() + begin, queries.begin() + end);
  const std::string path = dir + "/set.h5";
  if (context().size() > 1) {
    DistillSetMeta mine = meta;
    mine.created = "2024-05-01T12:00:0" + std::to_string(context().rank()) + "Z";
    try {
      write_distill_set(path, mine, local, begin, n, world());
      ADD_FAILURE() << "no exception";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("differ from rank 0's"), std::string::npos) << e.what();
    }
  }
  // Slices out of rank order (rank 0 holds the last rows): refused, as the chunks would be
  // placed in another order.
  if (context().size() > 1) {
    const auto [rb, re] = slice(Cut::kReversed, n, context().rank(), context().size());
    const std::vector<DistillQuery> reversed(queries.begin() + rb, queries.begin() + re);
    try {
      write_distill_set(path, meta, reversed, rb, n, world());
      ADD_FAILURE() << "no exception";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("in rank order"), std::string::npos) << e.what();
    }
  }
  // Every rank claims all rows: only one process may hold them (with 1 rank this is valid).
  try {
    write_distill_set(path, meta, queries, 0, n, world());
    EXPECT_EQ(context().size(), 1);
  } catch (const ConfigError& e) {
    EXPECT_GT(context().size(), 1);
    EXPECT_NE(std::string(e.what()).find("must tile"), std::string::npos) << e.what();
  }
  context().barrier();
  EXPECT_EQ(fs::exists(path), context().size() == 1);
  context().barrier();
  if (context().is_root()) fs::remove_all(fs::path(dir).parent_path());
  (void)end;
}

}  // namespace
}  // namespace dgr::data
