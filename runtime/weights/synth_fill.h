#pragma once
// Deterministic, counter-based tensor generators for synthetic checkpoints. Element i of a tensor
// is a pure function of (tensor key, i), so a tensor can be streamed in any chunking and sharding
// never changes its contents. Quantised tensors are generated directly as codes (never as a float
// copy), which keeps multi-GB slices cheap.

#include <cstdint>
#include <functional>
#include <string_view>

#include "runtime/weights/checkpoint.h"
#include "runtime/weights/safetensors_writer.h"

namespace fm::rt::synth {

// SplitMix64 finaliser: a strong 64-bit mix.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The key of tensor `name` under `seed` (FNV-1a of the name, mixed with the seed).
uint64_t TensorKey(uint64_t seed, std::string_view name);

// 64 random bits for counter `index` of the tensor with `key` (SplitMix64 at position index).
inline uint64_t Bits(uint64_t key, uint64_t index) {
  return Mix64(key + index * 0x9e3779b97f4a7c15ull);
}

// Random byte `index` of the tensor's stream: byte index % 8 of Bits(key, index / 8). Reads in
// increasing order reuse the 64-bit word.
class ByteStream {
 public:
  explicit ByteStream(uint64_t key) : key_(key) {}
  uint8_t At(uint64_t index) {
    const uint64_t w = index >> 3;
    if (w != word_index_) {
      word_index_ = w;
      word_ = Bits(key_, w);
    }
    return static_cast<uint8_t>(word_ >> (8 * (index & 7)));
  }

 private:
  uint64_t key_;
  uint64_t word_index_ = ~uint64_t{0};
  uint64_t word_ = 0;
};

// The 256 quantiles Phi^-1((j + 0.5) / 256) of N(0, 1): a random byte indexes a normal sample.
const float* NormalQuantiles256();

// Approximately N(0, 1) from 64 random bits (Irwin-Hall sum of four 16-bit uniforms, rescaled;
// bounded by +-3.47, which keeps synthetic activations free of outliers).
float UnitNormal(uint64_t bits);

// A float tensor (F32 or BF16) with element i = value(i, z_i), z_i ~ N(0, 1).
TensorFill FloatFill(DType dtype, uint64_t key, std::function<float(int64_t, float)> value);
// The common case, without a per-element call: element i = mean + std_dev * z_i.
TensorFill NormalFill(DType dtype, uint64_t key, float mean, float std_dev);

// FP8 e4m3 weight [rows, cols] with std `std_dev`, and its ue8m0 [ceil(rows/128), ceil(cols/128)]
// block scales. Scales vary per block (by a factor 2 up or down) and the codes compensate, so a
// scale-indexing mistake changes the dequantised values.
TensorFill Fp8WeightFill(uint64_t key, int64_t cols, float std_dev);
TensorFill Fp8ScaleFill(uint64_t key, float std_dev);

// MXFP4 weight stored [rows, cols/2] (low nibble = even column), and its e8m0 scales
// [rows, cols/32] chosen so the dequantised std is about `std_dev`. Scales vary per block.
TensorFill Mxfp4WeightFill(uint64_t key);
TensorFill Mxfp4ScaleFill(uint64_t key, float std_dev);

// tid2eid: I64 [vocab, k], each row k distinct experts in [0, n_experts). Needs k <= 64.
TensorFill Tid2EidFill(uint64_t key, int64_t k, int64_t n_experts);

}  // namespace fm::rt::synth
