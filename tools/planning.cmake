# fm_tools_planning: the pure logic of `flashmem plan` (tools/plan), `flashmem tune` (tools/tune)
# and the SVG plot writer (tools/plot). Included from tools/CMakeLists.txt; no CUDA, no model code.
add_library(fm_tools_planning STATIC
  ${CMAKE_CURRENT_LIST_DIR}/plan/plan_model.cc
  ${CMAKE_CURRENT_LIST_DIR}/plan/plan_report.cc
  ${CMAKE_CURRENT_LIST_DIR}/plot/svg_plot.cc
  ${CMAKE_CURRENT_LIST_DIR}/tune/tune_trace.cc
  ${CMAKE_CURRENT_LIST_DIR}/tune/tune_synth.cc
  ${CMAKE_CURRENT_LIST_DIR}/tune/tune_sweep.cc
  ${CMAKE_CURRENT_LIST_DIR}/tune/tune_report.cc)
target_include_directories(fm_tools_planning PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(fm_tools_planning PUBLIC fm_sched fm_traces fm_common
                      nlohmann_json::nlohmann_json absl::status absl::statusor absl::strings
                      absl::str_format absl::span)
fm_target_warnings(fm_tools_planning)

if(FLASHMEM_TESTS)
  fm_add_test(NAME tools_plan_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/plan/plan_model_test.cc
            ${CMAKE_CURRENT_LIST_DIR}/plot/svg_plot_test.cc
    LIBS fm_tools_planning LABELS unit)
  fm_add_test(NAME tools_tune_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/tune/tune_sweep_test.cc
    LIBS fm_tools_planning LABELS unit)
  # A run recorded by the engine (--record-scores) replayed by tune: needs the model and engine.
  fm_add_test(NAME tools_tune_record_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/tune/tune_record_test.cc
    LIBS fm_tools_planning fm_runtime_engine fm_runtime_weights LABELS unit)
endif()
