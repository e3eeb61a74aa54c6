// The layer table and the architecture JSON (include/seqlm/files/layer_table.hpp): round trips of
// the tutorials' stacks, stored names, hostile architectures refused with the field named, the
// parameter cap summed before anything is allocated, and a layer of the user's own joining the table.
#include <doctest/doctest.h>

#include <seqlm/files/layer_table.hpp>
#include <string>
#include <vector>

#include "tutorial_stacks.hpp"

namespace layer_table_tests {

using namespace seqlm;
using namespace seqlm::test;

namespace {

template <class S>
void copy_weights(Sequential<S>& from, Sequential<S>& to) {
  const auto source = from.parameters();
  const auto target = to.parameters();
  REQUIRE(source.size() == target.size());
  for (size_t k = 0; k < source.size(); ++k) {
    CHECK(source[k].name == target[k].name);
    *target[k].value = *source[k].value;
  }
  to.set_weights_initialized();
}

}  // namespace

TEST_CASE("architecture_of -> sequential_from_architecture rebuilds the same model") {
  Rng rng(13);
  std::vector<Sequential<float>> models = {headlines<float>({12, 3, 0, 5}), poems<float>({12, 0, 0, 5}),
                                           nietzsche<float>({12, 0, 0, 5}), machado<float>({12, 3, 4, 5}, 2)};
  LSTMOptions no_forget_bias;
  no_forget_bias.unit_forget_bias = false;
  no_forget_bias.return_sequences = true;
  GRUOptions reset_before;
  reset_before.reset_after = false;
  Sequential<float> options_model(InputSpec::token_ids(12));
  options_model.add(layers::lstm<float>(12, 4, no_forget_bias)).add(layers::gru<float>(4, 3, reset_before));
  options_model.add(layers::dense<float>(3, 12));
  models.push_back(options_model);

  for (auto& model : models) {
    model.initialize(rng);
    const json::Value architecture = architecture_of(model);
    CAPTURE(architecture.dump());
    // Through text, as in a model file.
    Sequential<float> rebuilt = sequential_from_architecture<float>(json::parse(architecture.dump()));
    CHECK(rebuilt.summary(7) == model.summary(7));
    CHECK(architecture_of(rebuilt) == architecture);
    copy_weights(model, rebuilt);
    const std::vector<TokenId> ids = random_ids(4 * 2, 12, rng);
    const Matrix<float> expected = model.forward(TokenView(ids, 4, 2), LayerContext{});
    CHECK(rebuilt.forward(TokenView(ids, 4, 2), LayerContext{}) == expected);
  }

  Sequential<double> features(InputSpec::features(4));
  features.add(layers::dropout<double>(0.25)).add(layers::dense<double>(4, 2));
  const auto rebuilt = sequential_from_architecture<double>(architecture_of(features));
  CHECK(rebuilt.input_spec().tokens == false);
  CHECK(rebuilt.input_spec().size == 4);
  CHECK(architecture_of(rebuilt) == architecture_of(features));
}

TEST_CASE("sequential_from_architecture keeps stored layer names") {
  json::Value architecture = architecture_of(nietzsche<float>({5, 0, 0, 3}));
  json::Value::Array layer_list = architecture.get_array("layers");
  layer_list[0].set("name", "encoder");
  architecture.set("layers", layer_list);
  auto model = sequential_from_architecture<float>(architecture);
  CHECK(model.layer_name(0) == "encoder");
  CHECK(model.parameters()[0].name == "encoder/kernel");
}

TEST_CASE("sequential_from_architecture rejects invalid architectures with a file_error naming the field") {
  const std::string valid =
      R"({"format":"seqlm.sequential","input":{"kind":"token_ids","size":5},"layers":[)"
      R"({"type":"LSTM","name":"lstm","config":{"input_size":5,"units":3,"return_sequences":false,"unit_forget_bias":true}},)"
      R"({"type":"Dense","name":"dense","config":{"input_size":3,"units":5}}]})";
  CHECK_NOTHROW(sequential_from_architecture<float>(json::parse(valid)));

  auto rejects = [&](const std::string& from, const std::string& to, const std::string& message_part) {
    std::string text = valid;
    const size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    CAPTURE(text);
    try {
      sequential_from_architecture<float>(json::parse(text));
      FAIL("accepted an invalid architecture");
    } catch (const file_error& e) {
      const std::string message = e.what();
      CAPTURE(message);
      CHECK(contains(e.what(), message_part));
    }
  };
  rejects(R"("type":"LSTM")", R"("type":"Transformer")",
          "is \"Transformer\", expected one of: Conv1D, Dense, Dropout, Embedding, GRU, LSTM");
  rejects(R"("units":3,)", "", "field \"units\" is missing");
  rejects(R"("units":3,)", R"("units":-3,)", "field \"units\" is -3");
  rejects(R"("units":3,)", R"("units":0,)", "field \"units\" is 0");
  rejects(R"("units":3,)", R"("units":2.5,)", "field \"units\" is");
  rejects(R"("units":3,)", R"("units":"3",)", "field \"units\" is");
  rejects(R"("units":3,)", R"("units":4,)", "input size 3, expected 4");  // mismatched sizes
  rejects(R"("units":3,)", R"("units":1e12,)", "field \"units\"");        // absurd size
  rejects(R"("input_size":5,"units":3)", R"("input_size":16000000,"units":16000000)", "limit");
  rejects(R"("return_sequences":false)", R"("return_sequences":1)", "expected a boolean");
  rejects(R"("unit_forget_bias":true)", R"("unit_forget_bias":true,"extra":1)", "unknown field \"extra\"");
  rejects(R"("size":5)", R"("size":-5)", "model architecture/input: field \"size\" is -5");
  rejects(R"("kind":"token_ids")", R"("kind":"pixels")", "field \"kind\" is \"pixels\"");
  rejects(R"("format":"seqlm.sequential")", R"("format":"keras")", "format");
  rejects(R"("name":"dense")", R"("name":"lstm")", "already taken");
  rejects(R"("name":"dense")", R"("name":"a/b")", "without '/'");
  rejects(R"("config":{"input_size":3,"units":5})", R"("config":[3,5])", "\"config\" is an array");
  rejects(R"("type":"Dense","name":"dense","config":{"input_size":3,"units":5})",
          R"("type":"Dropout","name":"dropout","config":{"rate":1.5})", "field \"rate\" is 1.5");
  rejects(
      R"({"type":"Dense","name":"dense","config":{"input_size":3,"units":5}})",
      R"({"type":"Conv1D","name":"c","config":{"input_size":3,"filters":2,"kernel_size":2,"dilation":1,"activation":"tanh"}})",
      "expected \"relu\" or \"linear\"");
}

TEST_CASE("sequential_from_architecture rejects structural problems") {
  CHECK_THROWS_AS(sequential_from_architecture<float>(json::parse("[]")), file_error);
  CHECK_THROWS_AS(sequential_from_architecture<float>(json::parse(R"({"format":"seqlm.sequential"})")),
                  file_error);
  CHECK_THROWS_AS(sequential_from_architecture<float>(json::parse(
                      R"({"format":"seqlm.sequential","input":{"kind":"token_ids","size":5},"layers":[]})")),
                  file_error);
  CHECK_THROWS_AS(sequential_from_architecture<float>(json::parse(
                      R"({"format":"seqlm.sequential","input":{"kind":"token_ids","size":5},"layers":[7]})")),
                  file_error);
  {
    const json::Value config = json::parse(R"({"input_size":3})");
    json::ObjectReader reader(config, "Dense config");
    CHECK_THROWS_AS(layer_table<float>().find("Dense")->read(reader), file_error);
  }

  // A model-wide parameter cap, summed over the configurations before anything is built.
  const json::Value two_dense =
      json::parse(R"({"format":"seqlm.sequential","input":{"kind":"features","size":10},"layers":[)"
                  R"({"type":"Dense","config":{"input_size":10,"units":10}},)"
                  R"({"type":"Dense","config":{"input_size":10,"units":10}}]})");
  CHECK(sequential_from_architecture<float>(two_dense, ArchitectureLimits{220, 220}).parameter_count() ==
        220);
  try {
    sequential_from_architecture<float>(two_dense, ArchitectureLimits{219, 219});
    FAIL("expected a file_error");
  } catch (const file_error& e) {
    CHECK(contains(
        e.what(),
        "layers[1]: field \"config\" brings the model to 220 parameters, more than the limit of 219"));
  }
}

// ---- the limits are checked before anything is allocated -----------------------------------------

TEST_CASE("a small file describing three huge Dense layers is refused before any weight is allocated") {
  // Each layer is under the one-layer limit (2^28 - 2^14 parameters); the three are 6 GB of floats.
  std::string text = R"({"format":"seqlm.sequential","input":{"kind":"features","size":16383},"layers":[)";
  for (int k = 0; k < 3; ++k) {
    text += std::string(k > 0 ? "," : "") + R"({"type":"Dense","config":{"input_size":16383,"units":16383}})";
  }
  text += "]}";
  CHECK(text.size() < 600);
  try {
    sequential_from_architecture<double>(json::parse(text));
    FAIL("expected a file_error");
  } catch (const file_error& e) {
    CHECK(contains(e.what(), "layers[2]: field \"config\" brings the model to"));
  }
}

// ---- a layer of the user's own ---------------------------------------------------------------------

namespace {

Index read_size_field(json::ObjectReader& read) { return static_cast<Index>(read.size("size")); }

// y = s .* x on every column: the smallest layer with a weight that follows the layer contract.
template <class Scalar>
class Scale {
 public:
  static constexpr const char* type_name = "Scale";
  static constexpr LayerTraits traits{false, true, false, true};
  using State = StatelessState;
  struct Config {
    Index size = 0;
  };

