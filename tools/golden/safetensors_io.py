"""Minimal safetensors reader/writer and the small-float codecs DeepSeek-V4 checkpoints use.

Written from the format description (8-byte little-endian header length, JSON header, raw data),
not from any safetensors library, because not every library knows F8_E8M0 and because the golden
tooling must not depend on anything but numpy.

Codecs (all vectorised numpy):
  * BF16      <-> float32 (round to nearest even on encode)
  * F8_E4M3   "fn" variant: bias 7, no infinities, 0x7F/0xFF are NaN, max +-448
  * F8_E8M0   unsigned exponent: value = 2**(byte - 127)
  * e2m1      (MXFP4 element) codes 0..15, packed two per byte, low nibble = even element
"""
import json
import struct

import numpy as np

# Bytes per element of each stored dtype string.
DTYPE_SIZES = {"F32": 4, "BF16": 2, "F8_E4M3": 1, "F8_E8M0": 1, "I8": 1, "I64": 8, "I32": 4}


# --------------------------------------------------------------------------------------------
# bf16
# --------------------------------------------------------------------------------------------
def bf16_encode(x):
    """float array -> uint16 bf16 bit patterns, round to nearest, ties to even (no NaN input)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounding = 0x7FFF + ((bits >> 16) & 1)
    return ((bits + rounding) >> 16).astype(np.uint16)


def bf16_decode(u16):
    """uint16 bf16 bit patterns -> float32 (exact)."""
    return (np.asarray(u16, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def bf16_round(x):
    """Rounds float values to the nearest bf16 value, returned as float64."""
    return bf16_decode(bf16_encode(x)).astype(np.float64)


# --------------------------------------------------------------------------------------------
# e4m3fn
# --------------------------------------------------------------------------------------------
def e4m3_decode(u8):
    """uint8 e4m3fn codes -> float64. Exponent 0 is subnormal (mantissa * 2^-9)."""
    b = np.asarray(u8, dtype=np.uint8).astype(np.int64)
    sign = np.where(b & 0x80, -1.0, 1.0)
    exp = (b >> 3) & 0xF
    man = b & 0x7
    mag = np.where(exp == 0, man * 2.0 ** -9, (1.0 + man / 8.0) * np.exp2(exp - 7.0))
    out = sign * mag
    return np.where((b & 0x7F) == 0x7F, np.nan, out)


# Positive finite codes 0x00..0x7E in increasing value order (the code is monotonic in value).
_E4M3_POS_VALUES = e4m3_decode(np.arange(0x7F, dtype=np.uint8))


def _nearest_code(mag, table):
    """Index of the nearest entry of the increasing `table` to each |value|, ties to even index."""
    hi = np.clip(np.searchsorted(table, mag, side="left"), 1, len(table) - 1)
    lo = hi - 1
    d_lo = mag - table[lo]
    d_hi = table[hi] - mag
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (hi % 2 == 0))
    return np.where(pick_hi, hi, lo)


def e4m3_encode(x):
    """float -> uint8 e4m3fn code, round to nearest even, saturating at +-448."""
    x = np.asarray(x, dtype=np.float64)
    mag = np.minimum(np.abs(x), 448.0)
    code = _nearest_code(mag, _E4M3_POS_VALUES).astype(np.uint8)
    return np.where(np.signbit(x) & (code != 0), code | 0x80, code).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# e8m0 (ue8m0 scales)
# --------------------------------------------------------------------------------------------
def e8m0_decode(u8):
    """uint8 exponent bytes -> float64 2**(b-127); 255 is NaN (OCP)."""
    b = np.asarray(u8, dtype=np.uint8).astype(np.float64)
    return np.where(b == 255, np.nan, np.exp2(b - 127.0))


def e8m0_encode_pow2(value):
    """Exact powers of two -> exponent byte. Raises if a value is not a representable power."""
    value = np.asarray(value, dtype=np.float64)
    e = np.log2(value)
    if not np.all(e == np.round(e)) or np.any(e < -127) or np.any(e > 127):
        raise ValueError("e8m0 scale must be an exact power of two in [2^-127, 2^127]")
    return (np.round(e) + 127).astype(np.uint8)


def pow2_ceil(x):
    """Smallest power of two >= x (x > 0), as used for ue8m0 block scales."""
    return np.exp2(np.ceil(np.log2(np.asarray(x, dtype=np.float64))))


# --------------------------------------------------------------------------------------------
# e2m1 (MXFP4)
# --------------------------------------------------------------------------------------------
_E2M1_POS_VALUES = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])


def e2m1_decode(codes):
    """4-bit codes 0..15 -> float64; codes 8..15 are the negated 0..7 (8 is -0)."""
    c = np.asarray(codes).astype(np.int64)
    mag = _E2M1_POS_VALUES[c & 7]
    return np.where(c & 8, -mag, mag)


def e2m1_encode(x):
    """float -> 4-bit code, nearest value (ties to even code), saturating at +-6."""
    x = np.asarray(x, dtype=np.float64)
    mag = np.minimum(np.abs(x), 6.0)
    code = _nearest_code(mag, _E2M1_POS_VALUES)
    return np.where(np.signbit(x) & (code != 0), code | 8, code).astype(np.uint8)


def fp4_pack(codes):
    """[rows, cols] codes (cols even) -> [rows, cols/2] bytes; low nibble = even element."""
    codes = np.asarray(codes, dtype=np.uint8)
    return (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8)


def fp4_unpack(packed):
    """[rows, cols/2] bytes (raw, unsigned) -> [rows, cols] codes."""
    p = np.asarray(packed).view(np.uint8)
    out = np.empty((p.shape[0], p.shape[1] * 2), dtype=np.uint8)
    out[:, 0::2] = p & 0xF
    out[:, 1::2] = p >> 4
    return out


# --------------------------------------------------------------------------------------------
# block quantisation helpers
# --------------------------------------------------------------------------------------------
def quantize_fp8_block(w, block=128):
    """float [out, in] -> (e4m3 codes [out, in], e8m0 scale bytes [ceil(out/b), ceil(in/b)]).

    Each block's scale is the smallest power of two with amax/scale <= 448."""
    out_dim, in_dim = w.shape
    sr, sc = -(-out_dim // block), -(-in_dim // block)
    scale = np.empty((sr, sc))
    codes = np.empty(w.shape, dtype=np.uint8)
    for i in range(sr):
        for j in range(sc):
            blk = w[i * block:(i + 1) * block, j * block:(j + 1) * block]
            s = pow2_ceil(max(np.abs(blk).max(), 1e-30) / 448.0)
            scale[i, j] = s
            codes[i * block:(i + 1) * block, j * block:(j + 1) * block] = e4m3_encode(blk / s)
    return codes, e8m0_encode_pow2(scale)


def dequantize_fp8_block(codes, scale_bytes, block=128):
    """e4m3 codes [out, in] + e8m0 scales -> float64 [out, in]."""
    s = e8m0_decode(scale_bytes)
    s = np.repeat(np.repeat(s, block, axis=0), block, axis=1)[:codes.shape[0], :codes.shape[1]]
    return e4m3_decode(codes) * s


def quantize_mxfp4(w, block=32):
    """float [out, in] (in % 32 == 0) -> (packed I8 bytes [out, in/2], e8m0 bytes [out, in/32])."""
    out_dim, in_dim = w.shape
    if in_dim % block:
        raise ValueError(f"MXFP4 input dim {in_dim} is not a multiple of {block}")
    blocks = w.reshape(out_dim, in_dim // block, block)
    amax = np.maximum(np.abs(blocks).max(axis=-1), 1e-30)
    scale = pow2_ceil(amax / 6.0)
    codes = e2m1_encode(blocks / scale[..., None]).reshape(out_dim, in_dim)
    return fp4_pack(codes), e8m0_encode_pow2(scale)


def dequantize_mxfp4(packed, scale_bytes, block=32):
    """packed [out, in/2] + e8m0 [out, in/32] -> float64 [out, in]."""
    vals = e2m1_decode(fp4_unpack(packed))
    return vals * np.repeat(e8m0_decode(scale_bytes), block, axis=1)


# --------------------------------------------------------------------------------------------
# container
# --------------------------------------------------------------------------------------------
class StoredTensor:
    """One tensor as stored: dtype string, shape, raw little-endian bytes."""

    def __init__(self, dtype, shape, data):
        if dtype not in DTYPE_SIZES:
            raise ValueError(f"unsupported dtype {dtype}")
        n = int(np.prod(shape)) if len(shape) else 1
        if len(data) != n * DTYPE_SIZES[dtype]:
            raise ValueError(f"{dtype}{list(shape)} needs {n * DTYPE_SIZES[dtype]} bytes, got {len(data)}")
        self.dtype, self.shape, self.data = dtype, tuple(int(s) for s in shape), bytes(data)

    def raw(self):
        """The stored values as a numpy array of the storage type (uint16 for BF16, uint8 for F8/I8)."""
        np_type = {"F32": "<f4", "BF16": "<u2", "F8_E4M3": "u1", "F8_E8M0": "u1", "I8": "u1",
                   "I64": "<i8", "I32": "<i4"}[self.dtype]
        return np.frombuffer(self.data, dtype=np_type).reshape(self.shape)

    def to_float(self):
        """Float64 value of a F32/BF16/F8_E4M3/F8_E8M0 tensor (integers are returned as int64)."""
        r = self.raw()
        if self.dtype == "F32":
            return r.astype(np.float64)
        if self.dtype == "BF16":
            return bf16_decode(r).astype(np.float64)
        if self.dtype == "F8_E4M3":
            return e4m3_decode(r)
        if self.dtype == "F8_E8M0":
            return e8m0_decode(r)
        return r.astype(np.int64)


def tensor_f32(x):
    return StoredTensor("F32", np.shape(x), np.ascontiguousarray(x, dtype="<f4").tobytes())


def tensor_bf16(x):
    return StoredTensor("BF16", np.shape(x), bf16_encode(x).astype("<u2").tobytes())


def tensor_u8(dtype, codes):
    return StoredTensor(dtype, np.shape(codes), np.ascontiguousarray(codes, dtype=np.uint8).tobytes())


def tensor_i64(x):
    return StoredTensor("I64", np.shape(x), np.ascontiguousarray(x, dtype="<i8").tobytes())


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: StoredTensor} in the given order; the header is space-padded to 8 bytes."""
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        header[name] = {"dtype": t.dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(t.data)]}
        offset += len(t.data)
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for t in tensors.values():
            f.write(t.data)


def read_safetensors(path):
    """Reads a file into {name: StoredTensor}, checking offsets against the data section."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", buf[:8])
    if 8 + n > len(buf):
        raise ValueError(f"{path}: header length {n} exceeds file size {len(buf)}")
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = buf[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        if not 0 <= b <= end <= len(data):
            raise ValueError(f"{path}: tensor {name} offsets {b}..{end} outside data size {len(data)}")
        out[name] = StoredTensor(e["dtype"], e["shape"], data[b:end])
    return out
