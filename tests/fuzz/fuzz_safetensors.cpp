// safetensors (io/safetensors.hpp): safetensors::read on arbitrary bytes.
//
// Properties of every accepted file:
//   * each tensor holds exactly dtype size x element count bytes, and together they hold
//     the whole data section (no more bytes than the file has);
//   * parse(serialize(f)) == f (names in data order, dtypes, shapes, bytes, metadata), and
//     serialize is a fixed point: serialize(parse(serialize(f))) == serialize(f);
//   * the data written starts at a multiple of 8 bytes;
//   * a float tensor of at most 2 dimensions converts to a matrix of its element count, and
//     values<T>() of its own dtype gives every element.
#include <cstddef>
#include <cstdint>
#include <seqlm/io/safetensors.hpp>
#include <string>
#include <vector>

#include "fuzz_common.hpp"

using namespace seqlm;
namespace st = seqlm::safetensors;

namespace {

bool same_files(const st::File& a, const st::File& b) {
  if (a.metadata != b.metadata || a.tensors.size() != b.tensors.size()) return false;
  for (std::size_t k = 0; k < a.tensors.size(); ++k) {
    const st::NamedTensor &x = a.tensors[k], &y = b.tensors[k];
    if (x.name != y.name || x.tensor.dtype() != y.tensor.dtype() || x.tensor.shape() != y.tensor.shape() ||
        x.tensor.bytes() != y.tensor.bytes()) {
      return false;
    }
  }
  return true;
}

template <class T>
void check_values(const st::Tensor& tensor) {
  if (tensor.dtype() != st::dtype_of<T>()) return;
  const std::vector<T> values = fuzz::must("values<T>()", [&] { return tensor.values<T>(); });
  fuzz::check(static_cast<Index>(values.size()) == tensor.element_count(), "values() gives every element");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::MemoryFile file;
  const std::string& path = file.set(fuzz::bytes(data, size));
  const std::optional<st::File> parsed = fuzz::refused_or([&] { return st::read(path); });
  if (!parsed) return 0;

  std::size_t data_bytes = 0;
  for (const st::NamedTensor& entry : parsed->tensors) {
    const st::Tensor& tensor = entry.tensor;
    std::uint64_t elements = 1;
    for (const std::int64_t dimension : tensor.shape()) {
      fuzz::check(dimension >= 0, "dimensions are not negative");
      elements *= static_cast<std::uint64_t>(dimension);  // exact: the reader checked the product
    }
    fuzz::check(tensor.bytes().size() == elements * st::dtype_size(tensor.dtype()),
                "a tensor holds dtype size x element count bytes");
    data_bytes += tensor.bytes().size();
    check_values<float>(tensor);
    check_values<double>(tensor);
    check_values<std::int32_t>(tensor);
    check_values<std::int64_t>(tensor);
    check_values<std::uint8_t>(tensor);
    const bool is_float = tensor.dtype() == st::DType::F32 || tensor.dtype() == st::DType::F64;
    if (is_float && tensor.shape().size() <= 2) {
      const Matrix<double> matrix = fuzz::must("to_matrix", [&] { return tensor.to_matrix<double>(); });
      fuzz::check(matrix.size() == tensor.element_count(), "the matrix has every element");
      fuzz::check(tensor.has_matrix_shape(matrix.rows(), matrix.cols()),
                  "has_matrix_shape agrees with to_matrix");
    }
  }
  fuzz::check(data_bytes <= size, "the tensors hold no more bytes than the file");

  const std::string written = fuzz::must("serialize", [&] { return st::serialize(*parsed); });
  const st::File again = fuzz::must("parse(serialize())", [&] { return st::parse(written, "round trip"); });
  fuzz::check(same_files(again, *parsed), "parse(serialize(f)) == f");
  fuzz::check(st::serialize(again) == written, "serialize is a fixed point");
  std::uint64_t header_length = 0;
  for (int k = 7; k >= 0; --k) header_length = (header_length << 8) | static_cast<unsigned char>(written[k]);
  fuzz::check((8 + header_length) % 8 == 0, "the written data section starts at a multiple of 8");
  return 0;
}
