// The MPI context of one dgr process: initialises MPI once in `main`, knows this rank and the
// world size, and offers the few small collectives that ranks use to agree (all ranks true? the
// root's string, every rank's string on the root). There is no global instance: `main` creates
// one and passes it to whatever needs to talk between ranks.
//
// Every MPI call goes through `check_mpi`, so a failing call throws a CommError that names the
// call instead of killing the process (MPI_ERRORS_RETURN is set on MPI_COMM_WORLD).
#pragma once

#include <mpi.h>

#include <string>
#include <vector>

namespace dgr::distributed {

// Throws CommError("<call> failed: <MPI's error string>") unless rc is MPI_SUCCESS.
void check_mpi(int rc, const char* call);

// "MPI_THREAD_SINGLE", "MPI_THREAD_FUNNELED", "MPI_THREAD_SERIALIZED" or "MPI_THREAD_MULTIPLE".
const char* thread_level_name(int level);

class MpiContext {
 public:
  // Calls MPI_Init_thread asking for MPI_THREAD_MULTIPLE and records the level MPI provides.
  // Throws CommError if MPI was already finalised. If MPI was initialised by someone else, the
  // context uses it and leaves finalisation to them.
  MpiContext(int* argc, char*** argv);
  // Frees the communicator and calls MPI_Finalize. If an exception is unwinding through the
  // destructor on a multi-rank job, aborts instead, since other ranks may wait in a collective.
  ~MpiContext();

  MpiContext(const MpiContext&) = delete;
  MpiContext& operator=(const MpiContext&) = delete;
  MpiContext(MpiContext&&) = delete;
  MpiContext& operator=(MpiContext&&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  // A duplicate of MPI_COMM_WORLD, so dgr's messages never match those of other libraries.
  MPI_Comm comm() const { return comm_; }
  // The thread support level MPI provided (MPI_THREAD_SINGLE ... MPI_THREAD_MULTIPLE).
  int thread_level() const { return thread_level_; }
  // Throws CommError naming `what` if the provided thread level is below `level`.
  void require_thread_level(int level, const std::string& what) const;
  // The name of the machine this rank runs on (MPI_Get_processor_name).
  const std::string& hostname() const { return hostname_; }
  // The ranks of this job on this rank's machine (MPI_COMM_TYPE_SHARED) and this rank's index
  // among them, found once at construction.
  int ranks_on_node() const { return ranks_on_node_; }
  int node_rank() const { return node_rank_; }

  void barrier() const;

  // Prints "dgr: [rank R/N] <message>" to stderr (when message is not empty), flushes the logs
  // and ends every rank of the job with MPI_Abort(MPI_COMM_WORLD, code).
  [[noreturn]] void abort(int code, const std::string& message) const;

  // Logical AND of `local` over all ranks; every rank gets the result.
  bool all_true(bool local) const;
  // The root's `value`, on every rank.
  int broadcast_int(int value, int root = 0) const;
  // Replaces `value` on every rank with the root's value (any bytes, including NUL).
  void broadcast_string(std::string& value, int root = 0) const;
  // On the root: every rank's `local`, indexed by rank. On other ranks: an empty vector.
  std::vector<std::string> gather_strings(const std::string& local, int root = 0) const;

 private:
  int rank_ = 0;
  int size_ = 1;
  int thread_level_ = MPI_THREAD_SINGLE;
  MPI_Comm comm_ = MPI_COMM_NULL;
  std::string hostname_;
  int ranks_on_node_ = 1;
  int node_rank_ = 0;
  bool owns_mpi_ = false;             // true when this context called MPI_Init_thread
  int uncaught_at_construction_ = 0;  // std::uncaught_exceptions() when constructed
};

// The MPI library's name and version, up to its first comma ("Open MPI v4.1.4"). Needs no
// MPI_Init.
std::string mpi_library_version();

// "[rank R/N]", the tag that names a rank in messages.
std::string rank_tag(int rank, int size);

}  // namespace dgr::distributed
