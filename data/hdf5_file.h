// Small RAII helpers over the HDF5 C API for dgr's stores (stage-1 examples, distillation set):
// one file, its datasets, string attributes on the root, and ragged int32 arrays. Every failure
// is a dgr error naming the file and the dataset or attribute: IoError when a file cannot be
// created, written or opened at all, DataError when its content is not what a reader expects
// (not HDF5, truncated, corrupt, a dataset missing or of the wrong shape).
//
// Files are opened with the default (serial, sec2) driver: each rank opens a store on its own,
// no MPI call is made. Readers open without file locking (stores are written to a temporary
// name and renamed into place, so a reader never sees a file that is being written). The one
// exception is a file created for a WriterGroup of MPI ranks, written through parallel HDF5
// (MPI-IO driver, collective hyperslab writes).
//
// The HDF5 library of Debian's OpenMPI build is not thread-safe: every call made through these
// helpers holds one process-wide lock, so objects may be used from several threads (their calls
// are serialised). HDF5's own error-stack printing is silenced inside the helpers; its innermost
// message is put into the exception instead. hdf5.h is not included here (hid_t is int64_t).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dgr::data::h5 {

// Element types that datasets are read into and written from.
enum class Element : uint8_t { kInt8, kUInt8, kInt32, kInt64, kUInt64, kFloat32, kFloat64 };

template <typename T>
constexpr Element element_of();
template <>
constexpr Element element_of<int8_t>() {
  return Element::kInt8;
}
template <>
constexpr Element element_of<uint8_t>() {
  return Element::kUInt8;
}
template <>
constexpr Element element_of<int32_t>() {
  return Element::kInt32;
}
template <>
constexpr Element element_of<int64_t>() {
  return Element::kInt64;
}
template <>
constexpr Element element_of<uint64_t>() {
  return Element::kUInt64;
}
template <>
constexpr Element element_of<float>() {
  return Element::kFloat32;
}
template <>
constexpr Element element_of<double>() {
  return Element::kFloat64;
}

// An owned HDF5 identifier (file, dataset, dataspace, type, property list, attribute), closed
// according to its type when destroyed. Move-only.
class Handle {
 public:
  Handle() = default;
  explicit Handle(int64_t id) : id_(id) {}
  ~Handle();
  Handle(Handle&& other) noexcept : id_(other.release()) {}
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  int64_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  int64_t release() {
    const int64_t id = id_;
    id_ = -1;
    return id;
  }
  void reset();

 private:
  int64_t id_ = -1;
};

// Chunk cache size that leaves HDF5's default (1 MiB per dataset).
constexpr size_t kLibraryChunkCache = ~size_t{0};

// A half-open range [begin, end) of elements of a 1-D dataset.
struct Range {
  uint64_t begin = 0;
  uint64_t end = 0;
};

// How a dataset is laid out when written: chunked (`chunk_elements` elements along the first
// dimension times the other dimensions, capped at 4 MiB per chunk) and deflate-compressed
// (level 0: no compression). Maximum dimensions are unlimited along the first dimension.
struct WriteOptions {
  uint64_t chunk_elements = 65536;
  int deflate_level = 4;
};

// What a group of processes written over MPI needs from MPI: its collectives and the parallel
// HDF5 settings that take its communicator. Implemented in distributed/ (hdf5_group.h), the one
// place that calls MPI; data/ only calls through this interface.
class GroupBackend {
 public:
  virtual ~GroupBackend() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Every process's `local` (the same length on all of them), concatenated in rank order.
  virtual std::vector<int64_t> all_gather(const std::vector<int64_t>& local) const = 0;
  // `root`'s value, on every process.
  virtual std::string broadcast(const std::string& value, int root) const = 0;
  // Puts the MPI-IO driver over this group's communicator on a file-access property list, and
  // collective transfer on a dataset-transfer property list (hid_t values); false on failure.
  virtual bool use_mpio_driver(int64_t file_access) const = 0;
  virtual bool use_collective_transfer(int64_t transfer) const = 0;
};

// The processes that create and write one file together. In an MPI group every process makes
// the same calls in the same order (File::create, write_rows, write_string_rows, set_attribute,
// close) and the file goes through HDF5's MPI-IO driver with collective writes; a serial group
// is this process alone, with the default driver and no MPI call (MPI need not be initialised).
// An MPI group comes from distributed::hdf5_writer_group. Copyable; shares its backend.
class WriterGroup {
 public:
  WriterGroup() = default;  // serial
  static WriterGroup serial() { return WriterGroup(); }
  explicit WriterGroup(std::shared_ptr<const GroupBackend> backend);

  bool is_mpi() const { return backend_ != nullptr; }
  const GroupBackend* backend() const { return backend_.get(); }
  int rank() const { return backend_ ? backend_->rank() : 0; }
  int size() const { return backend_ ? backend_->size() : 1; }

