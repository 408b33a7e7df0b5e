#include "data/hdf5_file.h"

#include <glog/logging.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <type_traits>

#include "core/util/error.h"

static_assert(std::is_same_v<hid_t, int64_t>, "Handle stores hid_t as int64_t");

namespace dgr::data::h5 {
namespace {

constexpr uint64_t kMaxChunkBytes = uint64_t{4} << 20;
constexpr size_t kChunkCacheSlots = 12421;  // a prime, as HDF5 recommends for the hash table
// Hyperslabs combined into one read (see read_ranges).
constexpr size_t kHyperslabsPerRead = 32;

std::recursive_mutex& library_mutex() {
  static std::recursive_mutex mutex;
  return mutex;
}

// Holds the library lock and silences HDF5's automatic error-stack printing for one call of the
// helpers (the message goes into the exception instead). Nests.
class Guard {
 public:
  Guard() : lock_(library_mutex()) {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~Guard() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

 private:
  std::unique_lock<std::recursive_mutex> lock_;
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

herr_t collect_error(unsigned, const H5E_error2_t* error, void* data) {
  if (error->desc != nullptr && error->desc[0] != '\0') {
    static_cast<std::vector<std::string>*>(data)->emplace_back(error->desc);
  }
  return 0;
}

// The outermost and innermost messages of HDF5's current error stack, e.g.
// "unable to open file (truncated file: eof = 1000, sblock->base_addr = 0, stored_eof = 8000)".
std::string library_message() {
  std::vector<std::string> messages;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &messages);
  H5Eclear2(H5E_DEFAULT);
  if (messages.empty()) return "HDF5 gave no message";
  if (messages.size() == 1 || messages.front() == messages.back()) return messages.front();
  return messages.front() + " (" + messages.back() + ")";
}

hid_t native_type(Element element) {
  switch (element) {
    case Element::kInt8:
      return H5T_NATIVE_INT8;
    case Element::kUInt8:
      return H5T_NATIVE_UINT8;
    case Element::kInt32:
      return H5T_NATIVE_INT32;
    case Element::kInt64:
      return H5T_NATIVE_INT64;
    case Element::kUInt64:
      return H5T_NATIVE_UINT64;
    case Element::kFloat32:
      return H5T_NATIVE_FLOAT;
    case Element::kFloat64:
      return H5T_NATIVE_DOUBLE;
  }
  return H5T_NATIVE_INT32;
}

// Little-endian file types, so a store is the same bytes on every machine.
hid_t file_type(Element element) {
  switch (element) {
    case Element::kInt8:
      return H5T_STD_I8LE;
    case Element::kUInt8:
      return H5T_STD_U8LE;
    case Element::kInt32:
      return H5T_STD_I32LE;
    case Element::kInt64:
      return H5T_STD_I64LE;
    case Element::kUInt64:
      return H5T_STD_U64LE;
    case Element::kFloat32:
      return H5T_IEEE_F32LE;
    case Element::kFloat64:
      return H5T_IEEE_F64LE;
  }
  return H5T_STD_I32LE;
}

size_t element_size(Element element) {
  switch (element) {
    case Element::kInt8:
    case Element::kUInt8:
      return 1;
    case Element::kInt32:
    case Element::kFloat32:
      return 4;
    case Element::kInt64:
    case Element::kUInt64:
    case Element::kFloat64:
      return 8;
  }
  return 4;
}

Handle string_type(size_t size) {
  Handle type(H5Tcopy(H5T_C_S1));
  if (size == 0) {
    H5Tset_size(type.get(), H5T_VARIABLE);
  } else {
    H5Tset_size(type.get(), size);
    H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  }
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  return type;
}

// A fixed-length string without its padding (NUL-padded or NUL-terminated).
std::string unpad(const char* data, size_t size) {
  return std::string(data, strnlen(data, size));
}

// The components' prefixes of a link path: "a/b/c" -> "a", "a/b", "a/b/c".
std::vector<std::string> path_prefixes(const std::string& name) {
  std::vector<std::string> prefixes;
  for (size_t pos = name.find('/', 1); pos != std::string::npos; pos = name.find('/', pos + 1)) {
    prefixes.push_back(name.substr(0, pos));
  }
  prefixes.push_back(name);
  return prefixes;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// WriterGroup

WriterGroup::WriterGroup(std::shared_ptr<const GroupBackend> backend)
    : backend_(std::move(backend)) {
  CHECK(backend_ != nullptr) << "WriterGroup: a null backend (use WriterGroup::serial())";
}

std::vector<int64_t> WriterGroup::all_gather(const std::vector<int64_t>& local) const {
  return backend_ ? backend_->all_gather(local) : local;
}

std::string WriterGroup::broadcast(const std::string& value, int root) const {
  return backend_ ? backend_->broadcast(value, root) : value;
}

std::string WriterGroup::first_error(const std::string& local_error) const {
  if (!backend_) return local_error;
  const int size = backend_->size();
  const std::vector<int64_t> failed = all_gather({local_error.empty() ? 0 : 1});
  for (int r = 0; r < size; ++r) {
    if (failed[static_cast<size_t>(r)] != 0) {
      return "[rank " + std::to_string(r) + "/" + std::to_string(size) + "] " +
             broadcast(local_error, r);
    }
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// Handle

Handle::~Handle() {
  reset();
}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.release();
  }
  return *this;
}

void Handle::reset() {
  if (id_ < 0) return;
  Guard guard;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      H5Fclose(id_);
      break;
    case H5I_GROUP:
      H5Gclose(id_);
      break;
    case H5I_DATASET:
      H5Dclose(id_);
      break;
    case H5I_DATASPACE:
      H5Sclose(id_);
      break;
    case H5I_DATATYPE:
      H5Tclose(id_);
      break;
    case H5I_ATTR:
      H5Aclose(id_);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id_);
      break;
    default:
      H5Idec_ref(id_);
      break;
  }
  H5Eclear2(H5E_DEFAULT);
  id_ = -1;
}

// ---------------------------------------------------------------------------------------------
// Dataset

uint64_t Dataset::row_elements() const {
  uint64_t n = 1;
  for (size_t k = 1; k < dims_.size(); ++k)
    n *= dims_[k];
  return n;
}

bool Dataset::is_integer() const {
  return type_class_ == H5T_INTEGER;
}
bool Dataset::is_float() const {
  return type_class_ == H5T_FLOAT;
}
bool Dataset::is_string() const {
  return type_class_ == H5T_STRING;
}

void Dataset::fail(const std::string& message) const {
  throw DataError(path_ + ": dataset '" + name_ + "' " + message);
}

namespace {

const char* element_name(Element element) {
  switch (element) {
    case Element::kInt8:
      return "int8";
    case Element::kUInt8:
      return "uint8";
    case Element::kInt32:
      return "int32";
    case Element::kInt64:
      return "int64";
    case Element::kUInt64:
      return "uint64";
    case Element::kFloat32:
      return "float32";
    case Element::kFloat64:
      return "float64";
  }
  return "?";
}

}  // namespace

std::string Dataset::type_name() const {
  Guard guard;
  Handle type(H5Dget_type(id_.get()));
  if (!type.valid()) fail("has an unreadable type: " + library_message());
  const std::string bits = std::to_string(8 * H5Tget_size(type.get()));
  switch (H5Tget_class(type.get())) {
    case H5T_INTEGER:
      return (H5Tget_sign(type.get()) == H5T_SGN_NONE ? "uint" : "int") + bits;
    case H5T_FLOAT:
      return "float" + bits;
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    case H5T_VLEN:
      return "vlen";
    case H5T_ARRAY:
      return "array";
    case H5T_OPAQUE:
      return "opaque";
    case H5T_BITFIELD:
      return "bitfield";
    case H5T_REFERENCE:
      return "reference";
    default:
      return "unknown";
  }
}

bool Dataset::has_type(Element element) const {
  return type_name() == element_name(element);
}

namespace {

// Reads the elements that `select` selects in the file space of `dataset` (n of them) into a
// 1-D memory buffer of `n` elements of `mem_type`.
void read_selection(const Dataset& dataset, hid_t id, hid_t mem_type, uint64_t n,
                    const std::function<herr_t(hid_t)>& select, void* out) {
  Handle file_space(H5Dget_space(id));
  if (!file_space.valid() || select(file_space.get()) < 0) {
    dataset.fail("cannot be selected: " + library_message());
  }
  const hsize_t count = n;
  Handle mem_space(H5Screate_simple(1, &count, nullptr));
  if (!mem_space.valid() ||
      H5Dread(id, mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, out) < 0) {
    dataset.fail("cannot be read: " + library_message());
  }
}

}  // namespace

void Dataset::read_slab(Element element, uint64_t begin, uint64_t count, void* out) const {
  Guard guard;
  if (begin > rows() || count > rows() - begin) {
    fail("has no rows [" + std::to_string(begin) + ", " + std::to_string(begin + count) + ") (" +
         std::to_string(rows()) + " rows)");
  }
  const uint64_t n = count * row_elements();
  if (n == 0) return;
  if (dims_.empty()) {
    if (H5Dread(id_.get(), native_type(element), H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
      fail("cannot be read: " + library_message());
    }
    return;
  }
  read_selection(
      *this, id_.get(), native_type(element), n,
      [&](hid_t space) {
        std::vector<hsize_t> start(dims_.size(), 0), counts(dims_.begin(), dims_.end());
        start[0] = begin;
        counts[0] = count;
        return H5Sselect_hyperslab(space, H5S_SELECT_SET, start.data(), nullptr, counts.data(),
                                   nullptr);
      },
      out);
}

void Dataset::read_points(Element element, const std::vector<uint64_t>& points, void* out) const {
  Guard guard;
  if (dims_.size() != 1) fail("is not 1-D (a point read needs one dimension)");
  for (uint64_t p : points) {
    if (p >= dims_[0]) {
      fail("has no element " + std::to_string(p) + " (" + std::to_string(dims_[0]) + " elements)");
    }
  }
  if (points.empty()) return;
  // Read each distinct point once, in file order (chunk by chunk), then place them as asked.
  std::vector<uint64_t> sorted = points;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  const size_t size = element_size(element);
  const bool in_place = sorted == points;
  std::vector<char> buffer(in_place ? 0 : sorted.size() * size);
  void* target = in_place ? out : buffer.data();
  read_selection(
      *this, id_.get(), native_type(element), sorted.size(),
      [&](hid_t space) {
        std::vector<hsize_t> coords(sorted.begin(), sorted.end());
        return H5Sselect_elements(space, H5S_SELECT_SET, coords.size(), coords.data());
      },
      target);
  if (in_place) return;
  char* dst = static_cast<char*>(out);
  for (size_t i = 0; i < points.size(); ++i) {
    const size_t at = std::lower_bound(sorted.begin(), sorted.end(), points[i]) - sorted.begin();
    std::memcpy(dst + i * size, buffer.data() + at * size, size);
  }
}

void Dataset::read_ranges(Element element, const std::vector<Range>& ranges, void* out) const {
  Guard guard;
  if (dims_.empty()) fail("is a scalar (a range read needs rows)");
  const uint64_t row = row_elements();
  // Merge touching ranges: fewer hyperslabs to combine.
  std::vector<Range> merged;
  uint64_t total = 0, last_end = 0;
  for (const Range& r : ranges) {
    if (r.end <= r.begin) continue;
    if (r.begin < last_end || r.end > dims_[0]) {
      fail("cannot read range [" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ") (" +
           std::to_string(dims_[0]) + " rows; ranges must ascend without overlap)");
    }
    if (!merged.empty() && merged.back().end == r.begin) {
      merged.back().end = r.end;
    } else {
      merged.push_back(r);
    }
    total += r.end - r.begin;
    last_end = r.end;
  }
  if (total == 0 || row == 0) return;
  // HDF5 1.10 combines each OR-ed hyperslab with the whole selection so far (quadratic: 10k
  // ranges took seconds), so ranges are read in groups, one union of hyperslabs per read.
  char* dst = static_cast<char*>(out);
  const size_t size = element_size(element) * row;
  std::vector<hsize_t> start(dims_.size(), 0);
  std::vector<hsize_t> count(dims_.begin(), dims_.end());
  for (size_t first = 0; first < merged.size(); first += kHyperslabsPerRead) {
    const size_t last = std::min(merged.size(), first + kHyperslabsPerRead);
    uint64_t rows = 0;
    for (size_t i = first; i < last; ++i)
      rows += merged[i].end - merged[i].begin;
    read_selection(
        *this, id_.get(), native_type(element), rows * row,
        [&](hid_t space) {
          herr_t status = 0;
          for (size_t i = first; i < last && status >= 0; ++i) {
            start[0] = merged[i].begin;
            count[0] = merged[i].end - merged[i].begin;
            status = H5Sselect_hyperslab(space, i == first ? H5S_SELECT_SET : H5S_SELECT_OR,
                                         start.data(), nullptr, count.data(), nullptr);
          }
          return status;
        },
        dst);
    dst += rows * size;
  }
}

std::vector<std::string> Dataset::read_strings() const {
  std::vector<uint64_t> all(dims_.size() == 1 ? dims_[0] : 0);
  for (uint64_t i = 0; i < all.size(); ++i)
    all[i] = i;
  return read_strings(all);
}

std::vector<std::string> Dataset::read_strings(const std::vector<uint64_t>& points) const {
  Guard guard;
  if (!is_string()) fail("does not hold strings");
  if (dims_.size() != 1) fail("is not 1-D");
  for (uint64_t p : points) {
    if (p >= dims_[0]) {
      fail("has no element " + std::to_string(p) + " (" + std::to_string(dims_[0]) + " elements)");
    }
  }
  std::vector<std::string> out(points.size());
  if (points.empty()) return out;
  std::vector<uint64_t> sorted = points;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  auto select = [&](hid_t space) {
    std::vector<hsize_t> coords(sorted.begin(), sorted.end());
    return H5Sselect_elements(space, H5S_SELECT_SET, coords.size(), coords.data());
  };
  Handle stored(H5Dget_type(id_.get()));
  std::vector<std::string> values(sorted.size());
  const htri_t variable = H5Tis_variable_str(stored.get());
  if (variable < 0) fail("has an unreadable string type: " + library_message());
  if (variable > 0) {
    Handle mem_type = string_type(0);
    std::vector<char*> buffer(sorted.size(), nullptr);
    read_selection(*this, id_.get(), mem_type.get(), sorted.size(), select, buffer.data());
    for (size_t i = 0; i < sorted.size(); ++i) {
      if (buffer[i] != nullptr) values[i] = buffer[i];
    }
    const hsize_t count = sorted.size();
    Handle mem_space(H5Screate_simple(1, &count, nullptr));
    H5Dvlen_reclaim(mem_type.get(), mem_space.get(), H5P_DEFAULT, buffer.data());
  } else {
    const size_t size = H5Tget_size(stored.get());
    Handle mem_type = string_type(size);
    std::vector<char> buffer(sorted.size() * size);
    read_selection(*this, id_.get(), mem_type.get(), sorted.size(), select, buffer.data());
    for (size_t i = 0; i < sorted.size(); ++i)
      values[i] = unpad(buffer.data() + i * size, size);
  }
  for (size_t i = 0; i < points.size(); ++i) {
    out[i] = values[std::lower_bound(sorted.begin(), sorted.end(), points[i]) - sorted.begin()];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// File

File File::create(const std::string& path) {
  Guard guard;
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
#if H5_VERSION_GE(1, 10, 7)
  // Lock while writing, but do not fail on file systems without locks.
  H5Pset_file_locking(fapl.get(), true, true);
#endif
  File file;
  file.id_ = Handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()));
  if (!file.id_.valid()) {
    throw IoError(path + ": cannot create HDF5 file: " + library_message());
  }
  file.path_ = path;
  file.writable_ = true;
  return file;
}

File File::create(const std::string& path, const WriterGroup& group) {
  Guard guard;
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE));
  // No free-space managers or aggregators: every allocation goes to the end of the file, so the
  // layout follows the order of allocations alone. Parallel HDF5 allocates a compressed
  // dataset's chunks in rank order, then in chunk order within a rank; with the managers, how
  // the space freed by early allocation was reused also depended on the ranks.
  if (!fapl.valid() || !fcpl.valid() || H5Pset_obj_track_times(fcpl.get(), false) < 0 ||
      H5Pset_file_space_strategy(fcpl.get(), H5F_FSPACE_STRATEGY_NONE, false, 1) < 0) {
    throw IoError(path + ": cannot prepare to create HDF5 file: " + library_message());
  }
  if (group.is_mpi()) {
    if (!group.backend()->use_mpio_driver(fapl.get())) {
      throw IoError(path + ": cannot use the MPI-IO driver: " + library_message());
    }
  } else {
#if H5_VERSION_GE(1, 10, 7)
    H5Pset_file_locking(fapl.get(), true, true);
#endif
  }
  File file;
  file.id_ = Handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()));
  if (!file.id_.valid()) {
    throw IoError(path + ": cannot create HDF5 file: " + library_message());
  }
  file.path_ = path;
  file.writable_ = true;
  file.group_ = group;
  return file;
}

