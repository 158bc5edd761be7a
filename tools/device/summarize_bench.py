#!/usr/bin/env python3
"""One-line-per-result summary of `flashmem bench pcie|decode --json` output, for the device
scripts (gpu_checks.sh, run_gpu_bundle.sh). Never fails: an unreadable file is reported as such.

usage: summarize_bench.py pcie|decode FILE.json
"""
import json
import sys


def main() -> None:
    suite, path = sys.argv[1], sys.argv[2]
    try:
        doc = json.load(open(path))
    except Exception as e:  # a missing or truncated file is a finding, not a crash
        print(f"  {suite}.json unreadable: {e}")
        return
    if doc.get("skipped"):
        print(f"  {suite} SKIP:", doc.get("skip_reason"))
        return
    if suite == "pcie":
        for r in doc.get("results", []):
            gbps = r.get("counters", {}).get("bytes_per_second", 0) / 1e9
            ratio = r.get("ratio_to_baseline", float("nan"))
            print(f'  {r["name"]:<44} {gbps:7.2f} GB/s  ratio {ratio:.3f}')
    else:
        for r in doc.get("results", []):
            print(f'  {r["mode"]:<13} ctx {r["context"]:>7}: tpot {r["tpot_ms"]:.3f} ms'
                  f'  p99/p50 {r["p99_over_p50"]:.3f}  stall {r["stall_fraction"]:.4f}'
                  f'  syncs/step {r["syncs_per_step"]:.3f}')
        for q in doc.get("ratios", []):
            print(f'  ctx {q["context"]:>7}: TPOT lsa/all-resident {q["tpot_lsa_over_all_resident"]:.3f}')


if __name__ == "__main__":
    main()
