// The MPI context under several ranks: identity, barrier and the small agreement collectives.
#include <gtest/gtest.h>
#include <mpi.h>

#include <set>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "distributed/mpi_context.h"
#include "tests/distributed/mpi_test_env.h"

namespace dgr::distributed {
namespace {

using test_env::context;

TEST(MpiContext, RanksAreDistinctAndCoverTheWorld) {
  MpiContext& ctx = context();
  if (test_env::expected_size() > 0) {
    EXPECT_EQ(ctx.size(), test_env::expected_size());
  }
  ASSERT_GE(ctx.rank(), 0);
  ASSERT_LT(ctx.rank(), ctx.size());
  EXPECT_EQ(ctx.is_root(), ctx.rank() == 0);

  int world_rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  EXPECT_EQ(ctx.rank(), world_rank);

  const std::vector<std::string> ranks = ctx.gather_strings(std::to_string(ctx.rank()));
  if (ctx.is_root()) {
    ASSERT_EQ(ranks.size(), static_cast<size_t>(ctx.size()));
    for (int r = 0; r < ctx.size(); ++r)
      EXPECT_EQ(ranks[static_cast<size_t>(r)], std::to_string(r));
  }
}

TEST(MpiContext, CommIsADuplicateOfTheWorld) {
  int result = MPI_UNEQUAL;
  MPI_Comm_compare(context().comm(), MPI_COMM_WORLD, &result);
  EXPECT_EQ(result, MPI_CONGRUENT);
}

TEST(MpiContext, RecordsTheProvidedThreadLevel) {
  MpiContext& ctx = context();
  int queried = -1;
  MPI_Query_thread(&queried);
  EXPECT_EQ(ctx.thread_level(), queried);
  EXPECT_NO_THROW(ctx.require_thread_level(MPI_THREAD_SINGLE, "nothing"));
  if (ctx.thread_level() < MPI_THREAD_MULTIPLE) {
    EXPECT_THROW(ctx.require_thread_level(MPI_THREAD_MULTIPLE, "the test"), CommError);
  }
}

TEST(MpiContext, HostnameIsKnown) {
  EXPECT_FALSE(context().hostname().empty());
}

// The ranks of a job on one machine: every rank counts the ranks that share its host name (from
// all of them, so the count cannot come from this rank alone) and takes its place among them.
TEST(MpiContext, RanksOnThisNodeShareTheHostName) {
  const std::vector<std::string> names = context().gather_strings(context().hostname());
  std::string counts;
  if (context().is_root()) {
    for (int r = 0; r < context().size(); ++r) {
      int same = 0;
      int before = 0;
      for (int o = 0; o < context().size(); ++o) {
        if (names[static_cast<size_t>(o)] != names[static_cast<size_t>(r)]) continue;
        ++same;
        before += o < r ? 1 : 0;
      }
      counts += std::to_string(same) + " " + std::to_string(before) + "\n";
    }
  }
  context().broadcast_string(counts);
  const size_t line = static_cast<size_t>(context().rank());
  size_t start = 0;
  for (size_t k = 0; k < line; ++k)
    start = counts.find('\n', start) + 1;
  EXPECT_EQ(
      counts.substr(start, counts.find('\n', start) - start),
      std::to_string(context().ranks_on_node()) + " " + std::to_string(context().node_rank()));
  EXPECT_GE(context().ranks_on_node(), 1);
  EXPECT_LT(context().node_rank(), context().ranks_on_node());
}

TEST(MpiContext, BarrierCompletesOnEveryRank) {
  MpiContext& ctx = context();
  for (int i = 0; i < 3; ++i)
    EXPECT_NO_THROW(ctx.barrier());
}

TEST(MpiContext, AllTrueIsTheLogicalAndOverRanks) {
  MpiContext& ctx = context();
  EXPECT_TRUE(ctx.all_true(true));
  EXPECT_FALSE(ctx.all_true(false));
  // One rank (the last) disagrees: everybody hears false.
  EXPECT_FALSE(ctx.all_true(ctx.rank() != ctx.size() - 1));
  // Only the root disagrees.
  EXPECT_FALSE(ctx.all_true(!ctx.is_root()));
}

TEST(MpiContext, BroadcastStringGivesEveryRankTheRootsValue) {
  MpiContext& ctx = context();
  for (int root = 0; root < ctx.size(); ++root) {
    const std::string expected = "from rank " + std::to_string(root) + std::string(1, '\0') + "é";
    std::string value = ctx.rank() == root ? expected : std::string(1000, 'x');
    ctx.broadcast_string(value, root);
    EXPECT_EQ(value, expected) << "root " << root;
  }
  std::string empty = ctx.is_root() ? "" : "not empty";
  ctx.broadcast_string(empty);
  EXPECT_EQ(empty, "");
}

TEST(MpiContext, GatherStringsCollectsEveryRankInOrderOnTheRoot) {
  MpiContext& ctx = context();
  // Lengths differ per rank, and one rank sends an empty string.
  const std::string local = ctx.rank() == 1 ? ""
                                            : std::string(static_cast<size_t>(ctx.rank() + 3),
                                                          'a' + static_cast<char>(ctx.rank()));
  const std::vector<std::string> all = ctx.gather_strings(local);
  if (!ctx.is_root()) {
    EXPECT_TRUE(all.empty());
    return;
  }
  ASSERT_EQ(all.size(), static_cast<size_t>(ctx.size()));
  for (int r = 0; r < ctx.size(); ++r) {
    const std::string expected =
        r == 1 ? "" : std::string(static_cast<size_t>(r + 3), 'a' + static_cast<char>(r));
    EXPECT_EQ(all[static_cast<size_t>(r)], expected) << "rank " << r;
  }
}

TEST(MpiContext, GatherStringsToAnotherRoot) {
  MpiContext& ctx = context();
  const int root = ctx.size() - 1;
  const std::vector<std::string> all = ctx.gather_strings("r" + std::to_string(ctx.rank()), root);
  if (ctx.rank() != root) {
    EXPECT_TRUE(all.empty());
    return;
  }
  ASSERT_EQ(all.size(), static_cast<size_t>(ctx.size()));
  for (int r = 0; r < ctx.size(); ++r)
    EXPECT_EQ(all[static_cast<size_t>(r)], "r" + std::to_string(r));
}

TEST(MpiContext, CheckMpiAcceptsSuccess) {
  EXPECT_NO_THROW(check_mpi(MPI_SUCCESS, "MPI_Barrier"));
}

TEST(MpiContext, CheckMpiNamesTheFailedCallAndMpisReason) {
  MpiContext& ctx = context();
  // A root that does not exist: MPI reports it (MPI_ERRORS_RETURN) instead of aborting.
  int value = 0;
  const int rc = MPI_Bcast(&value, 1, MPI_INT, ctx.size() + 5, ctx.comm());
  ASSERT_NE(rc, MPI_SUCCESS);
  try {
    check_mpi(rc, "MPI_Bcast");
    FAIL() << "check_mpi did not throw";
  } catch (const CommError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("MPI_Bcast failed: ", 0), 0u) << message;
    char reason[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(rc, reason, &length);
    EXPECT_NE(message.find(std::string(reason, static_cast<size_t>(length))), std::string::npos)
        << message;
    EXPECT_STREQ(e.kind(), "communication error");
  }
  // The same failure through the typed collective.
  std::string text = "x";
  EXPECT_THROW(ctx.broadcast_string(text, ctx.size()), CommError);
  // The communicator is still usable afterwards.
  EXPECT_TRUE(ctx.all_true(true));
}

TEST(MpiContext, RankTagNamesRankAndWorldSize) {
  EXPECT_EQ(rank_tag(1, 2), "[rank 1/2]");
}

}  // namespace
}  // namespace dgr::distributed