File File::open(const std::string& path) {
  Guard guard;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw IoError(path + ": is a directory");
  if (::access(path.c_str(), R_OK) != 0) {
    throw IoError(path + ": cannot open (" + std::strerror(errno) + ")");
  }
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 == 0) throw DataError(path + ": not an HDF5 file (no HDF5 signature)");
  if (is_hdf5 < 0) throw DataError(path + ": cannot read as HDF5: " + library_message());
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
#if H5_VERSION_GE(1, 10, 7)
  // Stores are renamed into place once complete: readers need no lock (and some parallel file
  // systems refuse them).
  H5Pset_file_locking(fapl.get(), false, true);
#endif
  File file;
  file.id_ = Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
  if (!file.id_.valid()) {
    throw DataError(path + ": cannot open HDF5 file: " + library_message());
  }
  file.path_ = path;
  return file;
}

void File::close() {
  if (!id_.valid()) return;
  Guard guard;
  const hid_t id = id_.release();
  if (H5Fclose(id) < 0) {
    const std::string message = library_message();
    if (writable_) throw IoError(path_ + ": cannot write and close HDF5 file: " + message);
    throw DataError(path_ + ": cannot close HDF5 file: " + message);
  }
}

bool File::exists(const std::string& name) const {
  Guard guard;
  CHECK(id_.valid()) << "HDF5 file not open";
  for (const std::string& prefix : path_prefixes(name)) {
    if (H5Lexists(id_.get(), prefix.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
  }
  return true;
}

Dataset File::dataset(const std::string& name, size_t chunk_cache_bytes) const {
  Guard guard;
  if (!exists(name)) throw DataError(path_ + ": missing dataset '" + name + "'");
  Dataset dataset;
  dataset.path_ = path_;
  dataset.name_ = name;
  dataset.id_ = Handle(H5Dopen2(id_.get(), name.c_str(), H5P_DEFAULT));
  if (!dataset.id_.valid()) dataset.fail("cannot be opened: " + library_message());
  Handle dcpl(H5Dget_create_plist(dataset.id_.get()));
  dataset.compressed_ = dcpl.valid() && H5Pget_nfilters(dcpl.get()) > 0;
  // Uncompressed chunks are read straight from the file (the OS caches its pages): copying whole
  // chunks into HDF5's cache only slows random reads down.
  const size_t cache = dataset.compressed_ ? chunk_cache_bytes : 0;
  if (cache != kLibraryChunkCache) {
    // An open dataset's cache is shared by its handles: close it, or the new setting is ignored.
    dataset.id_.reset();
    Handle dapl(H5Pcreate(H5P_DATASET_ACCESS));
    H5Pset_chunk_cache(dapl.get(), kChunkCacheSlots, cache, 0.75);
    dataset.id_ = Handle(H5Dopen2(id_.get(), name.c_str(), dapl.get()));
    if (!dataset.id_.valid()) dataset.fail("cannot be opened: " + library_message());
  }
  Handle space(H5Dget_space(dataset.id_.get()));
  const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (rank < 0) dataset.fail("has an unreadable shape: " + library_message());
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  dataset.dims_.assign(dims.begin(), dims.end());
  Handle type(H5Dget_type(dataset.id_.get()));
  dataset.type_class_ = type.valid() ? H5Tget_class(type.get()) : -1;
  return dataset;
}

namespace {

void write_dataset(hid_t file, const std::string& path, const std::string& name, hid_t stored,
                   hid_t memory, size_t element_bytes, const void* data, size_t elements,
                   const std::vector<uint64_t>& dims, const WriteOptions& options) {
  CHECK(!dims.empty()) << "dataset '" << name << "': no dimensions";
  uint64_t product = 1, row_elements = 1;
  for (size_t k = 0; k < dims.size(); ++k) {
    product *= dims[k];
    if (k > 0) row_elements *= std::max<uint64_t>(dims[k], 1);
  }
  CHECK_EQ(product, elements) << "dataset '" << name << "': shape does not match the data";
  auto fail = [&](const std::string& what) {
    throw IoError(path + ": cannot " + what + " dataset '" + name + "': " + library_message());
  };
  const std::vector<hsize_t> shape(dims.begin(), dims.end());
  const std::vector<hsize_t> max_shape(dims.size(), H5S_UNLIMITED);
  std::vector<hsize_t> chunk(dims.size());
  const uint64_t row_bytes = row_elements * element_bytes;
  chunk[0] = std::max<uint64_t>(
      1, std::min({options.chunk_elements, std::max<uint64_t>(dims[0], 1),
                   std::max<uint64_t>(kMaxChunkBytes / std::max<uint64_t>(row_bytes, 1), 1)}));
  for (size_t k = 1; k < dims.size(); ++k)
    chunk[k] = std::max<uint64_t>(dims[k], 1);

  Handle space(H5Screate_simple(static_cast<int>(dims.size()), shape.data(), max_shape.data()));
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  if (!space.valid() || !lcpl.valid() || !dcpl.valid() ||
      H5Pset_create_intermediate_group(lcpl.get(), 1) < 0 ||
      H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()) < 0) {
    fail("lay out");
  }
  if (options.deflate_level > 0) {
    if ((element_bytes > 1 && H5Pset_shuffle(dcpl.get()) < 0) ||
        H5Pset_deflate(dcpl.get(), static_cast<unsigned>(options.deflate_level)) < 0) {
      fail("compress");
    }
  }
  Handle dataset(
      H5Dcreate2(file, name.c_str(), stored, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT));
  if (!dataset.valid()) fail("create");
  if (elements > 0 && H5Dwrite(dataset.get(), memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    fail("write");
  }
}

}  // namespace

void File::write(const std::string& name, Element element, const void* data, size_t elements,
                 const std::vector<uint64_t>& dims, const WriteOptions& options) {
  Guard guard;
  CHECK(id_.valid() && writable_) << path_ << ": not open for writing";
  write_dataset(id_.get(), path_, name, file_type(element), native_type(element),
                element_size(element), data, elements, dims, options);
}

void File::write_strings(const std::string& name, const std::vector<std::string>& strings,
                         const WriteOptions& options) {
  Guard guard;
  CHECK(id_.valid() && writable_) << path_ << ": not open for writing";
  size_t width = 1;
  for (const std::string& s : strings)
    width = std::max(width, s.size());
  std::vector<char> buffer(strings.size() * width, '\0');
  for (size_t i = 0; i < strings.size(); ++i)
    std::memcpy(buffer.data() + i * width, strings[i].data(), strings[i].size());
  Handle type = string_type(width);
  write_dataset(id_.get(), path_, name, type.get(), type.get(), width, buffer.data(),
                strings.size(), {strings.size()}, options);
}

namespace {

// Creates the groups on the way to `name` that do not exist yet, without modification times.
void create_groups(hid_t file, const std::string& path, const std::string& name) {
  std::vector<std::string> prefixes = path_prefixes(name);
  prefixes.pop_back();
  for (const std::string& prefix : prefixes) {
    const htri_t exists = H5Lexists(file, prefix.c_str(), H5P_DEFAULT);
    if (exists > 0) continue;
    Handle gcpl(H5Pcreate(H5P_GROUP_CREATE));
    if (exists < 0 || !gcpl.valid() || H5Pset_obj_track_times(gcpl.get(), false) < 0) {
      throw IoError(path + ": cannot create group '" + prefix + "': " + library_message());
    }
    Handle group(H5Gcreate2(file, prefix.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT));
    if (!group.valid()) {
      throw IoError(path + ": cannot create group '" + prefix + "': " + library_message());
    }
  }
}

// write_rows: one dataset, this process's rows of it. Every step is the same on every process
// of a collective file (same shape, chunks, filters), so HDF5 makes the same file whatever the
// number of processes.
void write_dataset_rows(hid_t file, const std::string& path, const WriterGroup& group,
                        const std::string& name, hid_t stored, hid_t memory, size_t element_bytes,
                        const void* data, uint64_t first_row, uint64_t rows,
                        const std::vector<uint64_t>& dims, const WriteOptions& options) {
  CHECK(!dims.empty()) << "dataset '" << name << "': no dimensions";
  CHECK(first_row <= dims[0] && rows <= dims[0] - first_row)
      << "dataset '" << name << "': rows [" << first_row << ", " << first_row + rows
      << ") outside its " << dims[0] << " rows";
  auto fail = [&](const std::string& what) {
    throw IoError(path + ": cannot " + what + " dataset '" + name + "': " + library_message());
  };
  uint64_t row_elements = 1;
  for (size_t k = 1; k < dims.size(); ++k)
    row_elements *= dims[k];
  const std::vector<hsize_t> shape(dims.begin(), dims.end());
  const std::vector<hsize_t> max_shape(dims.size(), H5S_UNLIMITED);
  std::vector<hsize_t> chunk(dims.size());
  const uint64_t row_bytes = std::max<uint64_t>(row_elements, 1) * element_bytes;
  chunk[0] = std::max<uint64_t>(
      1, std::min({options.chunk_elements, std::max<uint64_t>(dims[0], 1),
                   std::max<uint64_t>(kMaxChunkBytes / std::max<uint64_t>(row_bytes, 1), 1)}));
  for (size_t k = 1; k < dims.size(); ++k)
    chunk[k] = std::max<uint64_t>(dims[k], 1);

  create_groups(file, path, name);
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), shape.data(), max_shape.data()));
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  if (!space.valid() || !dcpl.valid() ||
      H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()) < 0 ||
      H5Pset_obj_track_times(dcpl.get(), false) < 0 ||
      H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY) < 0) {
    fail("lay out");
  }
  if (options.deflate_level > 0) {
    if ((element_bytes > 1 && H5Pset_shuffle(dcpl.get()) < 0) ||
        H5Pset_deflate(dcpl.get(), static_cast<unsigned>(options.deflate_level)) < 0) {
      fail("compress");
    }
  }
  Handle dataset(
      H5Dcreate2(file, name.c_str(), stored, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT));
  if (!dataset.valid()) fail("create");
  if (dims[0] == 0 || row_elements == 0) return;  // nothing to write, on any process

  Handle file_space(H5Dget_space(dataset.get()));
  const hsize_t elements = std::max<hsize_t>(rows * row_elements, 1);
  Handle mem_space(H5Screate_simple(1, &elements, nullptr));
  if (!file_space.valid() || !mem_space.valid()) fail("select rows of");
  if (rows == 0) {
    if (H5Sselect_none(file_space.get()) < 0 || H5Sselect_none(mem_space.get()) < 0) {
      fail("select rows of");
    }
  } else {
    std::vector<hsize_t> start(dims.size(), 0), count(dims.begin(), dims.end());
    start[0] = first_row;
    count[0] = rows;
    if (H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                            nullptr) < 0) {
      fail("select rows of");
    }
  }
  Handle xfer(H5Pcreate(H5P_DATASET_XFER));
  if (!xfer.valid()) fail("write");
  // Compressed datasets can only be written collectively by parallel HDF5 (1.10.2 and later).
  if (group.is_mpi() && !group.backend()->use_collective_transfer(xfer.get())) fail("write");
  static const char kNoRows = 0;  // a valid address for a process without rows
  if (H5Dwrite(dataset.get(), memory, mem_space.get(), file_space.get(), xfer.get(),
               rows == 0 ? static_cast<const void*>(&kNoRows) : data) < 0) {
    fail("write");
  }
}

}  // namespace

