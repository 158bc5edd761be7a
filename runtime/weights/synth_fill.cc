#include "runtime/weights/synth_fill.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <utility>

#include "common/check.h"
#include "common/little_endian.h"
#include "kernels/numeric_formats.h"

namespace fm::rt::synth {
namespace {

// Salts separate the random streams a tensor draws from (values vs per-block scale shifts).
constexpr uint64_t kBlockSalt = 0x5ca1e5a17ull;

// Per-block scale shift in {-1, 0, +1}, shared by a weight fill and its scale fill.
int BlockShift3(uint64_t key, int64_t block) {
  return static_cast<int>(Bits(key ^ kBlockSalt, static_cast<uint64_t>(block)) % 3) - 1;
}
// Per-block scale shift in {-1, 0} for MXFP4 (its 8 magnitudes cannot compensate a shift).
int BlockShift2(uint64_t key, int64_t block) {
  return static_cast<int>(Bits(key ^ kBlockSalt, static_cast<uint64_t>(block)) % 2) - 1;
}

// floor(log2(x)) for x > 0.
int FloorLog2(float x) { return static_cast<int>(std::floor(std::log2(x))); }

// Gain applied to N(0,1) quantiles before e2m1 rounding: puts the tails near the top code (6).
constexpr float kFp4Gain = 2.0f;

// e2m1 code of kFp4Gain * z for each of the 256 normal quantiles z.
const uint8_t* Fp4CodeTable() {
  static const auto table = [] {
    std::array<uint8_t, 256> t{};
    const float* q = NormalQuantiles256();
    for (int j = 0; j < 256; ++j) t[j] = kernels::FloatToE2m1(kFp4Gain * q[j]);
    return t;
  }();
  return table.data();
}

// RMS of the e2m1 values the code table produces.
float Fp4CodeRms() {
  static const float rms = [] {
    double sum = 0.0;
    for (int j = 0; j < 256; ++j) {
      const double v = kernels::E2m1ToFloat(Fp4CodeTable()[j]);
      sum += v * v;
    }
    return static_cast<float>(std::sqrt(sum / 256.0));
  }();
  return rms;
}

// Base exponent of MXFP4 scales: with shifts uniform in {-1, 0} the mean square of the scale is
// 0.625 * 4^base, so aim the rounding at std_dev / sqrt(0.625).
int Fp4BaseExponent(float std_dev) {
  return static_cast<int>(std::lround(std::log2(std_dev / (Fp4CodeRms() * std::sqrt(0.625f)))));
}

uint8_t ClampE8m0(int exponent) {
  int b = exponent + 127;
  if (b < 1) b = 1;
  if (b > 254) b = 254;
  return static_cast<uint8_t>(b);
}

void StoreFloat(DType dtype, float v, uint8_t* out) {
  switch (dtype) {
    case DType::kF32:
      StoreLE<float>(out, v);
      break;
    case DType::kBF16:
      StoreLE<uint16_t>(out, kernels::FloatToBf16(v));
      break;
    default:
      FM_CHECK_MSG(false, "synth float fills write F32 or BF16 only");
  }
}

}  // namespace

uint64_t TensorKey(uint64_t seed, std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : name) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return Mix64(h ^ Mix64(seed));
}

float UnitNormal(uint64_t bits) {
  float sum = 0.0f;
  for (int k = 0; k < 4; ++k) {
    sum += (static_cast<float>((bits >> (16 * k)) & 0xffffu) + 0.5f) * (1.0f / 65536.0f);
  }
  return (sum - 2.0f) * 1.7320508f;  // variance of the sum is 4/12
}

const float* NormalQuantiles256() {
  static const auto table = [] {
    std::array<float, 256> t{};
    for (int j = 0; j < 256; ++j) {
      const double p = (j + 0.5) / 256.0;
      double lo = -10.0, hi = 10.0;  // bisection on Phi(x) = erfc(-x / sqrt 2) / 2
      for (int it = 0; it < 100; ++it) {
        const double mid = 0.5 * (lo + hi);
        if (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p) {
          lo = mid;
        } else {
          hi = mid;
        }
      }
      t[j] = static_cast<float>(0.5 * (lo + hi));
    }
    return t;
  }();
  return table.data();
}

TensorFill FloatFill(DType dtype, uint64_t key, std::function<float(int64_t, float)> value) {
  return [dtype, key, value = std::move(value)](int64_t offset, uint8_t* out, int64_t n) {
    const int64_t eb = DTypeBytes(dtype);
    FM_CHECK(offset % eb == 0 && n % eb == 0);
    for (int64_t b = 0; b < n; b += eb) {
      const int64_t i = (offset + b) / eb;
      StoreFloat(dtype, value(i, UnitNormal(Bits(key, static_cast<uint64_t>(i)))), out + b);
    }
  };
}

