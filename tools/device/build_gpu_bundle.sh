#!/usr/bin/env bash
# Run HERE (no GPU needed): builds everything the device check runs (the gpu-labelled test binaries
# and `flashmem` with CUDA, sm_90, Release) and assembles .deps/gpu-bundle/ (ignored by git through
# /.deps/), so that the device call only runs binaries instead of configuring and building there:
# the device lease is ~15 minutes in all, and a CUDA build on it spends several of them.
#
#   here:   bash tools/device/build_gpu_bundle.sh
#   device: run(command="bash tools/device/run_gpu_bundle.sh", carry=[".deps/gpu-bundle"], timeout_s=330)
#
# Bundle layout:
#   bin/            stripped flashmem and gpu test binaries; bin/gpu_tests.txt lists the tests
#   lib/            every shared library they need that is not glibc, libstdc++/libgcc or the
#                   CUDA driver (the Debian absl and benchmark libraries; the CUDA runtime is
#                   linked statically, CUDA::cudart_static)
#   lib/fallback/   this machine's libstdc++/libgcc_s, used by the runner only if the device's
#                   are older than what the binaries were linked against
#   sources.txt     the project files the binaries were compiled from (staleness check)
#   MANIFEST.txt    sizes, checksums, commit, the source hash that the runner compares to detect a
#                   stale bundle, and the glibc/GLIBCXX versions and GPU code the binaries carry
# Tests that read files find them through FM_SOURCE_DIR, which the runner points at the checkout
# (it travels with every call), so the bundle holds no test data.
#
# FM_BUNDLE_BUILD_DIR (default build-gpubundle), FM_BUNDLE_JOBS (default 2), FM_GPU_BUNDLE (default
# .deps/gpu-bundle) and FM_BUNDLE_MAX_MIB (default 48) tune it.
set -euo pipefail
root_dir=$(cd "$(dirname "$0")/../.." && pwd)
build=${FM_BUNDLE_BUILD_DIR:-$root_dir/build-gpubundle}
bundle=${FM_GPU_BUNDLE:-$root_dir/.deps/gpu-bundle}
max_mib=${FM_BUNDLE_MAX_MIB:-48}
# shellcheck source=tools/device/bundle_common.sh
. "$root_dir/tools/device/bundle_common.sh"

command -v nvcc > /dev/null || export PATH=/usr/local/cuda/bin:$PATH
command -v nvcc > /dev/null || { echo "build_gpu_bundle: nvcc not found (PATH, /usr/local/cuda/bin)" >&2; exit 1; }

launcher=()
if command -v ccache > /dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
echo "configure $build"
mkdir -p "$build"
cmake -S "$root_dir" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLASHMEM_CUDA=ON \
  -DFLASHMEM_UI=OFF -DFLASHMEM_BENCH=ON -DFLASHMEM_TESTS=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  "${launcher[@]}" > "$build/configure.log" 2>&1 \
  || { tail -30 "$build/configure.log"; echo "build_gpu_bundle: configure failed" >&2; exit 1; }

# The gpu-labelled tests, one binary per ctest (fm_add_test), plus the CLI.
mapfile -t tests < <(ctest --test-dir "$build" -L gpu -N | awk '/Test +#/ {print $3}')
[ "${#tests[@]}" -gt 0 ] || { echo "build_gpu_bundle: no gpu-labelled tests configured" >&2; exit 1; }
echo "build flashmem and ${#tests[@]} gpu tests: ${tests[*]}"
cmake --build "$build" -j "${FM_BUNDLE_JOBS:-2}" --target flashmem "${tests[@]}"

# A gpu test that needs data outside the source tree would show up here as a non-gpu dependency;
# today they build their inputs in memory or under a temp dir, and FM_SOURCE_DIR covers the rest.
stage=$bundle.new
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/lib/fallback"
binaries=("$build/tools/flashmem")
for t in "${tests[@]}"; do
  exe=$(find "$build" -name "$t" -type f -perm -u+x | head -1)
  [ -n "$exe" ] || { echo "build_gpu_bundle: binary for test $t not found in $build" >&2; exit 1; }
  binaries+=("$exe")
