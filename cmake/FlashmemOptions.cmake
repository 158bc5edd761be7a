# Warning and sanitizer flags for flashmem's own targets. Debian dependencies come in as SYSTEM
# includes (imported targets), so -Werror applies to our code only.
function(fm_target_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Werror>
    $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings -Xcompiler=-Wall,-Wextra>)
endfunction()

if(FM_SANITIZE)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${FM_SANITIZE}>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize-recover=all>)
  add_link_options(-fsanitize=${FM_SANITIZE})
endif()

# Release builds keep asserts of our own (FM_CHECK is always on) and vectorise the CPU kernels.
if(CMAKE_BUILD_TYPE STREQUAL "Release")
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-O3>)
endif()

# No implicit a*b+c -> fma contraction: GCC contracts by default in C++ modes, and where it does
# depends on inlining, so the same expression could round differently in the decode (GEMV) and
# prefill (GEMM) paths. Explicit FMA intrinsics are unaffected.
add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-ffp-contract=off>)
