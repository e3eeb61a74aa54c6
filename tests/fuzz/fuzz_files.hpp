// Helpers of the model-file and checkpoint harnesses.
#pragma once

#include <optional>
#include <seqlm/files/model_file.hpp>
#include <seqlm/io/safetensors.hpp>
#include <seqlm/model/sequential.hpp>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"

namespace fuzz {

// The input with its checksum made right: a mutated file almost never has a matching CRC-32,
// so without this every mutation would stop at the checksum check. The file is parsed as a
// safetensors container, its "checksum" metadata set to the CRC-32 of its contents
// (files/model_file.hpp: the metadata without "checksum", then the data) and written again.
// std::nullopt when the container itself is refused (the raw input covers that) or the
// checksum was right already.
inline std::optional<std::string> with_fixed_checksum(std::string_view bytes) {
  std::optional<seqlm::safetensors::File> file =
      refused_or([&] { return seqlm::safetensors::parse(bytes, "fuzz input"); });
  if (!file) return std::nullopt;
  const std::string checksum = seqlm::format_crc32(seqlm::detail::model_file_checksum(*file));
  const auto stored = file->metadata.find("checksum");
  if (stored != file->metadata.end() && stored->second == checksum) return std::nullopt;
  file->metadata["checksum"] = checksum;
  return must("serialize with the fixed checksum", [&] { return seqlm::safetensors::serialize(*file); });
}

// A forward pass of 2 steps x 1 sequence: token id 0 or features of zeros. Refusals
// (seqlm::error) are fine; anything else escapes.
template <class Scalar>
void run_forward(seqlm::Sequential<Scalar>& model) {
  accepted([&] {
    const seqlm::LayerContext inference;
    if (model.input_spec().tokens) {
      const std::vector<seqlm::TokenId> ids{0, 0};
      model.forward(seqlm::TokenView(ids, 2, 1), inference);
    } else {
      const seqlm::Matrix<Scalar> features = seqlm::Matrix<Scalar>::Zero(model.input_spec().size, 2);
      model.forward(features, 1, inference);
    }
  });
}

// True when the two models have the same architecture and bit-identical weights.
template <class Scalar>
bool same_models(seqlm::Sequential<Scalar>& a, seqlm::Sequential<Scalar>& b) {
  if (seqlm::architecture_of(a).dump() != seqlm::architecture_of(b).dump()) return false;
  const auto pa = a.parameters(), pb = b.parameters();
  if (pa.size() != pb.size()) return false;
  for (std::size_t k = 0; k < pa.size(); ++k) {
    const seqlm::Matrix<Scalar>&x = *pa[k].value, &y = *pb[k].value;
    if (pa[k].name != pb[k].name || x.rows() != y.rows() || x.cols() != y.cols() ||
        std::memcmp(x.data(), y.data(), sizeof(Scalar) * static_cast<std::size_t>(x.size())) != 0) {
      return false;
    }
  }
  return true;
}

}  // namespace fuzz
