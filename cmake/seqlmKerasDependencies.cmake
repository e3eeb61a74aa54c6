# Finds what the optional Keras interop component (seqlm::keras, include/seqlm/keras/) needs:
# the HDF5 C library and libzip (Debian: libhdf5-dev, libzip-dev), as the imported targets
# seqlm_keras::hdf5 and seqlm_keras::zip. Sets SEQLM_KERAS_FOUND (and SEQLM_KERAS_MISSING).
# Used by the build and by the installed seqlmConfig.cmake; quiet, so that seqlm itself never
# depends on them.
#
# pkg-config first (hdf5.pc, libzip.pc), then a plain header + library search. CMake's FindHDF5
# is not used (it needs the C language enabled) and neither is libzip's CMake package (Debian's
# refers to command-line tools that live in another package).
find_package(PkgConfig QUIET)
foreach(_seqlm_dep IN ITEMS hdf5 zip)
  if(TARGET seqlm_keras::${_seqlm_dep})
    continue()
  endif()
  if(_seqlm_dep STREQUAL "hdf5")
    set(_seqlm_modules hdf5 hdf5-serial)
    set(_seqlm_header hdf5.h)
    set(_seqlm_libraries hdf5 hdf5_serial)
  else()
    set(_seqlm_modules libzip)
    set(_seqlm_header zip.h)
    set(_seqlm_libraries zip)
  endif()
  set(_seqlm_includes "")
  set(_seqlm_links "")
  if(PkgConfig_FOUND)
    pkg_search_module(SEQLM_PC_${_seqlm_dep} QUIET ${_seqlm_modules})
  endif()
  if(SEQLM_PC_${_seqlm_dep}_FOUND)
    set(_seqlm_includes "${SEQLM_PC_${_seqlm_dep}_INCLUDE_DIRS}")
    set(_seqlm_links "${SEQLM_PC_${_seqlm_dep}_LINK_LIBRARIES}")
  else()
    find_path(SEQLM_${_seqlm_dep}_INCLUDE_DIR ${_seqlm_header} PATH_SUFFIXES hdf5/serial)
    find_library(SEQLM_${_seqlm_dep}_LIBRARY NAMES ${_seqlm_libraries})
    if(SEQLM_${_seqlm_dep}_INCLUDE_DIR AND SEQLM_${_seqlm_dep}_LIBRARY)
      set(_seqlm_includes "${SEQLM_${_seqlm_dep}_INCLUDE_DIR}")
      set(_seqlm_links "${SEQLM_${_seqlm_dep}_LIBRARY}")
    endif()
  endif()
  if(_seqlm_links)
    add_library(seqlm_keras::${_seqlm_dep} INTERFACE IMPORTED)
    set_target_properties(seqlm_keras::${_seqlm_dep} PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${_seqlm_includes}"
      INTERFACE_LINK_LIBRARIES "${_seqlm_links}")
  endif()
endforeach()

if(TARGET seqlm_keras::hdf5 AND TARGET seqlm_keras::zip)
  set(SEQLM_KERAS_FOUND TRUE)
  set(SEQLM_KERAS_MISSING "")
else()
  set(SEQLM_KERAS_FOUND FALSE)
  set(_seqlm_missing "")
  if(NOT TARGET seqlm_keras::hdf5)
    list(APPEND _seqlm_missing "HDF5 (libhdf5-dev)")
  endif()
  if(NOT TARGET seqlm_keras::zip)
    list(APPEND _seqlm_missing "libzip (libzip-dev)")
  endif()
  list(JOIN _seqlm_missing " and " SEQLM_KERAS_MISSING)
endif()