  explicit Scale(const Config& config) : size_(config.size) {
    detail::check_positive("Scale", "size", size_);
    scale_ = Matrix<Scalar>::Ones(size_, 1);
    scale_gradient_ = Matrix<Scalar>::Zero(size_, 1);
  }
  Config config() const { return {size_}; }
  Index input_size() const { return size_; }
  Index output_size() const { return size_; }
  bool keeps_time_axis() const { return true; }
  static Index parameter_count(const Config& config) { return config.size; }
  Index parameter_count() const { return size_; }
  void initialize(Rng&) { scale_.setOnes(); }
  ParameterList<Scalar> parameters() { return {{"scale", &scale_, &scale_gradient_}}; }
  ConstParameterList<Scalar> parameters() const { return {{"scale", &scale_, &scale_gradient_}}; }

  const Matrix<Scalar>& forward(const LayerInput<Scalar>& input, const LayerContext& = {},
                                const State* = nullptr) {
    input_ = detail::features_of("Scale", input);
    output_ = scale_.col(0).asDiagonal() * input_;
    return output_;
  }
  void copy_final_state(State&) const {}
  void backward(ConstMatrixRef<Scalar> d_output, const LayerContext& = {}) {
    scale_gradient_.col(0) += d_output.cwiseProduct(input_).rowwise().sum();
    input_gradient_ = scale_.col(0).asDiagonal() * d_output;
  }
  bool has_input_gradient() const { return input_gradient_.size() > 0; }
  const Matrix<Scalar>& input_gradient() const { return input_gradient_; }
  State make_state(Index batch) const { return detail::make_stateless_state("Scale", batch); }
  void step(const LayerInput<Scalar>& input, State&, Matrix<Scalar>& out) const {
    out = scale_.col(0).asDiagonal() * detail::features_of("Scale step", input);
  }

