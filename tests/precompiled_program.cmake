# ctest precompiled_program: the README program's object file (it links hwaware::precompiled)
# defines none of the entry points the library compiles once, so its compile stays short.
#   cmake -DOBJECTS="a.o;b.o" -DNM=/usr/bin/nm -P precompiled_program.cmake
cmake_minimum_required(VERSION 3.25)
foreach(object IN LISTS OBJECTS)
  execute_process(COMMAND ${NM} -C --defined-only ${object} OUTPUT_VARIABLE symbols RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "precompiled_program: ${NM} failed on ${object}")
  endif()
  foreach(entry "ZeroBN<[^\n]*>::run" "ZeroBN<[^\n]*>::train_epoch" "models::make_model\\(" "load_fashion_mnist\\("
                "cached_mlp_predictor<" "OnednnCpuDevice::measure_many")
    if(symbols MATCHES "[^\n]*${entry}[^\n]*")
      message(FATAL_ERROR "precompiled_program: ${object} defines ${CMAKE_MATCH_0}, which hwaware::precompiled "
                          "should compile instead (see include/hwaware/core/precompiled.hpp)")
    endif()
  endforeach()
  string(REGEX MATCHALL "\n" lines "${symbols}")
  list(LENGTH lines count)
  message(STATUS "precompiled_program: ${object} defines ${count} symbols, none of the entry points")
endforeach()
