#include "profiler-ui/gfx/deflate.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_format.h"

namespace fm::ui {
namespace {

constexpr int kLengthBase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr int kLengthExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                  2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr int kDistBase[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                               193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr int kDistExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
constexpr int kWindow = 32768;
constexpr int kMaxMatch = 258;
constexpr int kMaxChain = 16;  // enough for UI images; bounds the encoder's time on any input

class BitWriter {
 public:
  explicit BitWriter(std::vector<uint8_t>* out) : out_(out) {}
  // Appends the low `n` bits of v, least significant first (deflate's bit order for data).
  void Put(uint32_t v, int n) {
    acc_ |= static_cast<uint64_t>(v & ((1u << n) - 1)) << bits_;
    bits_ += n;
    while (bits_ >= 8) {
      out_->push_back(static_cast<uint8_t>(acc_));
      acc_ >>= 8;
      bits_ -= 8;
    }
  }
  // Huffman codes go most significant bit first.
  void PutCode(uint32_t code, int n) {
    uint32_t r = 0;
    for (int i = 0; i < n; ++i) r |= ((code >> i) & 1u) << (n - 1 - i);
    Put(r, n);
  }
  void Flush() {
    if (bits_ > 0) out_->push_back(static_cast<uint8_t>(acc_));
    acc_ = 0;
    bits_ = 0;
  }

 private:
  std::vector<uint8_t>* out_;
  uint64_t acc_ = 0;
  int bits_ = 0;
};

void PutLiteralOrLength(BitWriter& w, int sym) {
  if (sym < 144) w.PutCode(0x30 + sym, 8);
  else if (sym < 256) w.PutCode(0x190 + (sym - 144), 9);
  else if (sym < 280) w.PutCode(sym - 256, 7);
  else w.PutCode(0xC0 + (sym - 280), 8);
}

void PutMatch(BitWriter& w, int length, int distance) {
  int li = 28;
  while (kLengthBase[li] > length) --li;
  PutLiteralOrLength(w, 257 + li);
  w.Put(static_cast<uint32_t>(length - kLengthBase[li]), kLengthExtra[li]);
  int di = 29;
  while (kDistBase[di] > distance) --di;
  w.PutCode(static_cast<uint32_t>(di), 5);
  w.Put(static_cast<uint32_t>(distance - kDistBase[di]), kDistExtra[di]);
}

uint32_t Hash3(const uint8_t* p) { return ((p[0] << 10) ^ (p[1] << 5) ^ p[2]) & 0x7FFF; }

class BitReader {
 public:
  explicit BitReader(std::span<const uint8_t> in) : in_(in) {}
  bool Get(int n, uint32_t* v) {
    uint32_t r = 0;
    for (int i = 0; i < n; ++i) {
      if (pos_ >= in_.size()) return false;
      r |= static_cast<uint32_t>((in_[pos_] >> bit_) & 1u) << i;
      if (++bit_ == 8) {
        bit_ = 0;
        ++pos_;
      }
    }
    *v = r;
    return true;
  }
  bool GetCodeBit(uint32_t* code) {
    uint32_t b;
    if (!Get(1, &b)) return false;
    *code = (*code << 1) | b;
    return true;
  }
  void AlignToByte() {
    if (bit_ != 0) {
      bit_ = 0;
      ++pos_;
    }
  }
  size_t pos() const { return pos_; }

 private:
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  int bit_ = 0;
};

// Decodes one fixed-Huffman literal/length symbol; -1 on a truncated stream or invalid code.
int ReadFixedSymbol(BitReader& r) {
  uint32_t code = 0;
  for (int i = 0; i < 7; ++i) {
    if (!r.GetCodeBit(&code)) return -1;
  }
  if (code <= 0x17) return 256 + static_cast<int>(code);
  if (!r.GetCodeBit(&code)) return -1;
  if (code >= 0x30 && code <= 0xBF) return static_cast<int>(code - 0x30);
  if (code >= 0xC0 && code <= 0xC7) return 280 + static_cast<int>(code - 0xC0);
  if (!r.GetCodeBit(&code)) return -1;
  if (code >= 0x190 && code <= 0x1FF) return 144 + static_cast<int>(code - 0x190);
  return -1;
}

}  // namespace

std::vector<uint8_t> DeflateFixed(std::span<const uint8_t> data) {
  std::vector<uint8_t> out;
  out.reserve(data.size() / 8 + 64);
  BitWriter w(&out);
  w.Put(1, 1);  // BFINAL: one block
  w.Put(1, 2);  // BTYPE 01: fixed Huffman
  std::vector<int32_t> head(1 << 15, -1);
  std::vector<int32_t> prev(kWindow, -1);
  const size_t n = data.size();
  size_t i = 0;
  auto insert = [&](size_t at) {
    if (at + 2 >= n) return;
    const uint32_t h = Hash3(&data[at]);
    prev[at & (kWindow - 1)] = head[h];
    head[h] = static_cast<int32_t>(at);
  };
  while (i < n) {
    int best_len = 0, best_dist = 0;
    if (i + 2 < n) {
      int32_t cand = head[Hash3(&data[i])];
      const size_t max_len = std::min<size_t>(kMaxMatch, n - i);
      for (int chain = 0; cand >= 0 && chain < kMaxChain; ++chain) {
        const size_t dist = i - static_cast<size_t>(cand);
        if (dist > static_cast<size_t>(kWindow - 1)) break;
        size_t len = 0;
        while (len < max_len && data[static_cast<size_t>(cand) + len] == data[i + len]) ++len;
        if (static_cast<int>(len) > best_len) {
          best_len = static_cast<int>(len);
          best_dist = static_cast<int>(dist);
          if (len == max_len) break;
        }
        cand = prev[static_cast<size_t>(cand) & (kWindow - 1)];
      }
    }
    if (best_len >= 3) {
      PutMatch(w, best_len, best_dist);
      for (int k = 0; k < best_len; ++k) insert(i + static_cast<size_t>(k));
      i += static_cast<size_t>(best_len);
    } else {
      PutLiteralOrLength(w, data[i]);
      insert(i);
      ++i;
    }
  }
  PutLiteralOrLength(w, 256);  // end of block
  w.Flush();
  return out;
}

absl::StatusOr<std::vector<uint8_t>> Inflate(std::span<const uint8_t> stream, size_t max_output_bytes, size_t* consumed) {
  BitReader r(stream);
  std::vector<uint8_t> out;
  auto loss = [&](const char* what) {
    return absl::DataLossError(absl::StrFormat("deflate stream at byte %d: %s", r.pos(), what));
  };
  for (bool last = false; !last;) {
    uint32_t bfinal, btype;
    if (!r.Get(1, &bfinal) || !r.Get(2, &btype)) return loss("truncated block header");
    last = bfinal != 0;
    if (btype == 0) {
      r.AlignToByte();
      uint32_t len, nlen;
      if (!r.Get(16, &len) || !r.Get(16, &nlen)) return loss("truncated stored block header");
      if ((len ^ nlen) != 0xFFFF) return loss("stored block LEN/NLEN mismatch");
      if (out.size() + len > max_output_bytes) return loss("output larger than expected");
      for (uint32_t k = 0; k < len; ++k) {
        uint32_t b;
        if (!r.Get(8, &b)) return loss("truncated stored block");
        out.push_back(static_cast<uint8_t>(b));
      }
      continue;
    }
    if (btype != 1) return loss("dynamic-Huffman or reserved block (only stored and fixed are supported)");
    while (true) {
      const int sym = ReadFixedSymbol(r);
      if (sym < 0 || sym > 285) return loss("bad literal/length code");
      if (sym < 256) {
        if (out.size() >= max_output_bytes) return loss("output larger than expected");
        out.push_back(static_cast<uint8_t>(sym));
        continue;
      }
      if (sym == 256) break;
      uint32_t extra, dcode = 0, dextra;
      const int li = sym - 257;
      if (!r.Get(kLengthExtra[li], &extra)) return loss("truncated length");
      const size_t len = static_cast<size_t>(kLengthBase[li]) + extra;
      for (int k = 0; k < 5; ++k) {
        if (!r.GetCodeBit(&dcode)) return loss("truncated distance");
      }
      if (dcode >= 30) return loss("bad distance code");
      if (!r.Get(kDistExtra[dcode], &dextra)) return loss("truncated distance");
      const size_t dist = static_cast<size_t>(kDistBase[dcode]) + dextra;
      if (dist > out.size()) return loss("distance before the start of the output");
      if (out.size() + len > max_output_bytes) return loss("output larger than expected");
      const size_t from = out.size() - dist;
      for (size_t k = 0; k < len; ++k) out.push_back(out[from + k]);
    }
  }
  r.AlignToByte();
  if (consumed != nullptr) *consumed = r.pos();
  return out;
}

}  // namespace fm::ui
