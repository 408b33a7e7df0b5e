// abort_probe: one rank fails inside run_on_all_ranks while the others wait in a barrier they can
// never leave. Without the abort path the job would hang; abort_on_error.sh checks that it ends.
//   abort_probe [--fail-rank R] [--internal]
// --internal throws a std::runtime_error instead of a dgr::DataError.
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/util/error.h"
#include "distributed/guard.h"
#include "distributed/mpi_context.h"

int main(int argc, char** argv) {
  dgr::distributed::MpiContext ctx(&argc, &argv);
  int fail_rank = 1;
  bool internal = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--fail-rank") == 0 && i + 1 < argc) {
      fail_rank = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--internal") == 0) {
      internal = true;
    }
  }
  return dgr::distributed::run_on_all_ranks(ctx, [&]() -> int {
    if (ctx.rank() == fail_rank) {
      if (internal) throw std::runtime_error("index out of range");
      throw dgr::DataError("x.tsv:7: expected 3 columns");
    }
    ctx.barrier();
    return 0;
  });
}
