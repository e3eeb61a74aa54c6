// The Keras importer (include/seqlm/keras/): keras::load and keras::load_weights on Keras
// files, built only when the seqlm::keras component is (HDF5 and libzip found).
//
// The first byte of an input says what the rest is:
//   'A'  a whole file, given to keras::load: a Keras 3 .keras ZIP archive or a Keras 2 .h5 file;
//   'C'  a config.json alone, packed into a .keras archive with the metadata.json and
//        model.weights.h5 of the reference model below, so that mutations reach the
//        architecture reader and the weight shape checks instead of stopping at the ZIP layer;
//   'W'  a weights file, given to keras::load_weights for the reference model.
// Anything else is ignored. fuzz_make_seeds writes seeds of all three kinds.
//
// The vocabulary is 11 letters, so an accepted model reads 11 token ids or features.
// LoadOptions are small (2^16 parameters per layer, 2^17 in all, 1 MiB of JSON, 16 MiB of
// weights) so that accepted models are cheap; the checks are the same code as with the
// defaults.
//
// Properties of every accepted file:
//   * every weight is finite and the model runs a forward pass;
//   * keras::save of the imported model (with its optimizer state) loads back with the same
//     architecture, bit-identical weights and the same optimizer state: save must not refuse
//     what load accepted.
//
// HDF5 files are parsed by the HDF5 C library, which is not instrumented here: a crash inside
// libhdf5 shows as an uninstrumented frame in the report (tests/fuzz/README.md).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <seqlm/keras/keras.hpp>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_files.hpp"
#include "keras_reference.hpp"

using namespace seqlm;

namespace {

keras::Vocabulary letters() {
  return keras::Vocabulary::characters({"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"});
}

keras::LoadOptions small_options() {
  keras::LoadOptions options;
  options.limits.max_layer_parameters = Index{1} << 16;
  options.limits.max_parameters = Index{1} << 17;
  options.max_json_bytes = std::uint64_t{1} << 20;
  options.max_weights_bytes = std::uint64_t{16} << 20;
  return options;
}

// The reference model's metadata.json and model.weights.h5, from its own .keras file.
const std::pair<std::string, std::string>& reference_entries() {
  static const std::pair<std::string, std::string> entries = [] {
    const std::string path = fuzz::scratch_directory() + "/reference.keras";
    keras::SaveOptions options;
    options.sequence_length = 8;
    keras::save(fuzz::keras_reference_model(), path, options);
    keras::zip::Reader archive(path);
    return std::make_pair(archive.read("metadata.json", 1 << 20), archive.read("model.weights.h5", 16 << 20));
  }();
  return entries;
}

bool same_state(const OptimizerState& a, const OptimizerState& b) {
  if (a.name != b.name || a.iterations != b.iterations || a.hyperparameters != b.hyperparameters ||
      a.slots.size() != b.slots.size()) {
    return false;
  }
  for (std::size_t k = 0; k < a.slots.size(); ++k) {
    if (a.slots[k].first != b.slots[k].first || a.slots[k].second.rows() != b.slots[k].second.rows() ||
        a.slots[k].second.cols() != b.slots[k].second.cols() ||
        !(a.slots[k].second.array() == b.slots[k].second.array()).all()) {
      return false;
    }
  }
  return true;
}

void check_accepted(keras::KerasModel<float>& imported) {
  for (const auto& parameter : imported.model.parameters()) {
    fuzz::check(parameter.value->allFinite(), "imported weights are finite");
  }
  fuzz::run_forward(imported.model);

  const std::string path = fuzz::scratch_directory() + "/saved.keras";
  keras::SaveOptions options;
  options.sequence_length = imported.sequence_length;
  options.softmax_output = imported.softmax_output;
  options.optimizer = imported.optimizer;
  fuzz::must("keras::save of an imported model", [&] { keras::save(imported.model, path, options); });
  keras::KerasModel<float> back = fuzz::must("loading what keras::save wrote", [&] {
    keras::LoadOptions load_options = small_options();
    load_options.one_hot_as_token_ids = imported.one_hot_input || !imported.model.input_spec().tokens;
    return keras::load<float>(path, letters(), load_options);
  });
  fuzz::check(fuzz::same_models(imported.model, back.model), "save then load gives the same model");
  fuzz::check(imported.optimizer.has_value() == back.optimizer.has_value() &&
                  (!imported.optimizer || same_state(*imported.optimizer, *back.optimizer)),
              "save then load gives the same optimizer state");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static fuzz::MemoryFile file;
  const char kind = static_cast<char>(data[0]);
  const std::string_view rest = fuzz::bytes(data + 1, size - 1);

  if (kind == 'W') {
    Sequential<float> model = fuzz::keras_reference_model();
    const std::string& path = file.set(rest);
    if (!fuzz::accepted([&] { keras::load_weights(model, path, small_options()); })) return 0;
    for (const auto& parameter : model.parameters()) {
      fuzz::check(parameter.value->allFinite(), "loaded weights are finite");
    }
    fuzz::run_forward(model);
    return 0;
  }

  std::string archive;
  if (kind == 'C') {
    const auto& [metadata, weights] = reference_entries();
    archive = keras::zip::write_stored(
        {{"metadata.json", metadata}, {"config.json", std::string(rest)}, {"model.weights.h5", weights}},
        "fuzz_keras");
  } else if (kind == 'A') {
    archive = std::string(rest);
  } else {
    return 0;
  }
  const std::string& path = file.set(archive);
  std::optional<keras::KerasModel<float>> imported =
      fuzz::refused_or([&] { return keras::load<float>(path, letters(), small_options()); });
  if (imported) check_accepted(*imported);
  // The same file read as a model of features where it has one-hot inputs.
  keras::LoadOptions features = small_options();
  features.one_hot_as_token_ids = false;
  std::optional<keras::KerasModel<float>> as_features =
      fuzz::refused_or([&] { return keras::load<float>(path, letters(), features); });
  if (as_features) {
    for (const auto& parameter : as_features->model.parameters()) {
      fuzz::check(parameter.value->allFinite(), "imported weights are finite");
    }
    fuzz::run_forward(as_features->model);
  }
  return 0;
}