 private:
  Index size_;
  Matrix<Scalar> scale_, scale_gradient_, input_, output_, input_gradient_;
};

}  // namespace

TEST_CASE("a layer class of the user's own works in a model and joins the layer table") {
  LayerTable<double> table = layer_table<double>();
  table.add("Scale",
            detail::creator_for<Scale<double>>(
                [](json::ObjectReader& read) { return Scale<double>::Config{read_size_field(read)}; },
                [](const Scale<double>::Config& config) {
                  return json::Value::object().set("size", config.size);
                }));

  Sequential<double> model(InputSpec::token_ids(7));
  model.add(layers::lstm<double>(7, 4)).add(make_layer<Scale<double>>({4})).add(layers::dense<double>(4, 7));
  Rng rng(3);
  model.initialize(rng);
  CHECK(model.layer_name(1) == "scale");
  CHECK(model.parameter_count() == 4 * 4 * (7 + 4 + 1) + 4 + 7 * 5);
  layer_cast<Scale<double>>(model.layer(1))->parameters()[0].value->setConstant(0.5);

  const json::Value architecture = architecture_of(model, table);
  CHECK(contains(architecture.dump(), R"("type":"Scale")"));
  Sequential<double> rebuilt = sequential_from_architecture<double>(architecture, {}, table);
  auto source = model.parameters();
  auto target = rebuilt.parameters();
  for (size_t k = 0; k < source.size(); ++k) *target[k].value = *source[k].value;
  rebuilt.set_weights_initialized();
  const std::vector<TokenId> ids = random_ids(6, 7, rng);
  CHECK(rebuilt.forward(TokenView(ids, 3, 2), {}) == model.forward(TokenView(ids, 3, 2), {}));
  // It defines no copy_sequence, which a layer without memory need not: streams still copy.
  auto two = model.make_state(2);
  auto one = model.make_state(1);
  model.step(ids.data(), two);
  model.copy_sequence(two, 1, one, 0);
  CHECK(one.outputs.back().col(0) == two.outputs.back().col(1));
  CHECK_THROWS_AS(model.copy_sequence(two, 2, one, 0), value_error);
  // The process-wide table does not know it.
  CHECK_THROWS_AS(sequential_from_architecture<double>(architecture), file_error);
  CHECK_THROWS_AS(architecture_of(model), value_error);
}

}  // namespace layer_table_tests
