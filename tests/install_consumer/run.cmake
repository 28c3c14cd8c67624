# ctest install_consumer: install hwaware to a temporary prefix, then configure, build and run the
# consumer project in this folder against it.
#   cmake -DHWAWARE_BINARY_DIR=... -DCONSUMER_SOURCE_DIR=... -DWORK_DIR=...
#         [-DCONSUMER_GENERATOR=...] [-DCONSUMER_CXX_COMPILER=...] [-DCONSUMER_BUILD_TYPE=...]
#         -P run.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var HWAWARE_BINARY_DIR CONSUMER_SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run.cmake: ${var} is not set")
  endif()
endforeach()
if(NOT CONSUMER_BUILD_TYPE)
  set(CONSUMER_BUILD_TYPE Release)
endif()

set(prefix ${WORK_DIR}/prefix)
set(build ${WORK_DIR}/build)
file(REMOVE_RECURSE ${prefix} ${build})

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: ${what} failed (${rc})")
  endif()
endfunction()

run_step("install"
  ${CMAKE_COMMAND} --install ${HWAWARE_BINARY_DIR} --prefix ${prefix} --config ${CONSUMER_BUILD_TYPE})

set(configure_args -S ${CONSUMER_SOURCE_DIR} -B ${build}
  -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=${CONSUMER_BUILD_TYPE})
if(CONSUMER_GENERATOR)
  list(APPEND configure_args -G ${CONSUMER_GENERATOR})
endif()
if(CONSUMER_CXX_COMPILER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER=${CONSUMER_CXX_COMPILER})
endif()
run_step("configure" ${CMAKE_COMMAND} ${configure_args})
run_step("build" ${CMAKE_COMMAND} --build ${build} --config ${CONSUMER_BUILD_TYPE})

find_program(consumer install_consumer
  PATHS ${build} ${build}/${CONSUMER_BUILD_TYPE} NO_DEFAULT_PATH REQUIRED)
run_step("run" ${consumer})
find_program(consumer_precompiled install_consumer_precompiled
  PATHS ${build} ${build}/${CONSUMER_BUILD_TYPE} NO_DEFAULT_PATH REQUIRED)
run_step("run the precompiled library" ${consumer_precompiled})
find_program(consumer_onnx install_consumer_onnx
  PATHS ${build} ${build}/${CONSUMER_BUILD_TYPE} NO_DEFAULT_PATH)
if(consumer_onnx)
  run_step("run the ONNX component" ${consumer_onnx})
endif()
message(STATUS "install_consumer: installed package found, built and ran")
