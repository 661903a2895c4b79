# cmake -P script behind the install tests (see CMakeLists.txt next to it).
#   MODE=find_package:     cmake --install the xgrad build into WORK_DIR/prefix, then
#                          build the consumer with CMAKE_PREFIX_PATH=WORK_DIR/prefix.
#   MODE=add_subdirectory: build the consumer with add_subdirectory(XGRAD_SOURCE_DIR).
# Either way the consumer program runs and must exit 0, and so does its xgrad::distributed
# program (one process, without mpirun) when xgrad was built with MPI.
cmake_minimum_required(VERSION 3.25)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    string(REPLACE ";" " " command "${ARGN}")
    message(FATAL_ERROR "install test (${MODE}): `${command}` failed (${result}):\n${out}")
  endif()
  message(STATUS "${out}")
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(configure_args
  -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
  -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
  -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
  "-DCMAKE_CXX_FLAGS=${CONSUMER_FLAGS}"
  "-DCMAKE_EXE_LINKER_FLAGS=${CONSUMER_FLAGS}")

if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} --install ${XGRAD_BINARY_DIR} --prefix ${WORK_DIR}/prefix)
  if(NOT EXISTS ${WORK_DIR}/prefix/include/xgrad/xgrad.hpp)
    message(FATAL_ERROR "install test: include/xgrad/xgrad.hpp was not installed")
  endif()
  run(${CMAKE_COMMAND} ${configure_args} -DXGRAD_CONSUMER_MODE=find_package -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
elseif(MODE STREQUAL "add_subdirectory")
  # This compiles all of xgrad again, inside the consumer. What it tests (the CMake integration)
  # does not depend on optimization, so it builds with no build type (no -O flags): about half
  # the compile time of Release, the biggest single item of the suite otherwise.
  list(FILTER configure_args EXCLUDE REGEX "^-DCMAKE_BUILD_TYPE=")
  run(${CMAKE_COMMAND} ${configure_args} -DCMAKE_BUILD_TYPE= -DXGRAD_CONSUMER_MODE=add_subdirectory -DXGRAD_SOURCE_DIR=${XGRAD_SOURCE_DIR})
else()
  message(FATAL_ERROR "install test: unknown MODE '${MODE}'")
endif()
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
if(EXISTS ${XGRAD_BINARY_DIR}/distributed AND NOT EXISTS ${WORK_DIR}/build/consumer_distributed)
  message(FATAL_ERROR "install test (${MODE}): xgrad was built with xgrad::distributed, but the consumer did not find it")
endif()
if(EXISTS ${WORK_DIR}/build/consumer_distributed)
  run(${WORK_DIR}/build/consumer_distributed)
endif()
