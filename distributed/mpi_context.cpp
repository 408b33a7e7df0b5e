#include "distributed/mpi_context.h"

#include <glog/logging.h>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "core/util/error.h"

namespace dgr::distributed {

void check_mpi(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  std::string reason;
  if (MPI_Error_string(rc, text, &length) == MPI_SUCCESS) {
    reason.assign(text, static_cast<size_t>(length));
  } else {
    reason = "MPI error code " + std::to_string(rc);
  }
  throw CommError(std::string(call) + " failed: " + reason);
}

const char* thread_level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE:
      return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED:
      return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED:
      return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE:
      return "MPI_THREAD_MULTIPLE";
    default:
      return "unknown MPI thread level";
  }
}

std::string rank_tag(int rank, int size) {
  return "[rank " + std::to_string(rank) + "/" + std::to_string(size) + "]";
}

MpiContext::MpiContext(int* argc, char*** argv)
    : uncaught_at_construction_(std::uncaught_exceptions()) {
  int finalized = 0;
  check_mpi(MPI_Finalized(&finalized), "MPI_Finalized");
  if (finalized) throw CommError("MPI was already finalized; it cannot be initialized again");

  int initialized = 0;
  check_mpi(MPI_Initialized(&initialized), "MPI_Initialized");
  if (initialized) {
    check_mpi(MPI_Query_thread(&thread_level_), "MPI_Query_thread");
  } else {
    check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &thread_level_), "MPI_Init_thread");
    owns_mpi_ = true;
  }
  // From here on, failing calls return codes (checked by check_mpi) instead of aborting.
  check_mpi(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
  check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");

  char name[MPI_MAX_PROCESSOR_NAME] = {0};
  int length = 0;
  check_mpi(MPI_Get_processor_name(name, &length), "MPI_Get_processor_name");
  hostname_.assign(name, static_cast<size_t>(length));

  // Ranks on the same machine share its processor name. (Gathering the names avoids
  // MPI_Comm_split_type, whose topology lookup leaves allocations that leak checkers report.)
  std::vector<char> names(static_cast<size_t>(size_) * MPI_MAX_PROCESSOR_NAME, '\0');
  check_mpi(MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, names.data(),
                          MPI_MAX_PROCESSOR_NAME, MPI_CHAR, comm_),
            "MPI_Allgather");
  ranks_on_node_ = 0;
  for (int r = 0; r < size_; ++r) {
    const char* other = names.data() + static_cast<size_t>(r) * MPI_MAX_PROCESSOR_NAME;
    if (std::strncmp(other, name, MPI_MAX_PROCESSOR_NAME) != 0) continue;
    if (r < rank_) ++node_rank_;
    ++ranks_on_node_;
  }
}

MpiContext::~MpiContext() {
  if (std::uncaught_exceptions() > uncaught_at_construction_ && size_ > 1) {
    // Finalizing now would leave the other ranks waiting in their next collective.
    abort(3, "an exception escaped while the MPI context was alive");
  }
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  if (owns_mpi_) MPI_Finalize();
}

void MpiContext::require_thread_level(int level, const std::string& what) const {
  if (thread_level_ >= level) return;
  throw CommError(what + " needs " + thread_level_name(level) + " but MPI provides only " +
                  thread_level_name(thread_level_));
}

void MpiContext::barrier() const {
  check_mpi(MPI_Barrier(comm_), "MPI_Barrier");
}

void MpiContext::abort(int code, const std::string& message) const {
  if (!message.empty()) {
    std::fprintf(stderr, "dgr: %s %s\n", rank_tag(rank_, size_).c_str(), message.c_str());
  }
  std::fflush(stderr);
  std::fflush(stdout);
  google::FlushLogFiles(google::GLOG_INFO);
  MPI_Abort(MPI_COMM_WORLD, code);
  // MPI_Abort does not return on a working MPI; make sure this function never does either.
  std::_Exit(code);
}

int MpiContext::broadcast_int(int value, int root) const {
  check_mpi(MPI_Bcast(&value, 1, MPI_INT, root, comm_), "MPI_Bcast");
  return value;
}

std::string mpi_library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);  // allowed before MPI_Init
  std::string version(text, static_cast<size_t>(length));
  if (auto comma = version.find(','); comma != std::string::npos) version.resize(comma);
  while (!version.empty() && (version.back() == '\n' || version.back() == '\0'))
    version.pop_back();
  return version;
}

bool MpiContext::all_true(bool local) const {
  int in = local ? 1 : 0;
  int out = 0;
  check_mpi(MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LAND, comm_), "MPI_Allreduce");
  return out != 0;
}

void MpiContext::broadcast_string(std::string& value, int root) const {
  uint64_t length = value.size();
  check_mpi(MPI_Bcast(&length, 1, MPI_UINT64_T, root, comm_), "MPI_Bcast");
  if (length > static_cast<uint64_t>(INT_MAX)) {
    throw CommError("broadcast_string: " + std::to_string(length) +
                    " bytes is more than one MPI message can carry");
  }
  if (rank_ != root) value.resize(static_cast<size_t>(length));
  if (length == 0) return;
  check_mpi(MPI_Bcast(value.data(), static_cast<int>(length), MPI_CHAR, root, comm_), "MPI_Bcast");
}

std::vector<std::string> MpiContext::gather_strings(const std::string& local, int root) const {
  // Lengths travel as 64-bit so that a too-long string is reported on every rank alike.
  uint64_t length = local.size();
  std::vector<uint64_t> lengths(rank_ == root ? static_cast<size_t>(size_) : 0);
  check_mpi(MPI_Gather(&length, 1, MPI_UINT64_T, lengths.data(), 1, MPI_UINT64_T, root, comm_),
            "MPI_Gather");

  uint64_t total = 0;
  for (uint64_t n : lengths)
    total += n;
  // Gatherv counts and displacements are ints: agree on every rank whether the strings fit.
  const bool fits =
      all_true(length <= static_cast<uint64_t>(INT_MAX) && total <= static_cast<uint64_t>(INT_MAX));
  if (!fits) throw CommError("gather_strings: the strings are more than one MPI message can carry");

  std::vector<int> counts(lengths.size());
  std::vector<int> offsets(lengths.size());
  int offset = 0;
  for (size_t r = 0; r < lengths.size(); ++r) {
    counts[r] = static_cast<int>(lengths[r]);
    offsets[r] = offset;
    offset += counts[r];
  }

  std::string buffer(static_cast<size_t>(total), '\0');
  check_mpi(MPI_Gatherv(local.data(), static_cast<int>(length), MPI_CHAR, buffer.data(),
                        counts.data(), offsets.data(), MPI_CHAR, root, comm_),
            "MPI_Gatherv");

  std::vector<std::string> out;
  out.reserve(lengths.size());
  for (size_t r = 0; r < lengths.size(); ++r) {
    out.push_back(buffer.substr(static_cast<size_t>(offsets[r]), lengths[r]));
  }
  return out;
}

}  // namespace dgr::distributed
