/// \file
/// A small, strict window on HDF5 files through the HDF5 C library (Debian's libhdf5-dev): just
/// what Keras's weight files need. Groups, numeric datasets read into memory, string
/// attributes, and in-memory files written from scratch.
///
/// ```cpp
///   hdf5::File file = hdf5::File::open_image(bytes, "model.keras: model.weights.h5");
///   hdf5::Array kernel = file.read("layers/gru/cell/vars/0");   // dtype "float32", shape {60, 384}
///   std::vector<std::string> names = file.members("optimizer/vars");
/// ```
///
/// Every failure, of the library or of the file's contents, is a seqlm::file_error whose message
/// starts with the file's name and the object's path and ends with HDF5's own explanation.
/// HDF5's habit of printing its error stack to stderr is switched off while a call runs (and the
/// previous setting restored after it), so nothing but the exception reports a problem.
///
/// The HDF5 C library keeps global state and Debian's build is not thread-safe: use these
/// functions (and seqlm::keras, which uses them) from one thread at a time.
///
/// Part of the optional seqlm::keras component: include it only in programs linked with
/// seqlm::keras (CMake: find_package(seqlm COMPONENTS keras)).
#pragma once

#include <hdf5.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"

namespace seqlm::keras::hdf5 {

/// A dataset's contents: NumPy's name of its element type, its shape and its values in C
/// (row-major) order, as h5py and NumPy see them. Floats and integers up to 2^53 in magnitude
/// are exact as doubles.
struct Array {
  std::string dtype;                ///< "float32", "float64", "int64", "int32", "uint8", ...
  std::vector<std::int64_t> shape;  ///< empty for a scalar
  std::vector<double> values;       ///< product(shape) values

  std::int64_t size() const {
    std::int64_t n = 1;
    for (const std::int64_t d : shape) n *= d;
    return n;
  }
};

/// "(60, 384)", "()" for a scalar, "(512,)" for a vector: NumPy's way of writing a shape.
inline std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "(";
  for (std::size_t k = 0; k < shape.size(); ++k) text += (k > 0 ? ", " : "") + std::to_string(shape[k]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

namespace detail {

// Switches off HDF5's automatic error printing while alive; restores the previous handler.
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &function_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, function_, data_); }
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t function_ = nullptr;
  void* data_ = nullptr;
};

// HDF5's error stack as one line ("H5Fopen: unable to open file; file signature not found"),
// then cleared. Empty when HDF5 recorded nothing.
inline std::string error_stack() {
  std::vector<std::string> lines;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* entry, void* out) -> herr_t {
        auto* collected = static_cast<std::vector<std::string>*>(out);
        std::string line = entry->func_name != nullptr ? std::string(entry->func_name) + ": " : std::string();
        line += entry->desc != nullptr ? entry->desc : "(no description)";
        collected->push_back(std::move(line));
        return 0;
      },
      &lines);
  H5Eclear2(H5E_DEFAULT);
  // The outermost call says what failed, the innermost why: keep both ends of a long stack.
  std::string text;
  for (std::size_t k = 0; k < lines.size(); ++k) {
    if (lines.size() > 4 && k >= 2 && k + 2 < lines.size()) continue;
    text += (text.empty() ? "" : "; ") + lines[k];
  }
  return text;
}

// An HDF5 identifier closed by its own close function (H5Fclose, H5Gclose, ...).
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, -1)), closer_(other.closer_) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, -1);
      closer_ = other.closer_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0 && closer_ != nullptr) closer_(id_);
    id_ = -1;
  }

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

// NumPy's name of an HDF5 numeric type ("float32", "int64", ...), or a description of a type
// seqlm does not read ("a string", "HDF5 class 6").
inline std::string dtype_name(hid_t type) {
  const H5T_class_t type_class = H5Tget_class(type);
  const std::size_t bits = H5Tget_size(type) * 8;
  if (type_class == H5T_FLOAT) return "float" + std::to_string(bits);
  if (type_class == H5T_INTEGER) {
    return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
  }
  if (type_class == H5T_STRING) return "a string";
  return "HDF5 class " + std::to_string(static_cast<int>(type_class));
}

// Up to 2^28 elements in one dataset (1 GiB of float32): more is refused before allocating.
inline constexpr std::int64_t max_elements = std::int64_t{1} << 28;

}  // namespace detail

