// The architecture JSON (files/layer_table.hpp): sequential_from_architecture on arbitrary
// bytes parsed as JSON.
//
// The harness passes small ArchitectureLimits (2^16 parameters per layer, 2^17 in all) so
// that an accepted model is cheap to build and run; the limit checks themselves are the same
// code as with the defaults.
//
// Properties of every accepted architecture:
//   * the model has at most the limits' parameters, per layer and in all;
//   * architecture_of(model) rebuilds to a model with the same architecture_of (a fixed
//     point), and layer names are unique and contain no '/';
//   * the initialised model runs a forward pass.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "fuzz_files.hpp"

using namespace seqlm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::optional<json::Value> value =
      fuzz::refused_or([&] { return json::parse(fuzz::bytes(data, size)); });
  if (!value) return 0;
  ArchitectureLimits limits;
  limits.max_layer_parameters = Index{1} << 16;
  limits.max_parameters = Index{1} << 17;
  std::optional<Sequential<float>> model =
      fuzz::refused_or([&] { return sequential_from_architecture<float>(*value, limits); });
  if (!model) return 0;

  fuzz::check(model->parameter_count() <= limits.max_parameters, "at most max_parameters in all");
  std::set<std::string> names;
  for (Index i = 0; i < model->size(); ++i) {
    fuzz::check(model->layer(i).parameter_count() <= limits.max_layer_parameters,
                "at most max_layer_parameters");
    const std::string& name = model->layer_name(i);
    fuzz::check(!name.empty() && name.find('/') == std::string::npos,
                "layer names are non-empty, without '/'");
    fuzz::check(names.insert(name).second, "layer names are unique");
  }

  const json::Value written = fuzz::must("architecture_of", [&] { return architecture_of(*model); });
  Sequential<float> rebuilt = fuzz::must("rebuilding architecture_of(model)", [&] {
    return sequential_from_architecture<float>(written, limits);
  });
  fuzz::check(architecture_of(rebuilt) == written, "architecture_of is a fixed point");

  Rng rng(size);
  model->initialize(rng);
  fuzz::run_forward(*model);
  return 0;
}
