# shellcheck shell=bash
# Shared by build_gpu_bundle.sh (here) and run_gpu_bundle.sh (on the device); sourced, not run.

# Libraries the bundle never carries: glibc's, the compiler runtime (lib/fallback holds a copy of
# libstdc++/libgcc_s for an older device image) and the CUDA driver, which the device machine has.
bundle_is_system_lib() {
  case "$1" in
    linux-vdso.so.* | ld-linux*.so.* | libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | \
      librt.so.* | libutil.so.* | libresolv.so.* | libstdc++.so.* | libgcc_s.so.* | \
      libcuda.so.* | libnvidia-*.so.*) return 0 ;;
  esac
  return 1
}

# A hash of the sources the bundled binaries were compiled from (the list in the bundle's
# sources.txt, made from ninja's dependency log), computed the same way here and on the device
# (whose copy of the tree has no .git), so the runner can say when the bundle is stale. A listed
# file that is gone hashes differently too.
bundle_source_hash() {
  (cd "$1" && xargs -d '\n' sha256sum < "$2" 2>&1 | sha256sum | cut -c1-16)
}
