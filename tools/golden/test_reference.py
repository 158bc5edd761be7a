"""Self-checks of the golden tooling (plain script with asserts; no pytest on this machine).

    python3 tools/golden/test_reference.py [--data tests/golden/data]

Checks the codecs and the container, the Sinkhorn projection, RoPE/YaRN, the compressor against a
slow per-chunk restatement, causality of the reference (prefix prefill == rows of the full
prefill, main model and MTP), and that the checked-in fixtures match what the code produces.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402
import v4_reference as ref_mod  # noqa: E402
from make_golden import base_config, fp8_config, init_weights, to_stored  # noqa: E402
from v4_reference import Config, Reference, load_weights  # noqa: E402

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


@check
def e4m3_codes_round_trip_and_known_values():
    codes = np.array([c for c in range(256) if (c & 0x7F) != 0x7F], dtype=np.uint8)
    vals = st.e4m3_decode(codes)
    back = st.e4m3_encode(vals)
    zero_neg = codes == 0x80  # -0 encodes to +0
    assert np.array_equal(back[~zero_neg], codes[~zero_neg])
    assert st.e4m3_decode(np.uint8(0x7E)) == 448.0
    assert st.e4m3_decode(np.uint8(0x01)) == 2.0 ** -9
    assert st.e4m3_decode(np.uint8(0x38)) == 1.0
    assert np.isnan(st.e4m3_decode(np.uint8(0xFF)))
    assert st.e4m3_encode(1000.0) == 0x7E and st.e4m3_encode(-1000.0) == 0xFE
    # 1.0625 lies halfway between 1.0 (code 0x38) and 1.125 (0x39): ties go to the even code.
    assert st.e4m3_encode(1.0625) == 0x38


@check
def e2m1_and_fp4_packing_follow_the_release_layout():
    for c in range(16):
        if c != 8:
            assert st.e2m1_encode(st.e2m1_decode(c)) == c
    assert list(st.e2m1_decode(np.arange(8))) == [0, 0.5, 1, 1.5, 2, 3, 4, 6]
    packed = st.fp4_pack(np.array([[1, 2, 3, 4]], dtype=np.uint8))
    assert packed.tolist() == [[0x21, 0x43]]  # low nibble = even element
    assert np.array_equal(st.fp4_unpack(packed), [[1, 2, 3, 4]])
    w = np.random.default_rng(1).normal(size=(8, 64))
    p, s = st.quantize_mxfp4(w)
    deq = st.dequantize_mxfp4(p, s)
    assert p.shape == (8, 32) and s.shape == (8, 2)
    scale = st.e8m0_decode(s)
    blocks_max = np.abs(w).reshape(8, 2, 32).max(-1)
    assert np.all((blocks_max <= 6 * scale) & (blocks_max > 3 * scale))  # smallest pow2 fitting
    # the widest e2m1 step is 2 (between 4 and 6): rounding error is at most half of it
    assert np.all(np.abs(deq - w).reshape(8, 2, 32).max(-1) <= scale + 1e-12)


@check
def fp8_block_quantisation_uses_ceil_div_blocks_and_pow2_scales():
    w = np.random.default_rng(2).normal(size=(192, 32))
    codes, scale = st.quantize_fp8_block(w)
    assert scale.shape == (2, 1)
    deq = st.dequantize_fp8_block(codes, scale)
    assert np.max(np.abs(deq - w) / (np.abs(w) + 1e-3)) < 0.07
    assert np.all(np.abs(deq) <= 448 * st.e8m0_decode(scale).max())


@check
def bf16_rounds_to_nearest_even():
    assert st.bf16_round(np.float32(1.0 + 2 ** -8))[()] == 1.0  # halfway, even stays
    assert st.bf16_round(np.float32(1.0 + 3 * 2 ** -8))[()] == 1.0 + 2 ** -6
    x = np.random.default_rng(3).normal(size=1000).astype(np.float32)
    assert np.max(np.abs(st.bf16_round(x) - x) / np.abs(x)) <= 2 ** -8


@check
def safetensors_round_trip_keeps_every_dtype():
    rng = np.random.default_rng(4)
    tensors = {"a": st.tensor_f32(rng.normal(size=(3, 5))), "b": st.tensor_bf16(rng.normal(size=7)),
               "c": st.tensor_u8("F8_E4M3", np.arange(6, dtype=np.uint8).reshape(2, 3)),
               "c_s": st.tensor_u8("F8_E8M0", np.array([[127]], dtype=np.uint8)),
               "d": st.tensor_u8("I8", np.array([255, 0, 17], dtype=np.uint8)),
               "e": st.tensor_i64(np.array([[1, -2], [3, 4]]))}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "x.safetensors")
        st.write_safetensors(path, tensors, metadata={"k": "v"})
        with open(path, "rb") as f:
            raw = f.read()
        n = int.from_bytes(raw[:8], "little")
        assert n % 8 == 0 and json.loads(raw[8:8 + n])["__metadata__"] == {"k": "v"}
        back = st.read_safetensors(path)
    for name, t in tensors.items():
        assert back[name].dtype == t.dtype and back[name].shape == t.shape and back[name].data == t.data
    assert back["d"].raw().tolist() == [255, 0, 17]


@check
def sinkhorn_comb_is_doubly_stochastic():
    rng = np.random.default_rng(5)
    hc = 4
    # Moderate logits: with 20 iterations the rows converge to ~1e-6 (for logits of std 2 they are
    # still off by ~3e-3 after 20 iterations, which is model.py's behaviour, not a bug).
    mixes = rng.normal(0, 1, (16, (2 + hc) * hc))
    pre, post, comb = ref_mod.sinkhorn_split(mixes, np.array([1.0, 1.0, 1.0]), rng.normal(0, 1, 24), hc, 20, 1e-6)
    assert np.max(np.abs(comb.sum(axis=-2) - 1)) < 1e-5, "columns"
    assert np.max(np.abs(comb.sum(axis=-1) - 1)) < 1e-4, "rows"
    assert np.all(comb > 0) and np.all((pre > 0) & (pre < 1 + 1e-5)) and np.all((post > 0) & (post < 2))


@check
def rope_inverse_is_identity_and_scores_depend_on_offset_only():
    rng = np.random.default_rng(6)
    cfg = Config(base_config())
    freqs = ref_mod.rope_freqs(16, 160000.0, 32, 4.0, 32, 1)
    x = rng.normal(size=(50, 3, 48))
    pos = np.arange(50) * 7
    y = ref_mod.rope_last(x, pos, freqs, 16)
    assert np.array_equal(y[..., :32], x[..., :32])
    assert np.allclose(ref_mod.rope_last(y, pos, freqs, 16, inverse=True), x, atol=1e-12)
    q, k = rng.normal(size=16), rng.normal(size=16)
    def dot(m, n):
        return ref_mod.apply_rope(q[None], [m], freqs) @ ref_mod.apply_rope(k[None], [n], freqs).T
    assert np.allclose(dot(10, 3), dot(40, 33))
    # YaRN with this config: correction range [0, 2] over 8 pairs -> pair 0 keeps its frequency,
    # pair 1 is half-interpolated, pairs >= 2 are divided by the factor.
    plain = ref_mod.rope_freqs(16, 160000.0, 0, 4.0, 32, 1)
    assert freqs[0] == plain[0]
    assert np.isclose(freqs[1], plain[1] * (0.5 / 4 + 0.5))
    assert np.allclose(freqs[2:], plain[2:] / 4)
    assert cfg.yarn_orig == 32


@check
def hadamard_is_orthonormal_after_scaling():
    h = ref_mod.hadamard(32, np.float64) * 32 ** -0.5
    assert np.allclose(h @ h.T, np.eye(32))


def tiny_reference(quantized, seed=11):
    cfg = fp8_config() if quantized else base_config()
    floats = init_weights(cfg, np.random.default_rng(seed))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.safetensors")
        st.write_safetensors(path, to_stored(floats, quantized))
        weights = load_weights(path)
    return Reference(Config(cfg), weights)


@check
def compressor_matches_a_per_chunk_restatement():
    ref = tiny_reference(False)
    c = ref.cfg
    rng = np.random.default_rng(7)
    x = rng.normal(size=(23, c.dim))
    for prefix, ratio, hd, rotate in (("layers.1.attn.compressor.", 4, c.head_dim, False),
                                      ("layers.1.attn.indexer.compressor.", 4, c.index_dim, True),
                                      ("layers.2.attn.compressor.", 16, c.head_dim, False)):
        got = ref.compress(prefix, x, ratio, hd, ref.freqs_yarn, rotate)
        assert got.shape == (23 // ratio, hd)
        wkv, wg, ape = (ref.w[prefix + n] for n in ("wkv.weight", "wgate.weight", "ape"))
        for j in range(23 // ratio):
            vals, scores = [], []
            for i in range(ratio):  # current chunk, second half when overlapping
                tok = x[j * ratio + i]
                lo = hd if ratio == 4 else 0
                vals.append((wkv @ tok)[lo:lo + hd])
                scores.append((wg @ tok)[lo:lo + hd] + ape[i, lo:lo + hd])
            if ratio == 4 and j > 0:  # previous chunk, first half
                for i in range(ratio):
                    tok = x[(j - 1) * ratio + i]
                    vals.append((wkv @ tok)[:hd])
                    scores.append((wg @ tok)[:hd] + ape[i, :hd])
            vals, scores = np.array(vals), np.array(scores)
            p = np.exp(scores - scores.max(0))
            pooled = (vals * p / p.sum(0)).sum(0)
            pooled = pooled / np.sqrt(np.mean(pooled ** 2) + c.eps) * ref.w[prefix + "norm.weight"]
            pooled = ref_mod.rope_last(pooled[None], [j * ratio], ref.freqs_yarn, c.rope_dim)[0]
            if rotate:
                pooled = pooled @ ref_mod.hadamard(hd, np.float64) / np.sqrt(hd)
            assert np.allclose(got[j], pooled, atol=1e-12), (prefix, j)


@check
def prefix_prefill_reproduces_every_row_of_the_full_prefill():
    for quantized in (False, True):
        ref = tiny_reference(quantized)
        tokens = np.random.default_rng(8).integers(0, ref.cfg.vocab, 80)
        full, streams = ref.forward(tokens)
        mtp_full = ref.mtp_forward(streams[:-1], tokens[1:])
        worst = worst_mtp = 0.0
        for t in range(1, len(tokens) + 1):
            part, part_streams = ref.forward(tokens[:t])
            worst = max(worst, np.max(np.abs(part[-1] - full[t - 1])))
            if t >= 2:
                m = ref.mtp_forward(part_streams[:-1], tokens[1:t])
                worst_mtp = max(worst_mtp, np.max(np.abs(m[-1] - mtp_full[t - 2])))
        assert worst < 1e-9 and worst_mtp < 1e-9, (quantized, worst, worst_mtp)


@check
def indexer_picks_only_causal_entries_and_topk_of_them():
    ref = tiny_reference(False)
    c = ref.cfg
    x = np.random.default_rng(9).normal(size=(40, c.dim))
    qr = np.random.default_rng(10).normal(size=(40, c.q_lora))
    sel = ref.indexer_select("layers.1.attn.", 1, x, qr, ref.freqs_yarn)
    for row, ids in enumerate(sel):
        valid = (row + 1) // 4
        assert len(ids) == min(valid, c.index_topk) and np.all(ids < valid), (row, ids)


def fixtures_match_the_code(data_dir):
    for case in ("tiny_bf16", "tiny_fp8"):
        d = os.path.join(data_dir, case)
        cfg, weights = ref_mod.load_checkpoint(d)
        with open(os.path.join(d, "tokens.json")) as f:
            tokens = json.load(f)
        ref = Reference(cfg, weights)
        logits, streams = ref.forward(tokens)
        mtp = ref.mtp_forward(streams[:-1], tokens[1:])
        # float64 results may differ in the last bits between BLAS builds, hence not array_equal.
        for fname, want in (("logits.npy", logits), ("mtp_logits.npy", mtp)):
            got = np.load(os.path.join(d, fname)).astype(np.float64)
            err = np.max(np.abs(got - want)) / np.max(np.abs(want))
            assert got.shape == want.shape and err < 1e-6, (case, fname, err)
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print(f"  {case}: fixtures reproduce to float32 rounding ({size} bytes in {d})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   "..", "..", "tests", "golden", "data"))
    args = ap.parse_args()
    for fn in CHECKS:
        fn()
        print(f"ok {fn.__name__}")
    if os.path.isdir(args.data):
        fixtures_match_the_code(args.data)
        print("ok fixtures_match_the_code")
    print(f"all {len(CHECKS) + os.path.isdir(args.data)} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
