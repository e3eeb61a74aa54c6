/// \file
/// seqlm: neural sequence models in one header.
///
/// ```cpp
///   #include <seqlm/seqlm.hpp>
/// ```
///
/// pulls in every public part of the library. Each header below also compiles on its own.
#pragma once

// Foundations
#include "error.hpp"
#include "init.hpp"
#include "math/simd.hpp"
#include "parallel.hpp"
#include "parameter.hpp"
#include "random.hpp"
#include "tensor.hpp"
#include "version.hpp"

// Layers
#include "layers/contract.hpp"
#include "layers/conv1d.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/embedding.hpp"
#include "layers/gru.hpp"
#include "layers/lstm.hpp"
#include "layers/recurrent_state.hpp"
#include "loss.hpp"

// Optimizers and gradient clipping
#include "optim/adam.hpp"
#include "optim/clip.hpp"
#include "optim/make_optimizer.hpp"
#include "optim/nadam.hpp"
#include "optim/optimizer.hpp"
#include "optim/rmsprop.hpp"
#include "optim/sgd.hpp"

// Text and files
#include "io/ascii.hpp"
#include "io/atomic_file.hpp"
#include "io/checksum.hpp"
#include "io/json.hpp"
#include "io/safetensors.hpp"
#include "io/utf8.hpp"
#include "text/char_tokenizer.hpp"
#include "text/csv.hpp"
#include "text/word_tokenizer.hpp"

// Data and the n-gram model
#include "data/batching.hpp"
#include "data/line_sequences.hpp"
#include "data/split.hpp"
#include "data/token_file.hpp"
#include "data/token_source.hpp"
#include "data/whitespace_vocabulary.hpp"
#include "data/windows.hpp"
#include "ngram.hpp"
#include "sampling.hpp"

// Models, generation, model files
#include "files/layer_table.hpp"
#include "files/model_file.hpp"
#include "model/generate.hpp"
#include "model/layer.hpp"
#include "model/sequential.hpp"

// Training
#include "train/callbacks.hpp"
#include "train/checkpoint.hpp"
#include "train/data_parallel.hpp"
#include "train/fit.hpp"
#include "train/history.hpp"
#include "train/metrics.hpp"
#include "train/monitor.hpp"
#include "train/progress.hpp"
#include "train/schedules.hpp"
#include "train/state.hpp"
#include "train/step.hpp"
#include "train/worker_pool.hpp"

// Text models: a model with its tokenizer, evaluation and generation in one call
#include "text_model/evaluate_text.hpp"
#include "text_model/generate_text.hpp"
#include "text_model/text_model.hpp"
#include "text_model/train_text.hpp"
