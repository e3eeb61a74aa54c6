/// \file
/// The safetensors container: named tensors plus a string-to-string metadata map.
///
/// Layout of a file (https://github.com/huggingface/safetensors, "Format"):
///
/// ```text
///   bytes [0, 8)        N, the header length, unsigned 64-bit little-endian
///   bytes [8, 8+N)      header: a UTF-8 JSON object, padded at the end with spaces
///                         {"__metadata__": {"key": "value", ...},
///                          "name": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]}, ...}
///   bytes [8+N, end)    data: every tensor's elements, row-major (C order), little-endian;
///                       data_offsets are relative to the start of this section
/// ```
///
/// seqlm writes "__metadata__" first, then the tensors in the order given, their data in the
/// same order without gaps, and pads the header with spaces so that the data starts at a
/// multiple of 8. Supported dtypes: F32, F64, I32, I64, U8.
///
/// Matrices. A seqlm (rows x cols) column-major Eigen matrix M is written with shape
/// [cols, rows]: its bytes are exactly Eigen's column-major storage, and the tensor a
/// row-major reader (NumPy, PyTorch) sees is M transposed. For seqlm's weights, stored
/// (out x in) so that y = W x, that is Keras's (in, out) kernel layout:
/// ```text
///   Dense kernel (units x in)  -> [in, units]     (PyTorch's nn.Linear weight is its transpose)
///   LSTM kernel (4H x in)      -> [in, 4H]        recurrent_kernel (4H x H) -> [H, 4H]
///   Embedding (dim x vocab)    -> [vocab, dim]    logits (V x T*B) -> [T*B, V]
/// ```
/// A matrix with one column (a bias) is written as the 1-D tensor [rows]. Reading, a 1-D
/// tensor [n] becomes an (n x 1) matrix, a 2-D tensor [a, b] a (b x a) matrix, a 0-D tensor
/// a (1 x 1) matrix.
///
/// Reading validates everything and reports the first problem as a file_error naming the
/// file and the tensor or field: a file shorter than 8 bytes, a header length beyond the
/// file or above ReadOptions::max_header_bytes, a header that is not a UTF-8 JSON object, an
/// unknown or unsupported dtype, a malformed or overflowing shape, data_offsets that are out
/// of bounds, do not match dtype size x element count, overlap, or leave gaps, duplicate
/// names, and trailing bytes after the last tensor. No input makes the reader crash or
/// allocate more than the file's own size (plus the copies of its tensors).
///
/// ```cpp
///   safetensors::File file;
///   file.add("dense/kernel", safetensors::Tensor::from_matrix(kernel));
///   file.metadata["format"] = "example";
///   safetensors::write("weights.safetensors", file);            // atomic
///   safetensors::File back = safetensors::read("weights.safetensors");
///   Matrix<float> kernel2 = back.at("dense/kernel").to_matrix<float>();
/// ```
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../tensor.hpp"
#include "atomic_file.hpp"
#include "json.hpp"
#include "utf8.hpp"

namespace seqlm::safetensors {

/// Element types seqlm reads and writes (safetensors' names).
enum class DType { F32, F64, I32, I64, U8 };

inline const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
  }
  return "?";
}

/// Bytes per element.
inline std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::U8: return 1;
  }
  return 0;
}

/// The DType of a C++ element type: dtype_of<float>() == DType::F32.
template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) {
    return DType::F32;
  } else if constexpr (std::is_same_v<T, double>) {
    return DType::F64;
  } else if constexpr (std::is_same_v<T, std::int32_t>) {
    return DType::I32;
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    return DType::I64;
  } else {
    static_assert(std::is_same_v<T, std::uint8_t>,
                  "safetensors: element type must be float, double, "
                  "int32_t, int64_t or uint8_t");
    return DType::U8;
  }
}

/// Metadata: string keys to string values, written in key order.
using Metadata = std::map<std::string, std::string>;

