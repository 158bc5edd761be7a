"""Independent numpy reference of the DeepSeek-V4 forward pass (one sequence, causal prefill).

Follows the math of DeepSeek's official `inference/model.py` (+ `kernel.py`), restated in numpy:
  embed -> copy to hc_mult streams -> blocks [hc_pre, attn_norm, Attention, hc_post,
  hc_pre, ffn_norm, MoE, hc_post] -> hc_head -> norm -> head; plus the MTP block.

Deliberately NOT emulated (this is the "exact math, fp32 KV" golden): the FP8/FP4 activation
quantisation that model.py does inside its GEMMs (act_quant before fp8_gemm/fp4_gemm), the FP8
QAT simulation of the stored KV no-RoPE dims (act_quant block 64, ue8m0), the FP4 simulation of the
indexer q and index keys (fp4_act_quant block 32), and the bf16 casts of activations. Weights are
dequantised to float exactly; all arithmetic is done in `dtype` (float64 by default).
"""
import json
import math
import os

import numpy as np

from safetensors_io import read_safetensors, dequantize_fp8_block, dequantize_mxfp4


# --------------------------------------------------------------------------------------------
# config and weights
# --------------------------------------------------------------------------------------------
class Config:
    """The release config.json keys the forward pass needs (CHECKPOINT_FORMAT.md section 2)."""

    def __init__(self, cfg):
        self.raw = cfg
        g = cfg.__getitem__
        self.vocab = g("vocab_size")
        self.dim = g("hidden_size")
        self.n_layers = g("num_hidden_layers")
        self.n_mtp = cfg.get("num_nextn_predict_layers", 0)
        self.n_heads = g("num_attention_heads")
        self.head_dim = g("head_dim")
        self.rope_dim = g("qk_rope_head_dim")
        self.q_lora = g("q_lora_rank")
        self.o_groups = g("o_groups")
        self.o_lora = g("o_lora_rank")
        self.window = g("sliding_window")
        self.ratios = list(g("compress_ratios"))
        if len(self.ratios) < self.n_layers + self.n_mtp:
            raise ValueError("compress_ratios shorter than num_hidden_layers + num_nextn_predict_layers")
        self.index_heads = g("index_n_heads")
        self.index_dim = g("index_head_dim")
        self.index_topk = g("index_topk")
        self.rope_theta = float(g("rope_theta"))
        self.compress_rope_theta = float(g("compress_rope_theta"))
        rs = cfg.get("rope_scaling") or {}
        self.yarn_factor = float(rs.get("factor", 1.0))
        self.yarn_orig = int(rs.get("original_max_position_embeddings", 0))
        self.beta_fast = float(rs.get("beta_fast", 32))
        self.beta_slow = float(rs.get("beta_slow", 1))
        self.n_experts = g("n_routed_experts")
        self.topk = g("num_experts_per_tok")
        if g("n_shared_experts") != 1:
            raise ValueError("model.py supports exactly one shared expert")
        self.inter = g("moe_intermediate_size")
        self.n_hash = cfg.get("num_hash_layers", 0)
        self.score_func = g("scoring_func")
        self.route_scale = float(g("routed_scaling_factor"))
        self.swiglu_limit = float(cfg.get("swiglu_limit", 0.0))
        self.hc = g("hc_mult")
        self.sinkhorn_iters = g("hc_sinkhorn_iters")
        self.hc_eps = float(g("hc_eps"))
        self.eps = float(g("rms_norm_eps"))


def load_weights(path):
    """safetensors file -> {name: float64 array}; `.scale` partners are folded into their weight."""
    stored = read_safetensors(path)
    out = {}
    for name, t in stored.items():
        if name.endswith(".scale") and name[:-6] + ".weight" in stored:
            continue
        scale = stored.get(name[:-7] + ".scale") if name.endswith(".weight") else None
        if scale is None:
            out[name] = t.to_float()
        elif t.dtype == "F8_E4M3":
            out[name] = dequantize_fp8_block(t.raw(), scale.raw())
        elif t.dtype == "I8":
            out[name] = dequantize_mxfp4(t.raw(), scale.raw())
        else:
            raise ValueError(f"{name}: quantised weight of unexpected dtype {t.dtype}")
    return out


def load_checkpoint(directory):
    with open(os.path.join(directory, "config.json")) as f:
        cfg = Config(json.load(f))
    return cfg, load_weights(os.path.join(directory, "model.safetensors"))