done
for exe in "${binaries[@]}"; do
  strip --strip-unneeded -o "$stage/bin/$(basename "$exe")" "$exe"
done
printf '%s\n' "${tests[@]}" > "$stage/bin/gpu_tests.txt"
# Every project file the objects were compiled from (ninja's deps log: sources and headers), plus
# the build's CMake files, for the runner's staleness check.
{
  (cd "$build" && ninja -t deps | awk '/^ +[^ ]/ {print $1}' | grep -v '^/usr/' | sort -u \
     | xargs -d '\n' realpath -m --relative-to="$root_dir")
  (cd "$root_dir" && ls CMakeLists.txt cmake/*.cmake)
} | grep -v -E '^\.\./|^build' | LC_ALL=C sort -u > "$stage/sources.txt"

# Shared libraries: everything ldd resolves except the system's own (bundle_is_system_lib).
declare -A copied=()
for exe in "${binaries[@]}"; do
  while read -r name path; do
    [ -n "${copied[$name]:-}" ] && continue
    if [ "$path" = "not found" ]; then
      [ "$name" = libcuda.so.1 ] && continue
      echo "build_gpu_bundle: $exe needs $name, which ldd cannot find here" >&2; exit 1
    fi
    bundle_is_system_lib "$name" && continue
    strip --strip-unneeded -o "$stage/lib/$name" "$(readlink -f "$path")"
    copied[$name]=1
  done < <(ldd "$exe" | awk '$2 == "=>" {print $1, ($3 == "not" ? "not found" : $3)}')
done
# libstdc++/libgcc_s only as a fallback: the device image's are normally newer and must win.
for name in libstdc++.so.6 libgcc_s.so.1; do
  path=$(ldd "$build/tools/flashmem" | awk -v n="$name" '$1 == n {print $3}')
  [ -n "$path" ] && strip --strip-unneeded -o "$stage/lib/fallback/$name" "$(readlink -f "$path")"
done

# Manifest: what is in the bundle and what the binaries require of the device.
{
  echo "flashmem gpu bundle"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m), $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "commit: $(git -C "$root_dir" describe --always --dirty 2>/dev/null || echo unknown)"
  echo "source_hash: $(bundle_source_hash "$root_dir" "$stage/sources.txt") ($(wc -l < "$stage/sources.txt") files in sources.txt)"
  echo "nvcc: $(nvcc --version | tail -1)"
  echo "cuda_arch: $(grep -m1 '^CMAKE_CUDA_ARCHITECTURES' "$build/CMakeCache.txt" | cut -d= -f2) (cmake cache)"
  glibc=$(for f in "$stage"/bin/* "$stage"/lib/*.so*; do objdump -T "$f" 2>/dev/null; done \
          | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
  glibcxx=$(for f in "$stage"/bin/* "$stage"/lib/*.so*; do objdump -T "$f" 2>/dev/null; done \
          | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1)
  echo "needs: $glibc $glibcxx"
  echo "nvcc_gencode: $(grep -o -- '--generate-code=[^ ]*' "$build/build.ninja" | sort -u | tr '\n' ' ')"
  echo "tests: ${tests[*]}"
  echo "files (bytes, sha256/12, path):"
  (cd "$stage" && find . -type f ! -name MANIFEST.txt | LC_ALL=C sort | while read -r f; do
     printf '%10d  %s  %s\n' "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -c1-12)" "${f#./}"
   done)
} > "$stage/MANIFEST.txt"
total=$(du -sb "$stage" | cut -f1)
echo "total_bytes: $total" >> "$stage/MANIFEST.txt"

rm -rf "$bundle"
mv "$stage" "$bundle"
cat "$bundle/MANIFEST.txt"
mib=$(( (total + 1048575) / 1048576 ))
echo "bundle: $bundle  $mib MiB ($total bytes)"
if [ "$mib" -gt "$max_mib" ]; then
  echo "build_gpu_bundle: bundle is $mib MiB, over the $max_mib MiB budget (the device tool carries 64 MiB in all)" >&2
  exit 1
fi
echo "device call: run(command=\"bash tools/device/run_gpu_bundle.sh\", carry=[\".deps/gpu-bundle\"], timeout_s=330)"
