// Reader for the golden reference files under tests/golden/ (written by golden_io.py).
//
// Format, one tensor after another:
//   tensor <name> <rows> <cols>
//   <rows*cols numbers, row by row, whitespace separated>
// Lines starting with '#' are comments. 1-D arrays are stored as (n x 1).
#pragma once

#include <fstream>
#include <map>
#include <seqlm/error.hpp>
#include <seqlm/tensor.hpp>
#include <string>

#ifndef SEQLM_GOLDEN_DIR
#error "SEQLM_GOLDEN_DIR must be defined by the build"
#endif

namespace seqlm::testing {

using Golden = std::map<std::string, Matrix<double>>;

inline Golden read_golden(const std::string& file_name) {
  const std::string path = std::string(SEQLM_GOLDEN_DIR) + "/" + file_name;
  std::ifstream in(path);
  if (!in) throw file_error("cannot open golden file " + path);
  Golden tensors;
  std::string word;
  while (in >> word) {
    if (word[0] == '#') {
      std::getline(in, word);
      continue;
    }
    if (word != "tensor") throw file_error(path + ": expected 'tensor', found '" + word + "'");
    std::string name;
    Index rows = 0, cols = 0;
    in >> name >> rows >> cols;
    Matrix<double> m(rows, cols);
    for (Index r = 0; r < rows; ++r)
      for (Index c = 0; c < cols; ++c)
        if (!(in >> m(r, c))) throw file_error(path + ": truncated tensor " + name);
    tensors[name] = m;
  }
  return tensors;
}

inline const Matrix<double>& get(const Golden& golden, const std::string& name) {
  auto it = golden.find(name);
  if (it == golden.end()) throw file_error("golden tensor '" + name + "' missing");
  return it->second;
}

}  // namespace seqlm::testing
