// Uses the packaged headers (the include path, Eigen and xsimd) through the umbrella header.
#include <iostream>
#include <seqlm/seqlm.hpp>

int main() {
  seqlm::Rng rng(1);
  seqlm::Matrix<float> w(4, 3);
  seqlm::init::glorot_uniform(w, 3, 4, rng);
  std::cout << "seqlm " << seqlm::version_string << " ok, |w| = " << w.norm() << "\n";
  return w.norm() > 0 ? 0 : 1;
}