namespace detail {

inline constexpr bool host_is_little_endian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

// Copies `count` elements of `element_size` bytes between host order and little-endian
// (the same operation in both directions): a plain memcpy on little-endian hosts, a
// per-element byte reversal on big-endian ones.
inline void copy_little_endian(void* destination, const void* source, std::size_t count,
                               std::size_t element_size) {
  if (count == 0) return;
  std::memcpy(destination, source, count * element_size);
  if constexpr (!host_is_little_endian) {
    auto* bytes = static_cast<unsigned char*>(destination);
    for (std::size_t k = 0; k < count; ++k)
      std::reverse(bytes + k * element_size, bytes + (k + 1) * element_size);
  }
}

inline std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t k = 0; k < shape.size(); ++k) text += (k ? ", " : "") + std::to_string(shape[k]);
  return text + "]";
}

}  // namespace detail

/// One tensor: its dtype, its row-major shape and its elements as little-endian bytes
/// (exactly the bytes of the file's data section).
class Tensor {
 public:
  Tensor() = default;

  /// From raw little-endian bytes; value_error unless bytes.size() == product(shape) x dtype size
  /// and every dimension is >= 0.
  Tensor(DType dtype, std::vector<std::int64_t> shape, std::string bytes)
      : dtype_(dtype), shape_(std::move(shape)), bytes_(std::move(bytes)) {
    std::uint64_t count = 1;
    for (const std::int64_t dimension : shape_) {
      if (dimension < 0) {
        throw value_error("safetensors: negative dimension in shape " + detail::shape_text(shape_));
      }
      count *= static_cast<std::uint64_t>(dimension);
    }
    if (static_cast<std::uint64_t>(bytes_.size()) != count * dtype_size(dtype_)) {
      throw value_error(seqlm::detail::make_message(
          "safetensors: ", bytes_.size(), " bytes for a ", dtype_name(dtype_), " tensor of shape ",
          detail::shape_text(shape_), ", expected ", count * dtype_size(dtype_)));
    }
  }

  /// A float or double matrix, written with shape [cols, rows] (see the top of this file) or
  /// [rows] when it has one column.
  template <class Derived>
  static Tensor from_matrix(const Eigen::MatrixBase<Derived>& matrix) {
    using Scalar = typename Derived::Scalar;
    static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>,
                  "safetensors: from_matrix takes a float or double matrix");
    const Matrix<Scalar> column_major = matrix;  // contiguous column-major storage
    std::vector<std::int64_t> shape;
    if (column_major.cols() == 1) {
      shape = {static_cast<std::int64_t>(column_major.rows())};
    } else {
      shape = {static_cast<std::int64_t>(column_major.cols()),
               static_cast<std::int64_t>(column_major.rows())};
    }
    std::string bytes(static_cast<std::size_t>(column_major.size()) * sizeof(Scalar), '\0');
    detail::copy_little_endian(bytes.data(), column_major.data(),
                               static_cast<std::size_t>(column_major.size()), sizeof(Scalar));
    return Tensor(dtype_of<Scalar>(), std::move(shape), std::move(bytes));
  }

  /// Elements in row-major order with a given shape (value_error if the counts differ).
  template <class T>
  static Tensor from_values(const std::vector<T>& values, std::vector<std::int64_t> shape) {
    std::string bytes(values.size() * sizeof(T), '\0');
    detail::copy_little_endian(bytes.data(), values.data(), values.size(), sizeof(T));
    return Tensor(dtype_of<T>(), std::move(shape), std::move(bytes));
  }

  DType dtype() const { return dtype_; }
  const std::vector<std::int64_t>& shape() const { return shape_; }
  const std::string& bytes() const { return bytes_; }
  Index element_count() const { return static_cast<Index>(bytes_.size() / dtype_size(dtype_)); }

  /// The elements in row-major order; value_error unless T is exactly the tensor's dtype.
  template <class T>
  std::vector<T> values() const {
    if (dtype_of<T>() != dtype_) {
      throw value_error(seqlm::detail::make_message("safetensors: tensor has dtype ", dtype_name(dtype_),
                                                    ", requested ", dtype_name(dtype_of<T>())));
    }
    std::vector<T> out(static_cast<std::size_t>(element_count()));
    detail::copy_little_endian(out.data(), bytes_.data(), out.size(), sizeof(T));
    return out;
  }

  /// True when to_matrix() would give a (rows x cols) matrix: shape [cols, rows], or [rows]
  /// (or [] for 1 x 1) when cols == 1.
  bool has_matrix_shape(Index rows, Index cols) const {
    switch (shape_.size()) {
      case 0: return rows == 1 && cols == 1;
      case 1: return cols == 1 && shape_[0] == rows;
      case 2: return shape_[0] == cols && shape_[1] == rows;
      default: return false;
    }
  }

  /// The seqlm matrix this tensor stores (see the top of this file), converting F32 <-> F64.
  /// value_error for an integer dtype, shape_error for more than 2 dimensions.
  template <class Scalar>
  Matrix<Scalar> to_matrix() const {
    if (shape_.size() > 2) {
      throw shape_error("safetensors: a tensor of shape " + detail::shape_text(shape_) +
                        " has more than 2 dimensions and is not a matrix");
    }
    const Index rows = shape_.empty() ? 1 : static_cast<Index>(shape_.back());
    const Index cols = shape_.size() == 2 ? static_cast<Index>(shape_[0]) : 1;
    if (dtype_ == DType::F32) return convert<float, Scalar>(rows, cols);
    if (dtype_ == DType::F64) return convert<double, Scalar>(rows, cols);
    throw value_error(seqlm::detail::make_message("safetensors: a ", dtype_name(dtype_),
                                                  " tensor is not a float matrix (F32 or F64)"));
  }

 private:
  template <class Stored, class Scalar>
  Matrix<Scalar> convert(Index rows, Index cols) const {
    Matrix<Stored> stored(rows, cols);
    detail::copy_little_endian(stored.data(), bytes_.data(), static_cast<std::size_t>(stored.size()),
                               sizeof(Stored));
    return stored.template cast<Scalar>();
  }

  DType dtype_ = DType::F32;
  std::vector<std::int64_t> shape_;
  std::string bytes_;
};

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

