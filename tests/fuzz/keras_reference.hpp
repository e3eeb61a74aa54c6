// The reference model of fuzz_keras's 'C' and 'W' inputs (see fuzz_keras.cpp), shared with
// fuzz_make_seeds, which writes its config.json and weights as seeds: the two must agree.
#pragma once

#include <seqlm/model/layer.hpp>
#include <seqlm/model/sequential.hpp>

namespace fuzz {

// One-hot letters (11) -> GRU(4, sequences) -> Dense(11), initialised with seed 7.
inline seqlm::Sequential<float> keras_reference_model() {
  seqlm::Sequential<float> model(seqlm::InputSpec::token_ids(11));
  seqlm::GRUOptions gru;
  gru.return_sequences = true;
  model.add(seqlm::layers::gru<float>(11, 4, gru));
  model.add(seqlm::layers::dense<float>(4, 11));
  model.initialize(7);
  return model;
}

}  // namespace fuzz
