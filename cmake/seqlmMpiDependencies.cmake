# Finds what the optional MPI component (seqlm::mpi, include/seqlm/distributed/) needs: an MPI
# library for C++ (Debian: libopenmpi-dev, and openmpi-bin for mpirun), as MPI::MPI_CXX. Sets
# SEQLM_MPI_FOUND. Used by the build and by the installed seqlmConfig.cmake; quiet, so that
# seqlm itself never depends on MPI. Only MPI's C API is used (no C++ bindings).
if(NOT TARGET MPI::MPI_CXX)
  find_package(MPI QUIET COMPONENTS CXX)
endif()
if(TARGET MPI::MPI_CXX)
  set(SEQLM_MPI_FOUND TRUE)
else()
  set(SEQLM_MPI_FOUND FALSE)
endif()
