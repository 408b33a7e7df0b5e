// Parallel HDF5 over an MPI communicator: the backend of data::h5::WriterGroup, so that the HDF5
// stores in data/ are written by several ranks together without data/ calling MPI.
#pragma once

#include <mpi.h>

#include "data/hdf5_file.h"

namespace dgr::distributed {

// The ranks of `comm` as a writer group (MPI-IO driver, collective writes). The communicator is
// not duplicated or freed: it must outlive the group. ConfigError when this build's HDF5 library
// is not parallel; CommError naming the call when MPI fails.
data::h5::WriterGroup hdf5_writer_group(MPI_Comm comm);

// The group for a job: the ranks of `comm` when there are several, else the serial group.
data::h5::WriterGroup hdf5_job_group(MPI_Comm comm);

}  // namespace dgr::distributed