void File::write_rows(const std::string& name, Element element, const void* data, size_t elements,
                      uint64_t first_row, const std::vector<uint64_t>& dims,
                      const WriteOptions& options) {
  Guard guard;
  CHECK(id_.valid() && writable_) << path_ << ": not open for writing";
  CHECK(!dims.empty()) << "dataset '" << name << "': no dimensions";
  uint64_t row_elements = 1;
  for (size_t k = 1; k < dims.size(); ++k)
    row_elements *= dims[k];
  CHECK(row_elements == 0 ? elements == 0 : elements % row_elements == 0)
      << "dataset '" << name << "': " << elements << " elements are not whole rows of "
      << row_elements;
  const uint64_t rows = row_elements == 0 ? 0 : elements / row_elements;
  write_dataset_rows(id_.get(), path_, group_, name, file_type(element), native_type(element),
                     element_size(element), data, first_row, rows, dims, options);
}

void File::write_string_rows(const std::string& name, const std::vector<std::string>& strings,
                             uint64_t first_row, uint64_t total_rows, size_t width,
                             const WriteOptions& options) {
  Guard guard;
  CHECK(id_.valid() && writable_) << path_ << ": not open for writing";
  CHECK_GE(width, 1u) << "dataset '" << name << "': string width 0";
  std::vector<char> buffer(strings.size() * width, '\0');
  for (size_t i = 0; i < strings.size(); ++i) {
    CHECK_LE(strings[i].size(), width) << "dataset '" << name << "': string longer than width";
    std::memcpy(buffer.data() + i * width, strings[i].data(), strings[i].size());
  }
  Handle type = string_type(width);
  write_dataset_rows(id_.get(), path_, group_, name, type.get(), type.get(), width, buffer.data(),
                     first_row, strings.size(), {total_rows}, options);
}

