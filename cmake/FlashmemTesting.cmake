# fm_add_test(NAME name SOURCES a.cc b.cc LIBS lib... LABELS unit|golden|gpu|ui|slow [TIMEOUT s])
# One ctest per gtest executable (no discovery pass at build time: it doubles link+run cost on 2 cores).
# gpu-labelled tests GTEST_SKIP() without a device; ctest reports them as skipped through
# SKIP_REGULAR_EXPRESSION.
function(fm_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT;WORKING_DIRECTORY" "SOURCES;LIBS;LABELS;ARGS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main Threads::Threads)
  fm_target_warnings(${T_NAME})
  if(NOT T_WORKING_DIRECTORY)
    set(T_WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS} WORKING_DIRECTORY ${T_WORKING_DIRECTORY})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "FM_SOURCE_DIR=${PROJECT_SOURCE_DIR};FM_BINARY_DIR=${PROJECT_BINARY_DIR}")
  if("gpu" IN_LIST T_LABELS)
    # A gpu binary without a device skips every test; report that as "skipped", not "passed".
    set_tests_properties(${T_NAME} PROPERTIES SKIP_REGULAR_EXPRESSION "FM_GPU_SKIPPED")
  endif()
endfunction()
