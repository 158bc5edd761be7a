#!/usr/bin/env bash
# Run HERE (a Debian 12 machine with apt), once, before the first device call: unpacks the Debian
# packages flashmem builds against into .deps/gpu/root (ignored by git through /.deps/), because
# the GPU machine has cmake, ninja, g++ and nvcc but no apt and no network. gpu_checks.sh finds the
# tree through CMAKE_PREFIX_PATH (headers, static gtest, CMake package configs) and
# LD_LIBRARY_PATH (the shared absl and benchmark libraries). About 12 MB, well inside the 64 MiB
# the device tool carries. Uses apt's cache when the .deb is there, `apt-get download` otherwise.
set -euo pipefail
root_dir=$(cd "$(dirname "$0")/../.." && pwd)
dest=${FM_GPU_DEPS:-$root_dir/.deps/gpu}
packages=(
  libabsl-dev libabsl20220623          # absl 20220623 headers + shared libraries
  libgtest-dev libgmock-dev            # static gtest/gmock + GTestConfig.cmake
  libbenchmark-dev libbenchmark1debian # Google Benchmark (shared)
  nlohmann-json3-dev libcli11-dev      # header-only
)
rm -rf "$dest/debs" "$dest/root"
mkdir -p "$dest/debs" "$dest/root"
cd "$dest/debs"
for p in "${packages[@]}"; do
  cached=$(ls /var/cache/apt/archives/"${p}"_*.deb 2>/dev/null | head -1 || true)
  if [ -n "$cached" ]; then cp "$cached" .; else apt-get download "$p"; fi
done
for f in *.deb; do dpkg -x "$f" "$dest/root"; done
rm -rf "$dest/debs" "$dest/root/usr/share/doc" "$dest/root/usr/share/man"
du -sh "$dest/root"
echo "carry: .deps/gpu   (device tool: carry=[\".deps/gpu\"])"
