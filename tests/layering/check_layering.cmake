# Layering test (DESIGN.md §1): run as `cmake -DSRC=<source dir> -P check_layering.cmake`.
# Fails (FATAL_ERROR, listing every offence) when
#  - scheduler/, traces/ or profiler-ui/ include cuda_runtime*.h or a module above them;
#  - traces/ includes scheduler/, runtime/ or kernels/; profiler-ui/ includes runtime/, scheduler/,
#    kernels/ or imgui from outside profiler-ui (the UI links only fm_traces);
#  - a blocking CUDA call (cudaStreamSynchronize, cudaEventSynchronize, cudaDeviceSynchronize,
#    synchronous cudaMemcpy) appears outside runtime/backend/cuda/blocking.* and tests/.
if(NOT SRC)
  message(FATAL_ERROR "usage: cmake -DSRC=<flashmem source dir> -P check_layering.cmake")
endif()

set(offences "")

function(check_includes module forbidden_regex)
  file(GLOB_RECURSE files "${SRC}/${module}/*.h" "${SRC}/${module}/*.cc" "${SRC}/${module}/*.cu"
       "${SRC}/${module}/*.cuh")
  foreach(f IN LISTS files)
    file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include")
    foreach(line IN LISTS lines)
      if(line MATCHES "${forbidden_regex}")
        file(RELATIVE_PATH rel "${SRC}" "${f}")
        set(offences "${offences}\n  ${rel}: ${line}")
      endif()
    endforeach()
  endforeach()
  set(offences "${offences}" PARENT_SCOPE)
endfunction()

check_includes(scheduler "cuda_runtime|\"(runtime|kernels|profiler-ui|tools)/")
check_includes(traces "cuda_runtime|imgui|\"(scheduler|runtime|kernels|profiler-ui|tools)/")
check_includes(profiler-ui "cuda_runtime|\"(scheduler|runtime|kernels|tools)/")
check_includes(kernels "\"(scheduler|runtime|profiler-ui|tools|traces)/")

# Blocking CUDA calls live only behind runtime/backend/cuda/blocking.h, which counts them by reason.
file(GLOB_RECURSE all_sources "${SRC}/runtime/*.cc" "${SRC}/runtime/*.h" "${SRC}/runtime/*.cu"
     "${SRC}/kernels/*.cc" "${SRC}/kernels/*.cu" "${SRC}/scheduler/*.cc" "${SRC}/traces/*.cc"
     "${SRC}/tools/*.cc")
foreach(f IN LISTS all_sources)
  if(f MATCHES "/runtime/backend/cuda/blocking\\.")
    continue()
  endif()
  file(STRINGS "${f}" lines REGEX "cuda(StreamSynchronize|EventSynchronize|DeviceSynchronize|Memcpy)[ \t]*\\(")
  foreach(line IN LISTS lines)
    if(line MATCHES "^[ \t]*//")
      continue()
    endif()
    file(RELATIVE_PATH rel "${SRC}" "${f}")
    set(offences "${offences}\n  ${rel}: blocking CUDA call outside blocking.h: ${line}")
  endforeach()
endforeach()

if(offences)
  message(FATAL_ERROR "layering violations:${offences}")
endif()
message(STATUS "layering: ok")
