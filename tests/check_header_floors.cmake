# Checks the include floors of the library's headers: a header may include only headers on
# its own floor or below. Run as a ctest (header_floors):
#   cmake -DSEQLM_INCLUDE_DIR=<repo>/include/seqlm -P tests/check_header_floors.cmake
#
# Floors, bottom first: io/ with error.hpp, tensor.hpp and random.hpp; ...; model/ and optim/;
# files/ (model files and the checkpoint layout); train/; text_model/ (a model with its
# tokenizer, evaluate_text, generate_text) at the top, which only seqlm.hpp, the header of
# everything, includes from outside. Each rule below lists, for the headers of one directory,
# the includes (relative to include/seqlm/) that are allowed or refused.

if(NOT SEQLM_INCLUDE_DIR)
  message(FATAL_ERROR "SEQLM_INCLUDE_DIR is not set")
endif()

# io/: the only includes allowed. files/: includes that are refused.
set(floor_io "^io/" "^error\\.hpp$" "^tensor\\.hpp$" "^random\\.hpp$")
set(floor_files_forbidden "^train/" "^text/" "^data/")

set(problems "")
file(GLOB_RECURSE headers RELATIVE ${SEQLM_INCLUDE_DIR} ${SEQLM_INCLUDE_DIR}/*.hpp)
foreach(header IN LISTS headers)
  get_filename_component(directory ${header} DIRECTORY)
  file(STRINGS ${SEQLM_INCLUDE_DIR}/${header} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*$" "\\1" included "${line}")
    # The path under include/seqlm/ of the included header.
    if(directory STREQUAL "")
      set(target "${included}")
    else()
      get_filename_component(target "${SEQLM_INCLUDE_DIR}/${directory}/${included}" ABSOLUTE)
      file(RELATIVE_PATH target ${SEQLM_INCLUDE_DIR} ${target})
    endif()
    if(directory STREQUAL "io")
      set(allowed FALSE)
      foreach(pattern IN LISTS floor_io)
        if(target MATCHES "${pattern}")
          set(allowed TRUE)
        endif()
      endforeach()
      if(NOT allowed)
        list(APPEND problems "${header} includes ${target}: io/ is the bottom floor (io/, error, tensor, random)")
      endif()
    elseif(directory STREQUAL "files")
      foreach(pattern IN LISTS floor_files_forbidden)
        if(target MATCHES "${pattern}")
          list(APPEND problems "${header} includes ${target}: files/ sits below train/, text/ and data/")
        endif()
      endforeach()
    endif()
    if(target MATCHES "^text_model/" AND NOT directory STREQUAL "text_model" AND NOT header STREQUAL "seqlm.hpp")
      list(APPEND problems "${header} includes ${target}: text_model/ is the top floor")
    endif()
  endforeach()
endforeach()

if(problems)
  list(JOIN problems "\n  " text)
  message(FATAL_ERROR "header floors violated:\n  ${text}")
endif()
list(LENGTH headers count)
message(STATUS "header floors: ${count} headers checked, no violation")
