// The MPI context that dgr_mpi_tests' main creates, for the tests to use.
#pragma once

#include "distributed/mpi_context.h"

namespace dgr::distributed::test_env {

MpiContext& context();
// The world size the test was launched with (--expected-size=N), or 0 when not given.
int expected_size();
// Called once by main before the tests run.
void set_context(MpiContext* ctx, int expected_size);

}  // namespace dgr::distributed::test_env
