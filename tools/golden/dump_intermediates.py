"""Dumps the reference's intermediates for one golden case, to localise a logits mismatch.

    python3 tools/golden/dump_intermediates.py tests/golden/data/tiny_bf16 /tmp/tiny_bf16_dump.npz

The .npz holds float32 arrays named `<module prefix><what>`, e.g. `layers.1.attn.q` [T, H, D]
(after per-head norm and RoPE), `layers.1.attn.kv` [T, D], `layers.1.attn.compressed_kv`
[T // ratio, D], `layers.1.attn.indexer.selected` [T, k] (-1 = none), `layers.1.attn.attn_out_heads`
[T, H, D] (after inverse RoPE), `layers.1.attn_out` / `ffn_out` [T, d], `layers.1.ffn.experts` [T, k],
`layers.1.streams_out` [T, hc, d], then `logits` and `mtp_logits`. Not checked in: the fixtures
stay small, and the implementation under test is meant to be written without looking at these.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from v4_reference import Reference, load_checkpoint  # noqa: E402


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    case_dir, out_path = sys.argv[1], sys.argv[2]
    cfg, weights = load_checkpoint(case_dir)
    with open(os.path.join(case_dir, "tokens.json")) as f:
        tokens = json.load(f)
    ref = Reference(cfg, weights)
    ref.dump = {}
    logits, streams = ref.forward(tokens)
    ref.dump["logits"] = logits
    ref.dump["mtp_logits"] = ref.mtp_forward(streams[:-1], tokens[1:])
    arrays = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in ref.dump.items()}
    np.savez(out_path, **arrays)
    print(f"wrote {len(arrays)} arrays to {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