# --------------------------------------------------------------------------------------------
# elementwise pieces
# --------------------------------------------------------------------------------------------
def rms_norm(x, weight, eps):
    """RMSNorm over the last axis; weight None = weight-free."""
    y = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return y if weight is None else y * weight


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def silu(x):
    return x * sigmoid(x)


def softplus(x):
    return np.logaddexp(0.0, x)


def softmax(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def hadamard(n, dtype):
    """Sylvester Walsh-Hadamard matrix of order n (power of two), unnormalised."""
    h = np.ones((1, 1), dtype=dtype)
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    if h.shape[0] != n:
        raise ValueError(f"Hadamard size {n} is not a power of two")
    return h


# --------------------------------------------------------------------------------------------
# RoPE (interleaved pairs on the last rope_dim dims; YaRN as model.py's precompute_freqs_cis)
# --------------------------------------------------------------------------------------------
def rope_freqs(rope_dim, base, orig_len, factor, beta_fast, beta_slow):
    """Per-pair angular frequencies; YaRN ramp applied when orig_len > 0."""
    freqs = 1.0 / (base ** (np.arange(0, rope_dim, 2, dtype=np.float64) / rope_dim))
    if orig_len > 0:
        def corr_dim(n_rot):
            return rope_dim * math.log(orig_len / (n_rot * 2 * math.pi)) / (2 * math.log(base))
        low = max(math.floor(corr_dim(beta_fast)), 0)
        high = min(math.ceil(corr_dim(beta_slow)), rope_dim - 1)
        if low == high:
            high += 0.001
        ramp = np.clip((np.arange(rope_dim // 2, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
        smooth = 1.0 - ramp
        freqs = freqs / factor * (1.0 - smooth) + freqs * smooth
    return freqs


def apply_rope(x, positions, freqs, inverse=False):
    """Rotates pairs (2i, 2i+1) of the last axis of x by angle pos*freq_i (x: [T, ..., r])."""
    ang = np.asarray(positions, dtype=np.float64)[:, None] * freqs[None, :]
    cos, sin = np.cos(ang).astype(x.dtype), np.sin(ang).astype(x.dtype)
    if inverse:
        sin = -sin
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (freqs.shape[0],)
    cos, sin = cos.reshape(shape), sin.reshape(shape)
    re, im = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = re * cos - im * sin
    out[..., 1::2] = re * sin + im * cos
    return out


def rope_last(x, positions, freqs, rope_dim, inverse=False):
    y = x.copy()
    y[..., -rope_dim:] = apply_rope(x[..., -rope_dim:], positions, freqs, inverse)
    return y


# --------------------------------------------------------------------------------------------
# mHC
# --------------------------------------------------------------------------------------------
def sinkhorn_split(mixes, scale, base, hc, iters, eps):
    """mixes [T, (2+hc)*hc] -> pre [T,hc], post [T,hc], comb [T,hc,hc] (kernel.py order)."""
    pre = sigmoid(mixes[:, :hc] * scale[0] + base[:hc]) + eps
    post = 2.0 * sigmoid(mixes[:, hc:2 * hc] * scale[1] + base[hc:2 * hc])
    comb = mixes[:, 2 * hc:].reshape(-1, hc, hc) * scale[2] + base[2 * hc:].reshape(hc, hc)
    comb = softmax(comb, axis=-1) + eps
    comb = comb / (comb.sum(axis=-2, keepdims=True) + eps)
    for _ in range(iters - 1):
        comb = comb / (comb.sum(axis=-1, keepdims=True) + eps)
        comb = comb / (comb.sum(axis=-2, keepdims=True) + eps)
    return pre, post, comb


class Reference:
    """The forward pass over dequantised weights, in `dtype` arithmetic.

    Knobs used only by the sanity checks: `use_sink` (drop the attention sink),
    `dense_compressed` (attend to every causal c4 entry instead of the indexer's top-k) and
    `swap_overlap_halves` (the classic loader bug: previous/current halves of a c4 compressor
    swapped)."""

    def __init__(self, cfg, weights, dtype=np.float64):
        self.cfg = cfg
        self.dtype = dtype
        self.w = {k: (v.astype(dtype) if v.dtype.kind == "f" else v) for k, v in weights.items()}
        self.use_sink = True
        self.dense_compressed = False
        self.swap_overlap_halves = False
        c = cfg
        self.freqs_plain = rope_freqs(c.rope_dim, c.rope_theta, 0, 1.0, c.beta_fast, c.beta_slow)
        self.freqs_yarn = rope_freqs(c.rope_dim, c.compress_rope_theta, c.yarn_orig, c.yarn_factor,
                                     c.beta_fast, c.beta_slow)
        self.trace = []  # (kind, layer, margin) records of every top-k decision, see margins()
        self.dump = None  # set to a dict to collect named intermediates (dump_intermediates.py)

    def record(self, name, value):
        if self.dump is not None:
            self.dump[name] = np.array(value)

    # ---- mHC -----------------------------------------------------------------------------
    def hc_pre(self, x, fn, scale, base):
        t = x.shape[0]
        flat = x.reshape(t, -1)
        rs = 1.0 / np.sqrt(np.mean(flat * flat, axis=-1, keepdims=True) + self.cfg.eps)
        mixes = (flat @ fn.T) * rs
        pre, post, comb = sinkhorn_split(mixes, scale, base, self.cfg.hc, self.cfg.sinkhorn_iters,
                                         self.cfg.hc_eps)
        y = np.sum(pre[:, :, None] * x, axis=1)
        return y, post, comb

    @staticmethod
    def hc_post(y, residual, post, comb):
        # out[j] = post[j] * y + sum_i comb[i, j] * residual[i]
        return post[:, :, None] * y[:, None, :] + np.einsum("tij,tid->tjd", comb, residual)

    def hc_head(self, x, fn, scale, base):
        t = x.shape[0]
        flat = x.reshape(t, -1)
        rs = 1.0 / np.sqrt(np.mean(flat * flat, axis=-1, keepdims=True) + self.cfg.eps)
        mixes = (flat @ fn.T) * rs
        pre = sigmoid(mixes * scale + base) + self.cfg.hc_eps
        return np.sum(pre[:, :, None] * x, axis=1)

    # ---- compressor / indexer ----------------------------------------------------------
    def compress(self, p, x, ratio, head_dim, freqs, rotate):
        """Gated pooling of complete `ratio`-token chunks -> [T // ratio, head_dim] entries."""
        c = self.cfg
        overlap = ratio == 4
        kv = x @ self.w[p + "wkv.weight"].T
        score = x @ self.w[p + "wgate.weight"].T
        n = x.shape[0] // ratio
        if n == 0:
            return np.zeros((0, head_dim), dtype=self.dtype)
        kv = kv[:n * ratio].reshape(n, ratio, -1)
        score = score[:n * ratio].reshape(n, ratio, -1) + self.w[p + "ape"][None]
        if overlap:
            d = head_dim
            if self.swap_overlap_halves:
                kv = np.concatenate([kv[..., d:], kv[..., :d]], axis=-1)
                score = np.concatenate([score[..., d:], score[..., :d]], axis=-1)
            kv2 = np.zeros((n, 2 * ratio, d), dtype=self.dtype)
            sc2 = np.full((n, 2 * ratio, d), -np.inf, dtype=self.dtype)
            kv2[:, ratio:] = kv[:, :, d:]
            sc2[:, ratio:] = score[:, :, d:]
            kv2[1:, :ratio] = kv[:-1, :, :d]
            sc2[1:, :ratio] = score[:-1, :, :d]
            kv, score = kv2, sc2
        pooled = np.sum(kv * softmax(score, axis=1), axis=1)
        pooled = rms_norm(pooled, self.w[p + "norm.weight"], c.eps)
        pooled = rope_last(pooled, np.arange(n) * ratio, freqs, c.rope_dim)
        if rotate:
            pooled = pooled @ hadamard(head_dim, self.dtype) * head_dim ** -0.5
        return pooled

    def indexer_select(self, p, layer, x, qr, freqs):
        """Per query row, the list of selected c4 entry ids (model.py Indexer, exact math)."""
        c = self.cfg
        t = x.shape[0]
        q = (qr @ self.w[p + "indexer.wq_b.weight"].T).reshape(t, c.index_heads, c.index_dim)
        q = rope_last(q, np.arange(t), freqs, c.rope_dim)
        q = q @ hadamard(c.index_dim, self.dtype) * c.index_dim ** -0.5
        keys = self.compress(p + "indexer.compressor.", x, 4, c.index_dim, freqs, rotate=True)
        weights = (x @ self.w[p + "indexer.weights_proj.weight"].T) * (
            c.index_dim ** -0.5 * c.index_heads ** -0.5)
        score = np.einsum("thd,jd->thj", q, keys)
        score = np.sum(np.maximum(score, 0.0) * weights[:, :, None], axis=1)  # [T, n]
        selected = []
        for row in range(t):
            valid = (row + 1) // 4
            s = score[row, :valid]
            if self.dense_compressed or valid <= c.index_topk:
                selected.append(np.arange(valid))
                continue
            order = np.argsort(-s, kind="stable")
            k = c.index_topk
            self.trace.append(("indexer", layer, float((s[order[k - 1]] - s[order[k]]) /
                                                       (np.abs(s).max() + 1e-30))))
            selected.append(np.sort(order[:k]))
        if self.dump is not None:
            self.record(f"{p}indexer.keys", keys)
            self.record(f"{p}indexer.scores", score)
            width = max(len(ids) for ids in selected)
            table = np.full((t, width), -1, dtype=np.int64)
            for row, ids in enumerate(selected):
                table[row, :len(ids)] = ids
            self.record(f"{p}indexer.selected", table)
        return selected

    # ---- attention -----------------------------------------------------------------------
    def attention(self, p, layer, x, ratio):
        c = self.cfg
        t = x.shape[0]
        w = self.w
        freqs = self.freqs_yarn if ratio else self.freqs_plain
        pos = np.arange(t)
        qr = rms_norm(x @ w[p + "wq_a.weight"].T, w[p + "q_norm.weight"], c.eps)
        q = (qr @ w[p + "wq_b.weight"].T).reshape(t, c.n_heads, c.head_dim)
        q = rms_norm(q, None, c.eps)
        q = rope_last(q, pos, freqs, c.rope_dim)
        kv = rms_norm(x @ w[p + "wkv.weight"].T, w[p + "kv_norm.weight"], c.eps)
        kv = rope_last(kv, pos, freqs, c.rope_dim)

        self.record(p + "q", q)
        self.record(p + "kv", kv)
        comp = np.zeros((0, c.head_dim), dtype=self.dtype)
        selected = None
        if ratio:
            comp = self.compress(p + "compressor.", x, ratio, c.head_dim, freqs, rotate=False)
            self.record(p + "compressed_kv", comp)
            if ratio == 4:
                selected = self.indexer_select(p, layer, x, qr, freqs)
        sink = w[p + "attn_sink"]
        scale = c.head_dim ** -0.5
        o = np.empty_like(q)
        for row in range(t):
            keys = [kv[max(0, row - c.window + 1):row + 1]]
            if ratio:
                ids = selected[row] if selected is not None else np.arange((row + 1) // ratio)
                keys.append(comp[ids])
            k = np.concatenate(keys, axis=0)  # [n, D]; K = V
            a = (q[row] @ k.T) * scale  # [H, n]
            m = a.max(axis=-1, keepdims=True)
            e = np.exp(a - m)
            denom = e.sum(axis=-1, keepdims=True)
            if self.use_sink:
                denom = denom + np.exp(sink[:, None] - m)
            o[row] = (e / denom) @ k
        o = rope_last(o, pos, freqs, c.rope_dim, inverse=True)
        self.record(p + "attn_out_heads", o)
        g = c.o_groups
        og = o.reshape(t, g, -1)
        wo_a = w[p + "wo_a.weight"].reshape(g, c.o_lora, -1)
        u = np.einsum("tgd,grd->tgr", og, wo_a).reshape(t, g * c.o_lora)
        return u @ w[p + "wo_b.weight"].T

    # ---- MoE -----------------------------------------------------------------------------
    def expert(self, p, x):
        c = self.cfg
        gate = x @ self.w[p + "w1.weight"].T
        up = x @ self.w[p + "w3.weight"].T
        if c.swiglu_limit > 0:
            up = np.clip(up, -c.swiglu_limit, c.swiglu_limit)
            gate = np.minimum(gate, c.swiglu_limit)
        return (silu(gate) * up) @ self.w[p + "w2.weight"].T

    def moe(self, p, layer, x, token_ids, is_hash):
        c = self.cfg
        logits = x @ self.w[p + "gate.weight"].T
        if c.score_func == "softmax":
            scores = softmax(logits, axis=-1)
        elif c.score_func == "sigmoid":
            scores = sigmoid(logits)
        elif c.score_func == "sqrtsoftplus":
            scores = np.sqrt(softplus(logits))
        else:
            raise ValueError(f"scoring_func {c.score_func}")
        if is_hash:
            idx = self.w[p + "gate.tid2eid"][np.asarray(token_ids)].astype(np.int64)
            if np.any((idx < 0) | (idx >= c.n_experts)):
                raise ValueError(f"{p}gate.tid2eid has an expert id outside [0, {c.n_experts})")
        else:
            biased = scores + self.w[p + "gate.bias"]
            order = np.argsort(-biased, axis=-1, kind="stable")
            idx = order[:, :c.topk]
            if c.topk < c.n_experts:
                rows = np.arange(x.shape[0])
                kth, nxt = biased[rows, order[:, c.topk - 1]], biased[rows, order[:, c.topk]]
                self.trace.append(("router", layer, float(np.min(kth - nxt))))
        weights = np.take_along_axis(scores, idx, axis=-1)
        if c.score_func != "softmax":
            weights = weights / weights.sum(axis=-1, keepdims=True)
        weights = weights * c.route_scale
        self.record(p + "experts", idx)
        self.record(p + "expert_weights", weights)
        y = np.zeros_like(x)
        for e in range(c.n_experts):
            rows, slot = np.nonzero(idx == e)
            if rows.size:
                y[rows] += weights[rows, slot][:, None] * self.expert(f"{p}experts.{e}.", x[rows])
        return y + self.expert(p + "shared_experts.", x)

    # ---- blocks and model ----------------------------------------------------------------
    def block(self, p, layer, x, token_ids):
        c = self.cfg
        w = self.w
        ratio = c.ratios[layer]
        res = x
        h, post, comb = self.hc_pre(x, w[p + "hc_attn_fn"], w[p + "hc_attn_scale"], w[p + "hc_attn_base"])
        self.record(p + "hc_attn_comb", comb)
        h = rms_norm(h, w[p + "attn_norm.weight"], c.eps)
        self.record(p + "attn_in", h)
        h = self.attention(p + "attn.", layer, h, ratio)
        self.record(p + "attn_out", h)
        x = self.hc_post(h, res, post, comb)
        res = x
        h, post, comb = self.hc_pre(x, w[p + "hc_ffn_fn"], w[p + "hc_ffn_scale"], w[p + "hc_ffn_base"])
        h = rms_norm(h, w[p + "ffn_norm.weight"], c.eps)
        self.record(p + "ffn_in", h)
        h = self.moe(p + "ffn.", layer, h, token_ids, layer < c.n_hash)
        self.record(p + "ffn_out", h)
        x = self.hc_post(h, res, post, comb)
        self.record(p + "streams_out", x)
        return x

    def logits_from_streams(self, x, prefix, norm_name):
        w = self.w
        y = self.hc_head(x, w[prefix + "hc_head_fn"], w[prefix + "hc_head_scale"], w[prefix + "hc_head_base"])
        y = rms_norm(y, w[norm_name], self.cfg.eps)
        return y @ w["head.weight"].T

    def forward(self, tokens):
        """tokens [T] -> (logits [T, V], final streams [T, hc, d]); row t sees tokens 0..t."""
        c = self.cfg
        tokens = np.asarray(tokens, dtype=np.int64)
        x = np.repeat(self.w["embed.weight"][tokens][:, None, :], c.hc, axis=1)
        for layer in range(c.n_layers):
            x = self.block(f"layers.{layer}.", layer, x, tokens)
        return self.logits_from_streams(x, "", "norm.weight"), x

    def mtp_forward(self, streams, next_tokens, m=0):
        """MTP block m: streams [T', hc, d] of the main model at positions 0..T'-1 and the tokens
        that follow them ([T']) -> draft logits [T', V]. Positions are 0..T'-1 (model.py start_pos 0)."""
        c = self.cfg
        w = self.w
        p = f"mtp.{m}."
        next_tokens = np.asarray(next_tokens, dtype=np.int64)
        e = rms_norm(w["embed.weight"][next_tokens], w[p + "enorm.weight"], c.eps)
        h = rms_norm(streams, w[p + "hnorm.weight"], c.eps)
        x = (e @ w[p + "e_proj.weight"].T)[:, None, :] + h @ w[p + "h_proj.weight"].T
        x = self.block(p, c.n_layers + m, x, next_tokens)
        return self.logits_from_streams(x, p, p + "norm.weight")

    def margins(self):
        """Smallest decision margin per kind over the traced top-k choices (inf if none)."""
        out = {}
        for kind, _, m in self.trace:
            out[kind] = min(out.get(kind, math.inf), m)
        return out