  // Collectives of the group (nothing to exchange in a serial group). CommError naming the MPI
  // call when one fails.
  // Every process's `local` (the same length on all of them), concatenated in rank order.
  std::vector<int64_t> all_gather(const std::vector<int64_t>& local) const;
  // `root`'s value, on every process.
  std::string broadcast(const std::string& value, int root = 0) const;
  // "" when `local_error` is empty on every process, else the error of the lowest rank that has
  // one, prefixed "[rank R/N] " in an MPI group: the same text everywhere, so that all processes
  // throw together instead of some of them waiting in the next collective.
  std::string first_error(const std::string& local_error) const;

 private:
  std::shared_ptr<const GroupBackend> backend_;
};

// An open dataset of a file. Reads convert to the requested element type (HDF5 conversion).
class Dataset {
 public:
  Dataset() = default;

  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }  // the file's
  const std::vector<uint64_t>& dims() const { return dims_; }
  uint64_t rows() const { return dims_.empty() ? 1 : dims_[0]; }  // first dimension
  uint64_t row_elements() const;                                  // product of the others
  bool is_integer() const;
  bool is_float() const;
  bool is_string() const;
  bool is_compressed() const { return compressed_; }  // has filters (deflate, ...)
  // The stored element type: "int8", "uint8", "int16", ..., "uint64", "float32", "float64",
  // "string", or the HDF5 class for anything else ("compound", "enum", ...).
  std::string type_name() const;
  // Whether the stored elements are exactly `element` (class, size and signedness).
  bool has_type(Element element) const;

  // All elements, row-major.
  template <typename T>
  std::vector<T> read_all() const {
    std::vector<T> out(rows() * row_elements());
    read_slab(element_of<T>(), 0, rows(), out.data());
    return out;
  }
  // Rows [begin, begin + count) along the first dimension (a hyperslab), row-major.
  template <typename T>
  std::vector<T> read_rows(uint64_t begin, uint64_t count) const {
    std::vector<T> out(count * row_elements());
    read_slab(element_of<T>(), begin, count, out.data());
    return out;
  }
  // Elements of a 1-D dataset at `points` (a point selection), in the order given; points may
  // repeat. DataError for a point out of range.
  template <typename T>
  std::vector<T> read_points(const std::vector<uint64_t>& points) const {
    std::vector<T> out(points.size());
    read_points(element_of<T>(), points, out.data());
    return out;
  }
  // The rows in `ranges` (of the first dimension: elements of a 1-D dataset, whole rows of
  // others; ascending, non-overlapping, empty ones allowed), concatenated row-major: reads of
  // unions of hyperslabs (32 per read: HDF5 1.10 combines hyperslabs in time quadratic in their
  // number).
  template <typename T>
  std::vector<T> read_ranges(const std::vector<Range>& ranges) const {
    uint64_t total = 0;
    for (const Range& r : ranges)
      total += r.end > r.begin ? r.end - r.begin : 0;
    std::vector<T> out(total * row_elements());
    read_ranges(element_of<T>(), ranges, out.data());
    return out;
  }
  // A 1-D string dataset (fixed-length or variable-length): all strings, or those at `points`
  // (in the order given). Fixed-length strings lose their trailing NUL padding.
  std::vector<std::string> read_strings() const;
  std::vector<std::string> read_strings(const std::vector<uint64_t>& points) const;

  // DataError "<path>: dataset '<name>' <message>", for shape and content checks of readers.
  [[noreturn]] void fail(const std::string& message) const;

  // The untyped forms of the reads above (`out` holds the elements read).
  void read_slab(Element element, uint64_t begin, uint64_t count, void* out) const;
  void read_points(Element element, const std::vector<uint64_t>& points, void* out) const;
  void read_ranges(Element element, const std::vector<Range>& ranges, void* out) const;

 private:
  friend class File;
  Handle id_;
  std::string path_;
  std::string name_;
  std::vector<uint64_t> dims_;
  int type_class_ = -1;  // H5T_class_t
  bool compressed_ = false;
};

// An HDF5 file, open for reading (`open`) or newly created for writing (`create`). Dataset and
// group names are paths ("source/offset"); groups on the way are created when writing.
class File {
 public:
  File() = default;  // not open; the destructor closes an open file, ignoring errors

  // Creates (truncates) `path` for writing. IoError naming the file when it cannot.
  static File create(const std::string& path);
  // Creates (truncates) `path` to be written by the processes of `group` together (collective
  // in an MPI group). The file's bytes depend only on the calls made and their data, never on
  // the time or the number of processes, provided each write_rows gives the processes' rows in
  // rank order (rank r's rows before rank r + 1's): objects carry no modification times,
  // datasets written with write_rows are allocated when created (as the MPI-IO driver requires;
  // a serial group lays its file out the same way), and file space is only ever taken at the
  // end of the file, in the order HDF5 allocates it (no free-space reuse). IoError naming the
  // file when it cannot be created.
  static File create(const std::string& path, const WriterGroup& group);
  // Opens `path` read-only. IoError when the file does not exist or cannot be read, DataError
  // when it is not an HDF5 file or HDF5 cannot open it (truncated, corrupt superblock).
  static File open(const std::string& path);

