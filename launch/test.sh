#!/usr/bin/env bash
# Sets up (packages + build, see setup.sh) and runs every test: unit tests, MPI tests under
# `mpirun -np 2 --oversubscribe`, and integration tests on the shared data sets.
#
#   launch/test.sh [--preset release|debug|asan] [extra ctest arguments, e.g. -L mpi]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PRESET="${DGR_PRESET:-release}"
if [[ "${1:-}" == "--preset" ]]; then PRESET="$2"; shift 2; fi

"$ROOT/launch/setup.sh" --preset "$PRESET"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "$ROOT"
ctest --preset "$PRESET" -j 2 "$@"