class File {
 public:
  /// Opens an HDF5 file on disk for reading.
  static File open(const std::string& path) {
    detail::QuietErrors quiet;
    File file(path);
    file.file_ = detail::Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), &H5Fclose);
    if (!file.file_.valid()) file.fail("", "cannot be opened as an HDF5 file");
    return file;
  }

  /// Opens an HDF5 file held in memory (an entry of a ZIP archive) for reading; `name` is how
  /// messages call it. The bytes are copied.
  static File open_image(const std::string& bytes, const std::string& name) {
    detail::QuietErrors quiet;
    File file(name);
    if (bytes.empty()) file.fail("", "is empty (0 bytes), expected an HDF5 file");
    detail::Handle access(H5Pcreate(H5P_FILE_ACCESS), &H5Pclose);
    if (!access.valid() || H5Pset_fapl_core(access.get(), 1 << 16, 0) < 0 ||
        H5Pset_file_image(access.get(), const_cast<char*>(bytes.data()), bytes.size()) < 0) {
      file.fail("", "cannot be prepared for reading from memory");
    }
    file.file_ = detail::Handle(H5Fopen(name.c_str(), H5F_ACC_RDONLY, access.get()), &H5Fclose);
    if (!file.file_.valid()) file.fail("", "cannot be opened as an HDF5 file");
    return file;
  }

  /// A new, empty HDF5 file in memory, to be filled with create_group() and write() and taken
  /// out with image().
  static File create_image(const std::string& name) {
    detail::QuietErrors quiet;
    File file(name);
    detail::Handle access(H5Pcreate(H5P_FILE_ACCESS), &H5Pclose);
    if (!access.valid() || H5Pset_fapl_core(access.get(), 1 << 16, 0) < 0) {
      file.fail("", "cannot be created in memory");
    }
    file.file_ = detail::Handle(H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get()), &H5Fclose);
    if (!file.file_.valid()) file.fail("", "cannot be created in memory");
    return file;
  }

  const std::string& name() const { return name_; }

  enum class Kind { missing, group, dataset, other };

  /// What is at `path` ("layers/gru/cell/vars/0"): checked one component at a time, so a
  /// missing parent is "missing" too.
  Kind kind(const std::string& path) const {
    detail::QuietErrors quiet;
    std::size_t start = 0;
    while (true) {
      const std::size_t slash = path.find('/', start);
      const std::string prefix = path.substr(0, slash);
      const htri_t exists = H5Lexists(file_.get(), prefix.c_str(), H5P_DEFAULT);
      if (exists < 0) fail(prefix, "cannot be looked up");
      if (exists == 0) return Kind::missing;
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    detail::Handle object(H5Oopen(file_.get(), path.c_str(), H5P_DEFAULT), &H5Oclose);
    if (!object.valid()) fail(path, "cannot be opened");
    const H5I_type_t type = H5Iget_type(object.get());
    if (type == H5I_GROUP) return Kind::group;
    if (type == H5I_DATASET) return Kind::dataset;
    return Kind::other;
  }

  /// The names of a group's members, in HDF5's name order ("0", "1", "10", "2", ...).
  std::vector<std::string> members(const std::string& group_path) const {
    detail::QuietErrors quiet;
    const std::string path = group_path.empty() ? "/" : group_path;
    detail::Handle group(H5Gopen2(file_.get(), path.c_str(), H5P_DEFAULT), &H5Gclose);
    if (!group.valid()) fail(group_path, "is not a group");
    H5G_info_t info;
    if (H5Gget_info(group.get(), &info) < 0) fail(group_path, "cannot be listed");
    std::vector<std::string> names;
    for (hsize_t k = 0; k < info.nlinks; ++k) {
      const ssize_t length =
          H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, k, nullptr, 0, H5P_DEFAULT);
      if (length < 0) fail(group_path, "cannot be listed");
      std::string name(static_cast<std::size_t>(length) + 1, '\0');
      if (H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, k, name.data(), name.size(),
                             H5P_DEFAULT) < 0) {
        fail(group_path, "cannot be listed");
      }
      name.resize(static_cast<std::size_t>(length));
      names.push_back(std::move(name));
    }
    return names;
  }

  /// A numeric dataset (float or integer; scalar or array) read into memory. file_error when it is
  /// missing, not a dataset, not numeric, or has more than 2^28 elements.
  Array read(const std::string& path) const {
    detail::QuietErrors quiet;
    if (kind(path) != Kind::dataset) fail(path, "is missing (expected a dataset)");
    detail::Handle dataset(H5Dopen2(file_.get(), path.c_str(), H5P_DEFAULT), &H5Dclose);
    if (!dataset.valid()) fail(path, "cannot be opened as a dataset");
    detail::Handle type(H5Dget_type(dataset.get()), &H5Tclose);
    detail::Handle space(H5Dget_space(dataset.get()), &H5Sclose);
    if (!type.valid() || !space.valid()) fail(path, "has no readable type or shape");
    Array array;
    array.dtype = detail::dtype_name(type.get());
    const H5T_class_t type_class = H5Tget_class(type.get());
    if (type_class != H5T_FLOAT && type_class != H5T_INTEGER) {
      fail(path, "holds " + array.dtype + ", expected numbers");
    }
    if (dataset_attribute_is(dataset.get(), "dtype", "bfloat16")) {
      fail(path, "holds bfloat16 numbers, which seqlm does not read");
    }
    array.shape = shape_of(space.get(), path);
    const std::int64_t count = array.size();
    if (count > detail::max_elements) {
      fail(path, "has shape " + shape_text(array.shape) + ", more than the 2^28 elements seqlm reads");
    }
    array.values.resize(static_cast<std::size_t>(count));
    if (count > 0 &&
        H5Dread(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, array.values.data()) < 0) {
      fail(path, "cannot be read");
    }
    return array;
  }

  /// An attribute holding one string (h5py writes a Python str as a variable-length string,
  /// older Keras wrote bytes as a fixed-length one); std::nullopt when the object has no such
  /// attribute. object_path "" or "/" is the root group.
  std::optional<std::string> string_attribute(const std::string& object_path, const std::string& name) const {
    std::optional<std::vector<std::string>> values = read_string_attribute(object_path, name);
    if (!values) return std::nullopt;
    if (values->size() != 1) {
      fail(object_path,
           "attribute \"" + name + "\" holds " + std::to_string(values->size()) + " strings, expected 1");
    }
    return std::move(values->front());
  }

  /// An attribute holding a list of strings (Keras 2's layer_names, weight_names).
  std::optional<std::vector<std::string>> strings_attribute(const std::string& object_path,
                                                            const std::string& name) const {
    return read_string_attribute(object_path, name);
  }

  // ---- writing (files made by create_image) --------------------------------------------------

  /// Creates the group at `path` (its parent must exist).
  void create_group(const std::string& path) {
    detail::QuietErrors quiet;
    detail::Handle group(H5Gcreate2(file_.get(), path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                         &H5Gclose);
    if (!group.valid()) fail(path, "cannot be created as a group");
  }

  /// Writes a contiguous dataset as h5py does for a NumPy array: dtype "float32" (data: float*),
  /// "float64" (double*) or "int64" (std::int64_t*), little-endian, shape {} for a scalar.
  void write(const std::string& path, const std::string& dtype, const std::vector<std::int64_t>& shape,
             const void* data) {
    detail::QuietErrors quiet;
    hid_t file_type = -1, memory_type = -1;
    if (dtype == "float32") {
      file_type = H5T_IEEE_F32LE;
      memory_type = H5T_NATIVE_FLOAT;
    } else if (dtype == "float64") {
      file_type = H5T_IEEE_F64LE;
      memory_type = H5T_NATIVE_DOUBLE;
    } else if (dtype == "int64") {
      file_type = H5T_STD_I64LE;
      memory_type = H5T_NATIVE_INT64;
    } else {
      fail(path, "cannot be written with dtype \"" + dtype + "\" (float32, float64 or int64)");
    }
    std::vector<hsize_t> dims(shape.begin(), shape.end());
    detail::Handle space(shape.empty()
                             ? H5Screate(H5S_SCALAR)
                             : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                         &H5Sclose);
    if (!space.valid()) fail(path, "cannot be given the shape " + shape_text(shape));
    detail::Handle dataset(
        H5Dcreate2(file_.get(), path.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
        &H5Dclose);
    if (!dataset.valid()) fail(path, "cannot be created as a dataset");
    if (H5Dwrite(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
      fail(path, "cannot be written");
    }
  }

  /// The bytes of a file made by create_image, everything written so far included.
  std::string image() const {
    detail::QuietErrors quiet;
    if (H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0) fail("", "cannot be flushed");
    const ssize_t size = H5Fget_file_image(file_.get(), nullptr, 0);
    if (size <= 0) fail("", "has no image in memory");
    std::string bytes(static_cast<std::size_t>(size), '\0');
    if (H5Fget_file_image(file_.get(), bytes.data(), bytes.size()) != size)
      fail("", "image cannot be copied");
    return bytes;
  }

  /// Throws file_error "<file>: <path> <problem> (HDF5: <stack>)"; path "" is the file itself.
  [[noreturn]] void fail(const std::string& path, const std::string& problem) const {
    const std::string stack = detail::error_stack();
    std::string message = name_ + ": " + (path.empty() ? std::string() : "\"" + path + "\" ") + problem;
    if (!stack.empty()) message += " (HDF5: " + stack + ")";
    throw file_error(message);
  }

 private:
  explicit File(std::string name) : name_(std::move(name)) {}

  std::vector<std::int64_t> shape_of(hid_t space, const std::string& path) const {
    const H5S_class_t space_class = H5Sget_simple_extent_type(space);
    if (space_class == H5S_SCALAR) return {};
    if (space_class != H5S_SIMPLE) fail(path, "has no shape (an empty dataspace)");
    const int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 0 || rank > 32) fail(path, "has an unreadable rank");
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    if (H5Sget_simple_extent_dims(space, dims.data(), nullptr) < 0) fail(path, "has an unreadable shape");
    std::vector<std::int64_t> shape;
    for (const hsize_t d : dims) {
      if (d > static_cast<hsize_t>(detail::max_elements)) {
        fail(path, "has a dimension of " + std::to_string(d) + ", more than seqlm reads");
      }
      shape.push_back(static_cast<std::int64_t>(d));
    }
    return shape;
  }

  // Whether a dataset has a string attribute `name` equal to `value` (Keras marks bfloat16 so).
  bool dataset_attribute_is(hid_t dataset, const char* name, const std::string& value) const {
    if (H5Aexists(dataset, name) <= 0) return false;
    try {
      const std::optional<std::vector<std::string>> values = read_attribute_strings(dataset, ".", name, "");
      return values && values->size() == 1 && values->front() == value;
    } catch (const file_error&) {
      return false;
    }
  }

  std::optional<std::vector<std::string>> read_string_attribute(const std::string& object_path,
                                                                const std::string& name) const {
    detail::QuietErrors quiet;
    const std::string path = object_path.empty() ? "/" : object_path;
    if (path != "/" && kind(path) == Kind::missing) return std::nullopt;
    const htri_t exists = H5Aexists_by_name(file_.get(), path.c_str(), name.c_str(), H5P_DEFAULT);
    if (exists < 0) fail(object_path, "attribute \"" + name + "\" cannot be looked up");
    if (exists == 0) return std::nullopt;
    return read_attribute_strings(file_.get(), path, name.c_str(), object_path);
  }

  // The strings of attribute `name` of the object at `path` (relative to `location`).
  std::optional<std::vector<std::string>> read_attribute_strings(hid_t location, const std::string& path,
                                                                 const char* name,
                                                                 const std::string& where) const {
    const std::string what = std::string("attribute \"") + name + "\"";
    detail::Handle attribute(H5Aopen_by_name(location, path.c_str(), name, H5P_DEFAULT, H5P_DEFAULT),
                             &H5Aclose);
    if (!attribute.valid()) fail(where, what + " cannot be opened");
    detail::Handle type(H5Aget_type(attribute.get()), &H5Tclose);
    detail::Handle space(H5Aget_space(attribute.get()), &H5Sclose);
    if (!type.valid() || !space.valid()) fail(where, what + " has no readable type");
    if (H5Tget_class(type.get()) != H5T_STRING) {
      fail(where, what + " holds " + detail::dtype_name(type.get()) + ", expected strings");
    }
    const std::vector<std::int64_t> shape = shape_of(space.get(), where);
    if (shape.size() > 1) fail(where, what + " has shape " + shape_text(shape) + ", expected a list");
    const std::size_t count = shape.empty() ? 1 : static_cast<std::size_t>(shape[0]);
    if (count > (std::size_t{1} << 24)) fail(where, what + " holds too many strings");
    std::vector<std::string> strings;
    if (H5Tis_variable_str(type.get()) > 0) {
      detail::Handle memory(H5Tcopy(H5T_C_S1), &H5Tclose);
      if (!memory.valid() || H5Tset_size(memory.get(), H5T_VARIABLE) < 0 ||
          H5Tset_cset(memory.get(), H5Tget_cset(type.get())) < 0) {
        fail(where, what + " cannot be read");
      }
      std::vector<char*> pointers(count, nullptr);
      if (H5Aread(attribute.get(), memory.get(), pointers.data()) < 0) fail(where, what + " cannot be read");
      for (char* text : pointers) strings.emplace_back(text != nullptr ? text : "");
      H5Dvlen_reclaim(memory.get(), space.get(), H5P_DEFAULT, pointers.data());
    } else {
      const std::size_t size = H5Tget_size(type.get());
      if (size == 0 || size > (std::size_t{1} << 28) / count) fail(where, what + " is too large");
      detail::Handle memory(H5Tcopy(type.get()), &H5Tclose);
      std::vector<char> buffer(size * count, '\0');
      if (!memory.valid() || H5Aread(attribute.get(), memory.get(), buffer.data()) < 0) {
        fail(where, what + " cannot be read");
      }
      for (std::size_t k = 0; k < count; ++k) {
        const char* start = buffer.data() + k * size;
        strings.emplace_back(start, strnlen(start, size));  // padded with NULs or spaces
        while (!strings.back().empty() && strings.back().back() == ' ' &&
               H5Tget_strpad(type.get()) == H5T_STR_SPACEPAD) {
          strings.back().pop_back();
        }
      }
    }
    return strings;
  }

  std::string name_;
  detail::Handle file_;
};

}  // namespace seqlm::keras::hdf5
