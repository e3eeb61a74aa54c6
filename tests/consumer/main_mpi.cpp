// The MPI component from an installed seqlm: find_package(seqlm COMPONENTS mpi), seqlm::mpi.
// Built (not run: that needs mpirun) by the find_package consumer test.
#include <iostream>
#include <seqlm/distributed/mpi.hpp>

int main(int argc, char** argv) {
  seqlm::mpi::Environment mpi(argc, argv);
  seqlm::mpi::Communicator ranks;
  std::cout << "rank " << ranks.rank() << " of " << ranks.size() << "\n";
  return 0;
}