TensorFill NormalFill(DType dtype, uint64_t key, float mean, float std_dev) {
  return [dtype, key, mean, std_dev](int64_t offset, uint8_t* out, int64_t n) {
    const int64_t eb = DTypeBytes(dtype);
    FM_CHECK(offset % eb == 0 && n % eb == 0);
    for (int64_t b = 0; b < n; b += eb) {
      const int64_t i = (offset + b) / eb;
      const float z = UnitNormal(Bits(key, static_cast<uint64_t>(i)));
      StoreFloat(dtype, mean + std_dev * z, out + b);
    }
  };
}

TensorFill Fp8WeightFill(uint64_t key, int64_t cols, float std_dev) {
  const int k = FloorLog2(std_dev);
  const float c = std_dev / std::ldexp(1.0f, k);  // in [1, 2)
  // value = code * 2^(k+d) = std_dev * z  =>  code = c * 2^-d * z, one table per shift d.
  auto tables = std::make_shared<std::array<std::array<uint8_t, 256>, 3>>();
  const float* q = NormalQuantiles256();
  for (int d = -1; d <= 1; ++d) {
    for (int j = 0; j < 256; ++j) {
      (*tables)[d + 1][j] = kernels::FloatToE4m3(std::ldexp(c, -d) * q[j]);
    }
  }
  const int64_t scale_cols = (cols + 127) / 128;
  return [key, cols, scale_cols, tables](int64_t offset, uint8_t* out, int64_t n) {
    ByteStream bytes(key);
    int64_t r = offset / cols, col = offset % cols;
    for (int64_t b = 0; b < n;) {
      // One run of columns inside a single 128-column block shares its scale shift.
      const int64_t run = std::min<int64_t>({n - b, 128 - col % 128, cols - col});
      const auto& table = (*tables)[BlockShift3(key, (r / 128) * scale_cols + col / 128) + 1];
      for (int64_t t = 0; t < run; ++t) {
        out[b + t] = table[bytes.At(static_cast<uint64_t>(offset + b + t))];
      }
      b += run;
      col += run;
      if (col == cols) {
        col = 0;
        ++r;
      }
    }
  };
}

TensorFill Fp8ScaleFill(uint64_t key, float std_dev) {
  const int k = FloorLog2(std_dev);
  return [key, k](int64_t offset, uint8_t* out, int64_t n) {
    for (int64_t b = 0; b < n; ++b) out[b] = ClampE8m0(k + BlockShift3(key, offset + b));
  };
}

TensorFill Mxfp4WeightFill(uint64_t key) {
  // The scale carries the magnitude; each nibble is a code drawn from the quantile table.
  return [key](int64_t offset, uint8_t* out, int64_t n) {
    const uint8_t* table = Fp4CodeTable();
    ByteStream bytes(key);
    for (int64_t b = 0; b < n; ++b) {
      const uint64_t i = static_cast<uint64_t>(offset + b);
      const uint8_t lo = table[bytes.At(2 * i)];
      const uint8_t hi = table[bytes.At(2 * i + 1)];
      out[b] = static_cast<uint8_t>((lo & 0xf) | (hi << 4));
    }
  };
}

TensorFill Mxfp4ScaleFill(uint64_t key, float std_dev) {
  const int base = Fp4BaseExponent(std_dev);
  return [key, base](int64_t offset, uint8_t* out, int64_t n) {
    for (int64_t b = 0; b < n; ++b) out[b] = ClampE8m0(base + BlockShift2(key, offset + b));
  };
}

TensorFill Tid2EidFill(uint64_t key, int64_t k, int64_t n_experts) {
  return [key, k, n_experts](int64_t offset, uint8_t* out, int64_t n) {
    FM_CHECK(offset % 8 == 0 && n % 8 == 0 && k <= n_experts && k <= 64);
    int64_t row_cache = -1;
    int64_t row_vals[64];
    for (int64_t b = 0; b < n; b += 8) {
      const int64_t i = (offset + b) / 8;
      const int64_t row = i / k;
      if (row != row_cache) {
        // k distinct experts by rejection; `attempt` keeps drawing fresh bits for a clash.
        for (int64_t j = 0; j < k; ++j) {
          for (uint64_t attempt = 0;; ++attempt) {
            const uint64_t bits = Bits(Mix64(key ^ static_cast<uint64_t>(row)),
                                       (static_cast<uint64_t>(j) << 32) | attempt);
            const int64_t e = static_cast<int64_t>(bits % static_cast<uint64_t>(n_experts));
            bool clash = false;
            for (int64_t p = 0; p < j; ++p) clash = clash || row_vals[p] == e;
            if (!clash) {
              row_vals[j] = e;
              break;
            }
          }
        }
        row_cache = row;
      }
      StoreLE<int64_t>(out + b, row_vals[i % k]);
    }
  };
}

}  // namespace fm::rt::synth
