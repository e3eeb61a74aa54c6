// Model files (files/model_file.hpp): load_model on arbitrary bytes, as they are and with the
// checksum fixed up (fuzz_files.hpp) so that mutations reach the architecture, weight and
// test-vector checks behind it.
//
// Properties of every loaded model (as float and as double):
//   * every weight is finite and has the shape its layer needs;
//   * save_model(load_model(f)) loads back to the same architecture, bit-identical weights,
//     tokenizer, training configuration and user metadata;
//   * the loaded model runs a forward pass.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_files.hpp"

using namespace seqlm;

namespace {

template <class Scalar>
void check_loaded(LoadedModel<Scalar>& loaded) {
  for (const Parameter<Scalar>& p : loaded.model.parameters()) {
    fuzz::check(p.value->allFinite(), "loaded weights are finite");
  }

  ModelFileContents contents;
  contents.tokenizer = loaded.tokenizer;
  contents.training_config = loaded.training_config;
  contents.metadata = loaded.metadata;
  const std::string path = fuzz::scratch_directory() + "/model.safetensors";
  fuzz::must("save_model(load_model(f))", [&] { save_model(path, loaded.model, contents); });
  LoadedModel<Scalar> again =
      fuzz::must("load_model(save_model())", [&] { return load_model<Scalar>(path); });
  fuzz::check(fuzz::same_models(again.model, loaded.model), "save/load keeps the architecture and weights");
  fuzz::check(again.tokenizer == loaded.tokenizer && again.training_config == loaded.training_config &&
                  again.metadata == loaded.metadata,
              "save/load keeps the tokenizer, training configuration and metadata");
  fuzz::check(again.stored_dtype == safetensors::dtype_of<Scalar>(), "save_model writes the model's dtype");

  fuzz::run_forward(loaded.model);
}

void load_and_check(const std::string& path) {
  if (std::optional<LoadedModel<float>> loaded = fuzz::refused_or([&] { return load_model<float>(path); })) {
    check_loaded(*loaded);
  }
  if (std::optional<LoadedModel<double>> loaded =
          fuzz::refused_or([&] { return load_model<double>(path); })) {
    check_loaded(*loaded);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::MemoryFile file;
  const std::string_view input = fuzz::bytes(data, size);
  load_and_check(file.set(input));
  if (const std::optional<std::string> fixed = fuzz::with_fixed_checksum(input))
    load_and_check(file.set(*fixed));
  return 0;
}