  const std::string& path() const { return path_; }
  bool is_open() const { return id_.valid(); }
  // Flushes and closes; IoError when writing what is buffered fails. Idempotent.
  void close();

  // Whether a link (dataset or group) named `name` exists, intermediate groups included.
  bool exists(const std::string& name) const;
  // Opens dataset `name`. DataError "<path>: missing dataset '<name>'" when it is absent.
  // `chunk_cache_bytes` sizes a compressed dataset's chunk cache (decompressed chunks kept for
  // later reads; 0: none, kLibraryChunkCache: HDF5's default of 1 MiB). Uncompressed datasets get
  // none: their reads go straight to the file's bytes (cached by the OS), which is faster for
  // random rows than copying whole chunks into the cache.
  Dataset dataset(const std::string& name, size_t chunk_cache_bytes = kLibraryChunkCache) const;

  // Writes a new dataset of shape `dims` (1-D of data.size() elements when empty) from `data`.
  template <typename T>
  void write(const std::string& name, const std::vector<T>& data, std::vector<uint64_t> dims = {},
             const WriteOptions& options = {}) {
    if (dims.empty()) dims = {data.size()};
    write(name, element_of<T>(), data.data(), data.size(), dims, options);
  }
  void write(const std::string& name, Element element, const void* data, size_t elements,
             const std::vector<uint64_t>& dims, const WriteOptions& options);
  // Writes a 1-D dataset of fixed-length, NUL-padded UTF-8 strings (length of the longest).
  void write_strings(const std::string& name, const std::vector<std::string>& strings,
                     const WriteOptions& options = {});

  // Rows written by several processes (collective in a file made by File::create(path, group),
  // where every process calls it with the same name, shape and options): creates dataset `name`
  // of shape `dims` (dims[0] rows; chunked and compressed as `options` says, no modification
  // time, allocated at creation; missing groups on the way are created likewise) and writes this
  // process's rows from `first_row` on, row-major: `data` holds whole rows (maybe none). CHECK
  // that it does and that its rows lie within dims[0].
  template <typename T>
  void write_rows(const std::string& name, const std::vector<T>& data, uint64_t first_row,
                  const std::vector<uint64_t>& dims, const WriteOptions& options = {}) {
    write_rows(name, element_of<T>(), data.data(), data.size(), first_row, dims, options);
  }
  void write_rows(const std::string& name, Element element, const void* data, size_t elements,
                  uint64_t first_row, const std::vector<uint64_t>& dims,
                  const WriteOptions& options);
  // The same for a 1-D dataset of `total_rows` fixed-length NUL-padded UTF-8 strings of `width`
  // bytes (the same on every process: the longest string of all, at least 1); `strings` are this
  // process's rows from `first_row`. CHECK that none is longer than `width`.
  void write_string_rows(const std::string& name, const std::vector<std::string>& strings,
                         uint64_t first_row, uint64_t total_rows, size_t width,
                         const WriteOptions& options = {});

  // String attributes of the root group: set (variable-length UTF-8, replacing an existing one),
  // read one (DataError when absent or not a string) or all of them (non-string ones skipped).
  void set_attribute(const std::string& name, const std::string& value);
  std::string attribute(const std::string& name) const;
  std::map<std::string, std::string> attributes() const;

 private:
  Handle id_;
  std::string path_;
  bool writable_ = false;
  WriterGroup group_;  // the processes that created the file: writes are collective in an MPI group
};

// A ragged array of int32 rows (token sequences) stored as two datasets:
//   <name>/offset  int64 [rows + 1]   offset[0] = 0, non-decreasing, offset[rows] = total
//   <name>/tokens  int32 [total]      row r is tokens[offset[r], offset[r + 1])
// `row(r)` gives the tokens of row r, r in [0, rows).
void write_ragged(File& file, const std::string& name, size_t rows,
                  const std::function<const std::vector<int32_t>&(size_t)>& row,
                  const WriteOptions& options = {});

class RaggedDataset {
 public:
  RaggedDataset() = default;
  // Opens both datasets and checks their shapes and the first and last offsets (DataError
  // naming the file and dataset otherwise).
  static RaggedDataset open(const File& file, const std::string& name,
                            size_t chunk_cache_bytes = kLibraryChunkCache);

  uint64_t rows() const { return rows_; }
  uint64_t total() const { return total_; }
  // Rows `sorted` (ascending, distinct, each < rows()), in that order: reads the offsets of these
  // rows (a point selection), then their token ranges (a union of hyperslabs). DataError when
  // the offsets read are not non-decreasing or point outside the tokens.
  std::vector<std::vector<int32_t>> read(const std::vector<uint64_t>& sorted) const;

 private:
  Dataset offset_;
  Dataset tokens_;
  uint64_t rows_ = 0;
  uint64_t total_ = 0;
};

}  // namespace dgr::data::h5