/// A whole file: tensors (in data order) and metadata.
struct File {
  std::vector<NamedTensor> tensors;
  Metadata metadata;

  /// Appends a tensor (names are checked for uniqueness when the file is written).
  File& add(std::string name, Tensor tensor) {
    tensors.push_back({std::move(name), std::move(tensor)});
    return *this;
  }
  /// The tensor called `name`, or nullptr.
  const Tensor* find(std::string_view name) const {
    for (const NamedTensor& entry : tensors) {
      if (entry.name == name) return &entry.tensor;
    }
    return nullptr;
  }
  /// The tensor called `name`; file_error naming it when absent.
  const Tensor& at(std::string_view name) const {
    const Tensor* tensor = find(name);
    if (tensor == nullptr) {
      throw file_error(seqlm::detail::make_message("safetensors: no tensor named \"", name, "\""));
    }
    return *tensor;
  }
};

/// Limits applied when reading (`docs/file-format.md#limits`). The tensors' data needs no limit
/// of its own: every tensor must hold exactly dtype size x element count bytes of the file,
/// so the data costs what the file costs. The header is JSON, parsed with the default
/// json::ParseOptions::max_values and these:
inline constexpr std::uint64_t default_max_header_bytes = std::uint64_t{100} << 20;  ///< 100 MiB
inline constexpr std::size_t max_header_depth = 64;  ///< JSON nesting in the header (seqlm uses 3)
inline constexpr std::size_t max_dimensions = 8;     ///< dimensions of one tensor's shape

/// A larger file is refused: a regular file by its size before it is read, anything else (a
/// pipe, a device such as /dev/zero) once it has given that much. 2 GiB holds ~500M float
/// parameters, far beyond the models seqlm is for.
inline constexpr std::uint64_t default_max_file_bytes = std::uint64_t{2} << 30;

struct ReadOptions {
  std::uint64_t max_header_bytes = default_max_header_bytes;  ///< a longer header is refused
  std::uint64_t max_file_bytes = default_max_file_bytes;      ///< a longer file is refused
};

