# Finds seqlm's two dependencies (and OpenMP when SEQLM_OPENMP is on). Used by the build and
# by the installed seqlmConfig.cmake.
include(CMakeFindDependencyMacro)
# Eigen 3.4 or later, xsimd 8.1 (Debian 12) through 14 (vcpkg, Conan Center). Their version
# files accept their own major version only (Eigen went from 3.4 to 5.0, vcpkg ships 5.0.1;
# xsimd from 8 to 14), so find any version and check the range here. A version below the floor
# sets SEQLM_DEPENDENCY_PROBLEM (the build stops; find_package(seqlm) reports seqlm not found
# and why); an xsimd newer than seqlm was tested with is a warning (math/xsimd_compat.hpp).
# A package without a version file leaves <name>_VERSION empty: then the headers' own checks
# decide (xsimd_compat.hpp's #error).
find_dependency(Eigen3 NO_MODULE)
find_dependency(xsimd)
set(SEQLM_DEPENDENCY_PROBLEM "")
if(Eigen3_VERSION AND Eigen3_VERSION VERSION_LESS 3.4)
  set(SEQLM_DEPENDENCY_PROBLEM "seqlm needs Eigen 3.4 or later, found Eigen ${Eigen3_VERSION} in ${Eigen3_DIR}")
elseif(xsimd_VERSION AND xsimd_VERSION VERSION_LESS 8.1)
  set(SEQLM_DEPENDENCY_PROBLEM "seqlm needs xsimd 8.1 to 14, found xsimd ${xsimd_VERSION} in ${xsimd_DIR}")
elseif(xsimd_VERSION VERSION_GREATER_EQUAL 15)
  message(WARNING "seqlm was tested with xsimd 8.1 to 14; found xsimd ${xsimd_VERSION} in ${xsimd_DIR}")
endif()
# GEMM threads (SEQLM_OPENMP: the build's option, or the installed package's setting).
if(SEQLM_OPENMP)
  find_dependency(OpenMP COMPONENTS CXX)
endif()

# Debian 12's xsimd package exports a target that links "xtl" although xsimd's headers
# need xtl only for its optional xtl::xcomplex support, which seqlm does not use. Without
# the xtl package that becomes a bogus "-lxtl" on the link line, so drop it in that case.
if(TARGET xsimd AND NOT TARGET xtl)
  find_package(xtl QUIET)
  if(NOT TARGET xtl)
    get_target_property(_seqlm_xsimd_links xsimd INTERFACE_LINK_LIBRARIES)
    if(_seqlm_xsimd_links)
      list(REMOVE_ITEM _seqlm_xsimd_links xtl)
      set_property(TARGET xsimd PROPERTY INTERFACE_LINK_LIBRARIES "${_seqlm_xsimd_links}")
    endif()
  endif()
endif()
