// The one place where a dgr process turns an error into an exit: a fatal error on any rank is
// printed once, as "dgr: [rank R/N] <kind>: <message>", and ends the whole job, so that no other
// rank waits forever in a collective the failing rank will never join.
#pragma once

#include <functional>

#include "distributed/mpi_context.h"

namespace dgr::distributed {

// Exit codes of a dgr process.
constexpr int kExitUserError = 2;      // a dgr::Error: bad config, bad data, missing file, ...
constexpr int kExitInternalError = 3;  // any other exception: a bug

// Runs `body` and returns its exit code. If it throws, prints the error line to stderr; with more
// than one rank it then calls MPI_Abort (and does not return), with one rank it returns
// kExitUserError for a dgr::Error and kExitInternalError for anything else.
int run_on_all_ranks(MpiContext& ctx, const std::function<int()>& body);

}  // namespace dgr::distributed
