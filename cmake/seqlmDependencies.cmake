# Finds seqlm's two dependencies (and OpenMP when SEQLM_OPENMP is on). Used by the build and
# by the installed seqlmConfig.cmake.
include(CMakeFindDependencyMacro)
find_dependency(Eigen3 3.4 NO_MODULE)
find_dependency(xsimd 8.1)
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
