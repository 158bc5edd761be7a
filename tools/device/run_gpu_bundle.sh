#!/usr/bin/env bash
# Run ON THE DEVICE, from the repository root, with the bundle that build_gpu_bundle.sh made here:
#
#   run(command="bash tools/device/run_gpu_bundle.sh", carry=[".deps/gpu-bundle"], timeout_s=330)
#
# Nothing is built: it runs each gpu test binary (gtest JSON), `flashmem bench pcie`, `flashmem
# bench decode` on a synthetic "small" checkpoint made there, and the parity test under
# compute-sanitizer memcheck, each under `timeout`, inside FM_BUNDLE_BUDGET_S (default 240 s) in
# all. What lands in $OUT (at most 8 files come back, so the gtest reports are merged):
#   summary.txt    one line per step: PASS/FAIL/SKIP/TIMEOUT per test, GB/s, decode TPOT ratios
#   gtest.json     {test binary: its --gtest_output=json report}
#   tests.log      the test binaries' stdout/stderr
#   pcie.json, decode.json   the benches' JSON
#   sanitizer.log  compute-sanitizer's output
#   run.log        nvidia-smi, the manifest's head, the benches' and synth's stderr
# The last lines of stdout are the summary. Exit status: 0 when every step passed or skipped.
# Without a GPU (e.g. run here with OUT=/tmp/gpu_out) every test and bench reports a skip.
# FM_GPU_BUNDLE (bundle dir), FM_PCIE_MIN_TIME (0.1 s), FM_DECODE_CONTEXTS (4096,32768),
# FM_DECODE_STEPS (128), FM_TEST_TIMEOUT_S (120) and FM_GPU_SANITIZE (1) tune it.
set -uo pipefail
root_dir=$(cd "$(dirname "$0")/../.." && pwd)
bundle=${FM_GPU_BUNDLE:-$root_dir/.deps/gpu-bundle}
out=${OUT:-$root_dir/out/gpu-bundle}
budget=${FM_BUNDLE_BUDGET_S:-240}
# shellcheck source=tools/device/bundle_common.sh
. "$root_dir/tools/device/bundle_common.sh"

mkdir -p "$out"
summary=$out/summary.txt
runlog=$out/run.log
: > "$summary"
: > "$runlog"
note() { echo "$*" | tee -a "$summary"; }
started=$(date +%s)
elapsed_s() { echo $(( $(date +%s) - started )); }
# A step's timeout: its own limit, cut to what is left of the budget (at least 5 s).
step_timeout() {
  local left=$(( budget - $(elapsed_s) ))
  [ "$left" -lt 5 ] && left=5
  [ "$1" -lt "$left" ] && echo "$1" || echo "$left"
}
failures=0

if [ ! -f "$bundle/MANIFEST.txt" ]; then
  note "FAIL: no bundle at $bundle: run tools/device/build_gpu_bundle.sh here and carry .deps/gpu-bundle"
  exit 1
fi
bin=$bundle/bin
export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Tests that read files from the source tree find the checkout, which travels with every call.
export FM_SOURCE_DIR=$root_dir FM_BINARY_DIR=$bundle
command -v compute-sanitizer > /dev/null || export PATH=$PATH:/usr/local/cuda/bin

{ echo "== manifest"; sed -n '1,/^files/p' "$bundle/MANIFEST.txt"; } >> "$runlog"
note "bundle: $(grep -m1 '^commit:' "$bundle/MANIFEST.txt") $(grep -m1 '^built:' "$bundle/MANIFEST.txt" | cut -d' ' -f2)"
built_hash=$(grep -m1 '^source_hash:' "$bundle/MANIFEST.txt" | awk '{print $2}')
tree_hash=$(bundle_source_hash "$root_dir" "$bundle/sources.txt")
if [ "$built_hash" != "$tree_hash" ]; then
  note "WARNING: STALE bundle: built from sources $built_hash, this checkout is $tree_hash" \
       "(rebuild with build_gpu_bundle.sh, or use gpu_checks.sh to build on the device)"
fi

{ echo "== nvidia-smi"; nvidia-smi 2>&1; } >> "$runlog"
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total,pcie.link.gen.current,pcie.link.width.current \
      --format=csv,noheader 2>/dev/null | head -1)
note "gpu: ${gpu:-none visible (nvidia-smi missing or failing): gpu steps will skip}"

# The binaries need glibc/libstdc++ no newer than the device's; fall back to the bundled compiler
# runtime when the loader names a missing GLIBCXX/GCC version, and stop clearly on a glibc one.
if ! probe=$("$bin/flashmem" --help 2>&1 > /dev/null); then
  if echo "$probe" | grep -q -E "GLIBCXX_|CXXABI_|GCC_"; then
    export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$bundle/lib/fallback"
    note "libstdc++: the device's is older than the bundle's, using lib/fallback"
    probe=$("$bin/flashmem" --help 2>&1 > /dev/null) || true
  fi
  if ! "$bin/flashmem" --help > /dev/null 2>&1; then
    note "FAIL: the bundled flashmem does not start here ($(grep -m1 '^needs:' "$bundle/MANIFEST.txt")):"
    note "  $(echo "$probe" | head -3)"
    note "  fall back to building on the device: bash tools/device/gpu_checks.sh (carry .deps/gpu)"
    exit 1
  fi
fi