void File::set_attribute(const std::string& name, const std::string& value) {
  Guard guard;
  CHECK(id_.valid() && writable_) << path_ << ": not open for writing";
  auto fail = [&] {
    throw IoError(path_ + ": cannot write attribute '" + name + "': " + library_message());
  };
  Handle root(H5Gopen2(id_.get(), "/", H5P_DEFAULT));
  if (!root.valid()) fail();
  const htri_t exists = H5Aexists(root.get(), name.c_str());
  if (exists < 0 || (exists > 0 && H5Adelete(root.get(), name.c_str()) < 0)) fail();
  Handle type = string_type(0);
  Handle space(H5Screate(H5S_SCALAR));
  Handle attribute(
      H5Acreate2(root.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
  const char* text = value.c_str();
  if (!attribute.valid() || H5Awrite(attribute.get(), type.get(), &text) < 0) fail();
}

namespace {

// The value of a string attribute; nullopt-like `ok = false` when it is not a string.
bool read_string_attribute(hid_t attribute, std::string& value) {
  Handle type(H5Aget_type(attribute));
  if (!type.valid() || H5Tget_class(type.get()) != H5T_STRING) return false;
  const htri_t variable = H5Tis_variable_str(type.get());
  if (variable < 0) return false;
  if (variable > 0) {
    Handle mem_type = string_type(0);
    char* text = nullptr;
    if (H5Aread(attribute, mem_type.get(), &text) < 0) return false;
    value = text != nullptr ? text : "";
    H5free_memory(text);
    return true;
  }
  const size_t size = H5Tget_size(type.get());
  Handle mem_type = string_type(size);
  std::vector<char> buffer(size);
  if (H5Aread(attribute, mem_type.get(), buffer.data()) < 0) return false;
  value = unpad(buffer.data(), size);
  return true;
}

herr_t collect_name(hid_t, const char* name, const H5A_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}

}  // namespace

std::string File::attribute(const std::string& name) const {
  Guard guard;
  CHECK(id_.valid()) << "HDF5 file not open";
  Handle root(H5Gopen2(id_.get(), "/", H5P_DEFAULT));
  if (!root.valid() || H5Aexists(root.get(), name.c_str()) <= 0) {
    throw DataError(path_ + ": missing attribute '" + name + "'");
  }
  Handle attribute(H5Aopen(root.get(), name.c_str(), H5P_DEFAULT));
  std::string value;
  if (!attribute.valid() || !read_string_attribute(attribute.get(), value)) {
    throw DataError(path_ + ": attribute '" + name +
                    "' is not a readable string: " + library_message());
  }
  return value;
}

std::map<std::string, std::string> File::attributes() const {
  Guard guard;
  CHECK(id_.valid()) << "HDF5 file not open";
  Handle root(H5Gopen2(id_.get(), "/", H5P_DEFAULT));
  std::vector<std::string> names;
  if (!root.valid() ||
      H5Aiterate2(root.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_name, &names) < 0) {
    throw DataError(path_ + ": cannot list attributes: " + library_message());
  }
  std::map<std::string, std::string> out;
  for (const std::string& name : names) {
    Handle attribute(H5Aopen(root.get(), name.c_str(), H5P_DEFAULT));
    std::string value;
    if (attribute.valid() && read_string_attribute(attribute.get(), value)) out[name] = value;
  }
  H5Eclear2(H5E_DEFAULT);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Ragged arrays

void write_ragged(File& file, const std::string& name, size_t rows,
                  const std::function<const std::vector<int32_t>&(size_t)>& row,
                  const WriteOptions& options) {
  std::vector<int64_t> offsets(rows + 1, 0);
  for (size_t r = 0; r < rows; ++r)
    offsets[r + 1] = offsets[r] + static_cast<int64_t>(row(r).size());
  std::vector<int32_t> tokens;
  tokens.reserve(static_cast<size_t>(offsets[rows]));
  for (size_t r = 0; r < rows; ++r) {
    const std::vector<int32_t>& values = row(r);
    tokens.insert(tokens.end(), values.begin(), values.end());
  }
  file.write(name + "/offset", offsets, {}, options);
  file.write(name + "/tokens", tokens, {}, options);
}

RaggedDataset RaggedDataset::open(const File& file, const std::string& name,
                                  size_t chunk_cache_bytes) {
  RaggedDataset ragged;
  ragged.offset_ = file.dataset(name + "/offset", chunk_cache_bytes);
  ragged.tokens_ = file.dataset(name + "/tokens", chunk_cache_bytes);
  const Dataset& offset = ragged.offset_;
  const Dataset& tokens = ragged.tokens_;
  if (offset.dims().size() != 1 || offset.dims()[0] == 0 || !offset.is_integer()) {
    offset.fail("must be a 1-D integer array of rows + 1 offsets");
  }
  if (tokens.dims().size() != 1 || !tokens.is_integer()) {
    tokens.fail("must be a 1-D integer array");
  }
  ragged.rows_ = offset.dims()[0] - 1;
  ragged.total_ = tokens.dims()[0];
  const std::vector<int64_t> ends = offset.read_points<int64_t>({0, ragged.rows_});
  if (ends[0] != 0) offset.fail("starts at " + std::to_string(ends[0]) + ", not 0");
  if (ends[1] != static_cast<int64_t>(ragged.total_)) {
    offset.fail("ends at " + std::to_string(ends[1]) + " but '" + tokens.name() + "' holds " +
                std::to_string(ragged.total_) + " elements");
  }
  return ragged;
}

std::vector<std::vector<int32_t>> RaggedDataset::read(const std::vector<uint64_t>& sorted) const {
  // Offsets of rows u and u + 1 for every requested u: ascending and distinct.
  std::vector<uint64_t> points;
  points.reserve(2 * sorted.size());
  for (size_t i = 0; i < sorted.size(); ++i) {
    const uint64_t u = sorted[i];
    if (u >= rows_) offset_.fail("has no row " + std::to_string(u));
    if (i > 0 && u <= sorted[i - 1]) offset_.fail("rows to read must ascend without repeats");
    if (points.empty() || points.back() != u) points.push_back(u);
    points.push_back(u + 1);
  }
  const std::vector<int64_t> offsets = offset_.read_points<int64_t>(points);
  std::vector<Range> ranges(sorted.size());
  size_t at = 0;
  int64_t previous_end = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    while (points[at] != sorted[i])
      ++at;
    const int64_t begin = offsets[at], end = offsets[at + 1];
    if (begin < previous_end || end < begin || end > static_cast<int64_t>(total_)) {
      offset_.fail("is corrupt at row " + std::to_string(sorted[i]) + " (offsets " +
                   std::to_string(begin) + ", " + std::to_string(end) + "; " +
                   std::to_string(total_) + " elements)");
    }
    ranges[i] = {static_cast<uint64_t>(begin), static_cast<uint64_t>(end)};
    previous_end = end;
  }
  const std::vector<int32_t> values = tokens_.read_ranges<int32_t>(ranges);
  std::vector<std::vector<int32_t>> out(sorted.size());
  size_t pos = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const size_t n = ranges[i].end - ranges[i].begin;
    out[i].assign(values.begin() + pos, values.begin() + pos + n);
    pos += n;
  }
  return out;
}

}  // namespace dgr::data::h5
