# Installs the seqlm build tree into SCRATCH/prefix, then configures, builds and runs the
# consumer project against that prefix. Any failing step fails the test.
file(REMOVE_RECURSE ${SCRATCH})
function(run_step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "step failed (${result}): ${ARGN}")
  endif()
endfunction()
run_step(${CMAKE_COMMAND} --install ${SEQLM_BINARY_DIR} --prefix ${SCRATCH}/prefix)
run_step(${CMAKE_COMMAND} -S ${SEQLM_CONSUMER_SOURCE} -B ${SCRATCH}/build
  -DCMAKE_PREFIX_PATH=${SCRATCH}/prefix -DCMAKE_BUILD_TYPE=Release)
run_step(${CMAKE_COMMAND} --build ${SCRATCH}/build)
run_step(${SCRATCH}/build/app)
if(NOT EXISTS ${SCRATCH}/prefix/share/pkgconfig/seqlm.pc)
  message(FATAL_ERROR "seqlm.pc was not installed")
endif()
