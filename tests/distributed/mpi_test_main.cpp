// main of dgr_mpi_tests: owns the MPI context for the whole run. Rank 0 prints GoogleTest's usual
// output; other ranks print only their failures, tagged with the rank. Every rank returns the
// same exit code, failing if any rank failed.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "distributed/mpi_context.h"
#include "tests/distributed/mpi_test_env.h"

namespace dgr::distributed::test_env {
namespace {

MpiContext* g_context = nullptr;
int g_expected_size = 0;

class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_,
                 result.file_name() != nullptr ? result.file_name() : "?", result.line_number(),
                 result.message());
  }

 private:
  int rank_;
};

}  // namespace

MpiContext& context() {
  return *g_context;
}
int expected_size() {
  return g_expected_size;
}

void set_context(MpiContext* ctx, int expected) {
  g_context = ctx;
  g_expected_size = expected;
}

}  // namespace dgr::distributed::test_env

int main(int argc, char** argv) {
  namespace test_env = dgr::distributed::test_env;
  using dgr::distributed::MpiContext;
  MpiContext ctx(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int expected = 0;
  const char* flag = "--expected-size=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) {
      expected = std::atoi(argv[i] + std::strlen(flag));
    }
  }
  test_env::set_context(&ctx, expected);

  if (!ctx.is_root()) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new test_env::RankFailurePrinter(ctx.rank()));
  }
  const int result = RUN_ALL_TESTS();
  return ctx.all_true(result == 0) ? 0 : 1;
}