namespace detail {

// The header JSON for `file`, padded with spaces so that 8 + its length is a multiple of 8.
// value_error on an empty, reserved or duplicate tensor name.
inline std::string make_header(const File& file) {
  // The members are appended to the object directly, with the names checked in a hash set:
  // Value::set() looks for the key first, which made 2^16 tensors take 23 s.
  json::Value::Object members;
  if (!file.metadata.empty()) {
    json::Value::Object metadata;  // a std::map: its keys are distinct
    for (const auto& [key, value] : file.metadata) metadata.emplace_back(key, value);
    members.emplace_back("__metadata__", json::Value(std::move(metadata)));
  }
  std::unordered_set<std::string_view> names;
  names.reserve(file.tensors.size());
  std::uint64_t offset = 0;
  for (const NamedTensor& entry : file.tensors) {
    if (entry.name.empty()) throw value_error("safetensors: a tensor has an empty name");
    if (entry.name == "__metadata__") throw value_error("safetensors: \"__metadata__\" is not a tensor name");
    if (!names.insert(entry.name).second) {
      throw value_error("safetensors: two tensors are named \"" + entry.name + "\"");
    }
    json::Value shape = json::Value::array();
    for (const std::int64_t dimension : entry.tensor.shape()) shape.push_back(dimension);
    const std::uint64_t end = offset + entry.tensor.bytes().size();
    json::Value tensor = json::Value::object();
    tensor.set("dtype", dtype_name(entry.tensor.dtype()))
        .set("shape", std::move(shape))
        .set("data_offsets", json::Value(json::Value::Array{offset, end}));
    members.emplace_back(entry.name, std::move(tensor));
    offset = end;
  }
  const json::Value header(std::move(members));
  std::string text;
  try {
    text = header.dump();
  } catch (const value_error& e) {
    throw value_error(std::string("safetensors: cannot write the header: ") + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

template <class Sink>
void write_file(Sink& sink, const File& file) {
  const std::string header = make_header(file);
  unsigned char length[8];
  for (int k = 0; k < 8; ++k) length[k] = static_cast<unsigned char>(std::uint64_t{header.size()} >> (8 * k));
  sink.write(length, 8);
  sink.write(header.data(), header.size());
  for (const NamedTensor& entry : file.tensors)
    sink.write(entry.tensor.bytes().data(), entry.tensor.bytes().size());
}

struct StringSink {
  std::string bytes;
  void write(const void* data, std::size_t size) { bytes.append(static_cast<const char*>(data), size); }
};

// Reads a non-negative integer that fits in uint64 from a JSON value, or fails via `fail`.
template <class Fail>
std::uint64_t non_negative_integer(const json::Value& value, const std::string& what, const Fail& fail) {
  if (!value.is_integer() || value.as_int64() < 0) {
    fail(what + " must be a non-negative integer, got " +
         (value.is_number() ? value.dump() : value.type_name()));
  }
  return static_cast<std::uint64_t>(value.as_int64());
}

}  // namespace detail

/// The bytes of a safetensors file (what write() stores). value_error on an empty, reserved
/// ("__metadata__") or duplicate tensor name, or metadata that is not valid UTF-8.
inline std::string serialize(const File& file) {
  detail::StringSink sink;
  detail::write_file(sink, file);
  return std::move(sink.bytes);
}

/// Writes `file` to `path` atomically (write_file_atomically): a failure leaves any old file
/// at `path` unchanged. Errors as serialize(), file_error for I/O.
inline void write(const std::string& path, const File& file) {
  detail::make_header(file);  // validate names and metadata before touching the disk
  write_file_atomically(path, [&file](FileSink& sink) { detail::write_file(sink, file); });
}

/// Parses the bytes of a safetensors file; `source` names it in messages (usually the path).
/// Every problem is a file_error "safetensors \"<source>\": <what>" (see the top of this file).
inline File parse(std::string_view bytes, const std::string& source, const ReadOptions& options = {}) {
  const std::string where = "safetensors \"" + source + "\": ";
  auto fail = [&where](const std::string& what) { throw file_error(where + what); };

  // 1. Header length.
  if (bytes.size() < 8) {
    fail(seqlm::detail::make_message("the file is ", bytes.size(),
                                     " bytes long, too short for the 8-byte header length"));
  }
  std::uint64_t header_length = 0;
  for (int k = 7; k >= 0; --k) header_length = (header_length << 8) | static_cast<unsigned char>(bytes[k]);
  const std::uint64_t available = bytes.size() - 8;
  if (header_length > options.max_header_bytes) {
    fail(seqlm::detail::make_message("header length ", header_length, " exceeds the limit of ",
                                     options.max_header_bytes, " bytes"));
  }
  if (header_length > available) {
    fail(seqlm::detail::make_message("header length ", header_length, " goes beyond the end of the file (",
                                     bytes.size(), " bytes, at most ", available, " after the length)"));
  }
  if (header_length == 0 || bytes[8] != '{') fail("the header does not start with '{'");

  // 2. Header JSON.
  const std::string_view header_text = bytes.substr(8, static_cast<std::size_t>(header_length));
  json::Value header;
  try {
    json::ParseOptions parse_options;
    parse_options.max_depth = max_header_depth;
    parse_options.max_bytes = static_cast<std::size_t>(header_length);
    header = json::parse(header_text, parse_options);
  } catch (const value_error& e) {
    fail(std::string("the header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail(std::string("the header is ") + header.type_name() + ", expected an object");

  // 3. Metadata and tensor entries.
  const std::string_view data = bytes.substr(8 + static_cast<std::size_t>(header_length));
  const std::uint64_t data_size = data.size();
  File file;
  struct Entry {
    std::string name;
    DType dtype = DType::F32;
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0, end = 0;
  };
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.as_object()) {
    if (name == "__metadata__") {
      if (!value.is_object())
        fail(std::string("\"__metadata__\" is ") + value.type_name() + ", expected an object");
      for (const auto& [key, text] : value.as_object()) {
        if (!text.is_string()) {
          fail("metadata \"" + key + "\" is " + text.type_name() + ", expected a string");
        }
        file.metadata[key] = text.as_string();
      }
      continue;
    }
    const std::string tensor_where = "tensor \"" + name + "\": ";
    auto fail_tensor = [&](const std::string& what) { fail(tensor_where + what); };
    if (name.empty()) fail("a tensor has an empty name");
    if (!value.is_object())
      fail_tensor(std::string("entry is ") + value.type_name() + ", expected an object");
    for (const auto& member : value.as_object()) {
      if (member.first != "dtype" && member.first != "shape" && member.first != "data_offsets") {
        fail_tensor("unknown field \"" + member.first + "\"");
      }
    }
    for (const char* field : {"dtype", "shape", "data_offsets"}) {
      if (!value.contains(field)) fail_tensor(std::string("missing field \"") + field + "\"");
    }
    Entry entry;
    entry.name = name;

    const json::Value& dtype = value.at("dtype");
    if (!dtype.is_string()) fail_tensor(std::string("dtype is ") + dtype.type_name() + ", expected a string");
    const std::string& dtype_text = dtype.as_string();
    bool known = false;
    for (DType candidate : {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8}) {
      if (dtype_text == dtype_name(candidate)) {
        entry.dtype = candidate;
        known = true;
      }
    }
    if (!known) {
      static const char* const other_safetensors_dtypes[] = {"BOOL", "I8",  "U16", "I16",     "F16",
                                                             "BF16", "U32", "U64", "F8_E4M3", "F8_E5M2"};
      const bool other = std::find(std::begin(other_safetensors_dtypes), std::end(other_safetensors_dtypes),
                                   dtype_text) != std::end(other_safetensors_dtypes);
      fail_tensor("dtype \"" + dtype_text + "\" is " + (other ? "not supported" : "unknown") +
                  " (seqlm reads F32, F64, I32, I64 and U8)");
    }

    const json::Value& shape = value.at("shape");
    if (!shape.is_array()) fail_tensor(std::string("shape is ") + shape.type_name() + ", expected an array");
    if (shape.size() > max_dimensions) {
      fail_tensor(seqlm::detail::make_message("shape has ", shape.size(),
                                              " dimensions, more than the limit of ", max_dimensions));
    }
    std::uint64_t count = 1;
    bool empty = false;
    for (std::size_t k = 0; k < shape.size(); ++k) {
      const std::uint64_t dimension =
          detail::non_negative_integer(shape.at(k), "shape dimension " + std::to_string(k), fail_tensor);
      if (dimension == 0) empty = true;
      if (dimension != 0 && count > std::numeric_limits<std::uint64_t>::max() / dimension) {
        fail_tensor("shape " + shape.dump() + " has more elements than fit in 64 bits");
      }
      count = dimension == 0 ? count : count * dimension;
      entry.shape.push_back(static_cast<std::int64_t>(dimension));
    }
    if (empty) count = 0;
    const std::uint64_t element_size = dtype_size(entry.dtype);
    if (count > std::numeric_limits<std::uint64_t>::max() / element_size) {
      fail_tensor("shape " + shape.dump() + " has more bytes than fit in 64 bits");
    }
    const std::uint64_t byte_count = count * element_size;

    const json::Value& offsets = value.at("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2) {
      fail_tensor("data_offsets must be an array of two integers [begin, end], got " + offsets.dump());
    }
    entry.begin = detail::non_negative_integer(offsets.at(0), "data_offsets begin", fail_tensor);
    entry.end = detail::non_negative_integer(offsets.at(1), "data_offsets end", fail_tensor);
    if (entry.begin > entry.end) fail_tensor("data_offsets " + offsets.dump() + " end before they begin");
    if (entry.end > data_size) {
      fail_tensor(seqlm::detail::make_message("data_offsets ", offsets.dump(), " go beyond the ", data_size,
                                              " bytes of data (the file is truncated or corrupt)"));
    }
    if (entry.end - entry.begin != byte_count) {
      fail_tensor(seqlm::detail::make_message("data_offsets ", offsets.dump(), " hold ",
                                              entry.end - entry.begin, " bytes, but dtype ", dtype_text,
                                              " x shape ", shape.dump(), " needs ", byte_count));
    }
    entries.push_back(std::move(entry));
  }

  // 4. The tensors must tile the data section exactly: no overlap, no gap, nothing after.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t covered = 0;
  const std::string* previous = nullptr;
  for (const Entry& entry : entries) {
    if (entry.begin < covered) {
      fail(seqlm::detail::make_message("tensor \"", entry.name, "\": data_offsets [", entry.begin, ", ",
                                       entry.end, "] overlap tensor \"", *previous, "\" (which ends at ",
                                       covered, ")"));
    }
    if (entry.begin > covered) {
      fail(seqlm::detail::make_message("tensor \"", entry.name, "\": data_offsets [", entry.begin, ", ",
                                       entry.end, "] leave a gap of ", entry.begin - covered,
                                       " unused bytes before them"));
    }
    covered = entry.end;
    previous = &entry.name;
  }
  if (covered != data_size) {
    fail(seqlm::detail::make_message(
        data_size - covered, " bytes of trailing data after the last tensor (the ", "data section has ",
        data_size, " bytes, the tensors use ", covered, ")"));
  }

  for (Entry& entry : entries) {
    std::string tensor_bytes(data.substr(static_cast<std::size_t>(entry.begin),
                                         static_cast<std::size_t>(entry.end - entry.begin)));
    file.tensors.push_back(
        {std::move(entry.name), Tensor(entry.dtype, std::move(entry.shape), std::move(tensor_bytes))});
  }
  return file;
}

/// Reads and validates a safetensors file (see parse()); file_error naming the path.
inline File read(const std::string& path, const ReadOptions& options = {}) {
  return parse(read_text_file(path, static_cast<std::size_t>(options.max_file_bytes)), path, options);
}

}  // namespace seqlm::safetensors