# --- gpu tests: one binary per ctest; SKIP when it printed FM_GPU_SKIPPED (no device).
gtest_dir=$(mktemp -d)
work=$(mktemp -d)
: > "$out/tests.log"
while read -r t; do
  [ -n "$t" ] || continue
  limit=$(step_timeout "${FM_TEST_TIMEOUT_S:-120}")
  t0=$(date +%s)
  (cd "$work" && timeout "$limit" "$bin/$t" --gtest_output="json:$gtest_dir/$t.json") \
    > "$work/$t.log" 2>&1
  rc=$?
  { echo "== $t (rc=$rc)"; cat "$work/$t.log"; } >> "$out/tests.log"
  counts=$(grep -E '^\[ +(PASSED|SKIPPED|FAILED) +\] [0-9]+ tests?' "$work/$t.log" \
           | sed -E 's/^\[ +([A-Z]+) +\] +([0-9]+) test.*/\2 \1/' | tr '\n' ' ' | tr '[:upper:]' '[:lower:]')
  if [ "$rc" = 124 ]; then status=TIMEOUT; failures=$((failures + 1))
  elif [ "$rc" != 0 ]; then status=FAIL; failures=$((failures + 1))
  elif grep -q FM_GPU_SKIPPED "$work/$t.log"; then status=SKIP
  else status=PASS
  fi
  note "$(printf '%-8s %-36s %4ss  %s' "$status" "$t" $(( $(date +%s) - t0 )) "$counts")"
  [ "$status" = FAIL ] && grep -E '^\[  FAILED  \] [A-Za-z]' "$work/$t.log" | head -10 | tee -a "$summary"
done < "$bin/gpu_tests.txt"
python3 - "$gtest_dir" "$out/gtest.json" <<'PY'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
merged = {}
for name in sorted(os.listdir(src)):
    try:
        merged[name[:-len(".json")]] = json.load(open(os.path.join(src, name)))
    except Exception as e:  # a test killed mid-write leaves a partial file: keep the reason
        merged[name[:-len(".json")]] = {"unreadable": str(e)}
json.dump(merged, open(dst, "w"), indent=1)
PY

# --- bench pcie: host<->device copy bandwidth through the copy engine.
limit=$(step_timeout 60)
timeout "$limit" "$bin/flashmem" bench pcie --json --out "$out/pcie.json" \
  --min-time "${FM_PCIE_MIN_TIME:-0.1}" > /dev/null 2> "$work/pcie.err"
rc=$?
{ echo "== bench pcie (rc=$rc)"; cat "$work/pcie.err"; } >> "$runlog"
[ "$rc" = 0 ] || failures=$((failures + 1))
note "bench pcie: rc=$rc ($(elapsed_s)s)"
python3 "$root_dir/tools/device/summarize_bench.py" pcie "$out/pcie.json" | tee -a "$summary"

# --- bench decode: all-resident vs LSA on a synthetic "small" checkpoint (Flash's layer pattern).
model=$work/decode_model
limit=$(step_timeout 60)
timeout "$limit" "$bin/flashmem" synth --preset small --out "$model" > "$work/synth.log" 2>&1
rc=$?
{ echo "== synth --preset small (rc=$rc)"; cat "$work/synth.log"; } >> "$runlog"
if [ "$rc" != 0 ]; then
  failures=$((failures + 1)); note "synth small: FAIL rc=$rc, see run.log"
else
  limit=$(step_timeout 120)
  timeout "$limit" "$bin/flashmem" bench decode --model "$model" \
    --contexts "${FM_DECODE_CONTEXTS:-4096,32768}" --steps "${FM_DECODE_STEPS:-128}" \
    --json --out "$out/decode.json" > /dev/null 2> "$work/decode.err"
  rc=$?
  { echo "== bench decode (rc=$rc)"; cat "$work/decode.err"; } >> "$runlog"
  [ "$rc" = 0 ] || { failures=$((failures + 1)); tail -3 "$work/decode.err" | tee -a "$summary"; }
  note "bench decode: rc=$rc ($(elapsed_s)s)"
  python3 "$root_dir/tools/device/summarize_bench.py" decode "$out/decode.json" | tee -a "$summary"
fi

# --- compute-sanitizer memcheck on the kernels' parity test (out-of-bounds, misaligned accesses).
parity=backend_ops_cuda_parity_test
if [ "${FM_GPU_SANITIZE:-1}" != 1 ]; then
  note "sanitizer: off (FM_GPU_SANITIZE=${FM_GPU_SANITIZE})"
elif [ -z "$gpu" ]; then
  note "sanitizer: SKIP (no GPU)"
elif ! command -v compute-sanitizer > /dev/null; then
  note "sanitizer: SKIP (compute-sanitizer not found)"
elif [ ! -x "$bin/$parity" ]; then
  note "sanitizer: SKIP ($parity not in the bundle)"
elif [ $(( budget - $(elapsed_s) )) -lt 30 ]; then
  note "sanitizer: SKIP (budget spent: $(elapsed_s)s of ${budget}s)"
else
  limit=$(step_timeout 150)
  (cd "$work" && timeout "$limit" compute-sanitizer --tool memcheck --error-exitcode 3 "$bin/$parity") \
    > "$out/sanitizer.log" 2>&1
  rc=$?
  # KINDS.md: on the gVisor runtime compute-sanitizer refuses the device; that is no kernel bug.
  if grep -q "Device not supported" "$out/sanitizer.log"; then
    note "sanitizer: SKIP (compute-sanitizer: Device not supported on this machine's runtime)"
  elif [ "$rc" != 0 ]; then
    failures=$((failures + 1))
  fi
  note "sanitizer memcheck ($parity): rc=$rc$([ "$rc" = 124 ] && echo ' TIMEOUT') ($(elapsed_s)s)"
  grep -m 5 -E "ERROR SUMMARY|Invalid|Device not supported" "$out/sanitizer.log" | sed 's/^/  /' | tee -a "$summary"
fi

rm -rf "$gtest_dir" "$work"
note "done in $(elapsed_s)s: $failures failing step(s)"
exit $(( failures != 0 ))
