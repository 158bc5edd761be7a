# Every dependency is a Debian package (tools/setup/install_deps.sh). Nothing is downloaded.
find_package(Threads REQUIRED)
find_package(absl REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
if(FLASHMEM_TESTS)
  find_package(GTest REQUIRED)
endif()
if(FLASHMEM_BENCH)
  find_package(benchmark REQUIRED)
endif()

# NVTX3 is header-only. It ships with the CUDA toolkit; zones compile to nothing without it.
find_path(FM_NVTX3_INCLUDE_DIR nvtx3/nvToolsExt.h
          HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include /usr/include)
add_library(fm_nvtx3 INTERFACE)
if(FM_NVTX3_INCLUDE_DIR)
  target_include_directories(fm_nvtx3 SYSTEM INTERFACE ${FM_NVTX3_INCLUDE_DIR})
  target_compile_definitions(fm_nvtx3 INTERFACE FM_HAVE_NVTX3=1)
  target_link_libraries(fm_nvtx3 INTERFACE ${CMAKE_DL_LIBS})
endif()
