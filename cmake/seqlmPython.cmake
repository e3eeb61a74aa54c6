# seqlm_find_python_with(<variable> <import statement>): the first Python 3 interpreter (CMake's
# Python3, then Debian's /usr/bin/python3) that can run `<import statement>`, or "" in
# <variable>. Tests use Debian's Python modules (h5py, websockets), which a pyenv or venv
# python found first on PATH may lack.
function(seqlm_find_python_with variable imports)
  find_package(Python3 COMPONENTS Interpreter QUIET)
  set(found "")
  foreach(candidate IN ITEMS "${Python3_EXECUTABLE}" /usr/bin/python3)
    if(candidate AND NOT found)
      execute_process(COMMAND ${candidate} -c "${imports}" RESULT_VARIABLE missing OUTPUT_QUIET ERROR_QUIET)
      if(missing EQUAL 0)
        set(found ${candidate})
      endif()
    endif()
  endforeach()
  set(${variable} "${found}" PARENT_SCOPE)
endfunction()
