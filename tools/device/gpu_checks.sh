#!/usr/bin/env bash
# One device call: build flashmem's CUDA targets on the GPU machine, run every gpu-labelled test,
# `flashmem bench pcie` and `flashmem bench decode`, and leave the logs and JSON in $OUT (at most
# 8 files; the last lines of stdout are a short summary). Before the first call, run
# tools/device/fetch_gpu_deps.sh here.
#
#   device tool: run(command="bash tools/device/gpu_checks.sh", carry=[".deps/gpu"], timeout_s=560)
#
# Debian dependencies (absl, gtest, benchmark, nlohmann-json, CLI11) come from .deps/gpu/root,
# found through CMAKE_PREFIX_PATH and LD_LIBRARY_PATH; a machine that has them installed needs no
# tree. FM_GPU_BUILD_DIR (default build-gpu), FM_GPU_BUILD_JOBS (default: all cores) and
# FM_PCIE_MIN_TIME (default 0.1 s) tune the run. Without a GPU every check reports a skip.
set -uo pipefail
root_dir=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root_dir/out/gpu}
deps=${FM_GPU_DEPS:-$root_dir/.deps/gpu}/root
build=${FM_GPU_BUILD_DIR:-$root_dir/build-gpu}
mkdir -p "$out"
summary=$out/summary.txt
: > "$summary"
note() { echo "$*" | tee -a "$summary"; }
started=$(date +%s)
elapsed() { echo $(( $(date +%s) - started ))s; }

command -v nvcc > /dev/null || export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem,pcie.link.gen.current,pcie.link.width.current \
  --format=csv > "$out/gpu.txt" 2>&1 || true
note "gpu: $(tail -1 "$out/gpu.txt")"
note "nvcc: $(nvcc --version 2>/dev/null | tail -1)  cmake: $(cmake --version | head -1)"

if [ -d "$deps/usr" ]; then
  export CMAKE_PREFIX_PATH="$deps/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  note "deps: $deps"
else
  note "deps: no $deps tree, using the system's packages"
fi

if ! cmake -S "$root_dir" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLASHMEM_CUDA=ON \
    -DFLASHMEM_UI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 > "$out/build.log" 2>&1; then
  note "FAIL configure ($(elapsed)), see build.log"; tail -30 "$out/build.log"; exit 1
fi
# Only what the checks need: the gpu-labelled test binaries (one target per test) and flashmem.
targets=$(ctest --test-dir "$build" -L gpu -N | awk '/Test +#/ {print $3}')
if ! cmake --build "$build" -j "${FM_GPU_BUILD_JOBS:-$(nproc)}" --target flashmem $targets \
    >> "$out/build.log" 2>&1; then
  note "FAIL build ($(elapsed)), see build.log"; grep -m 20 -B2 -A8 "error" "$out/build.log"; exit 1
fi
note "built flashmem and $(echo $targets | wc -w) gpu test binaries ($(elapsed))"

ctest --test-dir "$build" -L gpu --output-on-failure --timeout 240 > "$out/ctest_gpu.log" 2>&1
ctest_rc=$?
note "ctest -L gpu: rc=$ctest_rc: $(grep -E 'tests passed|tests failed' "$out/ctest_gpu.log" | tail -1) ($(elapsed))"
grep -E "\*\*\*(Failed|Skipped|Timeout)|Exception" "$out/ctest_gpu.log" | tee -a "$summary"

"$build/tools/flashmem" bench pcie --json --out "$out/pcie.json" --min-time "${FM_PCIE_MIN_TIME:-0.1}" \
  > /dev/null 2> "$out/pcie.txt"
bench_rc=$?
note "bench pcie: rc=$bench_rc ($(elapsed))"
python3 "$root_dir/tools/device/summarize_bench.py" pcie "$out/pcie.json" | tee -a "$summary"
# The GPU decode step (all-resident vs LSA) on a synthetic "small" checkpoint (Flash's layer
# pattern); its log stays in the build dir (at most 8 files come back) and its tail goes to the
# summary when it fails. FM_DECODE_CONTEXTS / FM_DECODE_STEPS tune it.
"$build/tools/flashmem" synth --preset small --out "$build/decode_model" > "$build/decode.txt" 2>&1
"$build/tools/flashmem" bench decode --model "$build/decode_model" \
  --contexts "${FM_DECODE_CONTEXTS:-4096,32768}" --steps "${FM_DECODE_STEPS:-256}" \
  --json --out "$out/decode.json" > /dev/null 2>> "$build/decode.txt"
decode_rc=$?
note "bench decode: rc=$decode_rc ($(elapsed))"
[ "$decode_rc" = 0 ] || tail -5 "$build/decode.txt" | tee -a "$summary"
python3 "$root_dir/tools/device/summarize_bench.py" decode "$out/decode.json" | tee -a "$summary"

# The kernels once more under compute-sanitizer memcheck (out-of-bounds and misaligned accesses);
# FM_GPU_SANITIZE=0 leaves it out.
if [ "${FM_GPU_SANITIZE:-1}" = 1 ] && command -v compute-sanitizer > /dev/null; then
  timeout 180 compute-sanitizer --tool memcheck --error-exitcode 3 \
    "$build/tests/backend_ops_cuda_parity_test" > "$out/sanitizer.log" 2>&1
  note "compute-sanitizer memcheck (parity test): rc=$? ($(elapsed))"
  # The decode step's own kernels (gather through the LUT, routed experts), one short case.
  timeout 180 compute-sanitizer --tool memcheck --error-exitcode 3 \
    "$build/tests/backend_ops_gpu_decode_test" --gtest_filter='*FullMode*KvFp8_fp8_Routed' \
    >> "$out/sanitizer.log" 2>&1
  note "compute-sanitizer memcheck (gpu decode, full mode fp8): rc=$? ($(elapsed))"
fi

exit $(( ctest_rc != 0 || bench_rc != 0 || decode_rc != 0 ))
