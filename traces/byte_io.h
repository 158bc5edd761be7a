#pragma once
// Little-endian payload builders and bounds-checked parsers for the wire frames (DESIGN.md §7).
// ByteReader never reads past its span: the first short read sets a sticky failure that the caller
// turns into one DataLoss naming the frame and field.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/little_endian.h"

namespace fm::traces {

// Appends fixed-width little-endian fields to a byte vector it does not own.
class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>* out) : out_(out) {}

  template <typename T>
  void Put(T v) {
    size_t at = out_->size();
    out_->resize(at + sizeof(T));
    StoreLE<T>(out_->data() + at, v);
  }
  void PutBytes(const void* data, size_t n) {
    // resize + memcpy rather than insert(): GCC 12 at -O3 reports a false -Warray-bounds on
    // vector::insert of a pointer range.
    if (n == 0) return;
    size_t at = out_->size();
    out_->resize(at + n);
    std::memcpy(out_->data() + at, data, n);
  }
  // u16 length + UTF-8 bytes. Strings longer than 65535 bytes are cut at 65535 (names and
  // messages are far shorter; the cut keeps the frame well-formed instead of failing the sink).
  void PutString(std::string_view s) {
    size_t n = s.size() > 0xFFFF ? 0xFFFF : s.size();
    Put<uint16_t>(static_cast<uint16_t>(n));
    PutBytes(s.data(), n);
  }
  size_t size_bytes() const { return out_->size(); }
  std::vector<uint8_t>* buffer() { return out_; }

 private:
  std::vector<uint8_t>* out_;
};

// Reads fields in order from a span. After any short read ok() is false and every later read
// returns zeros, so parsers check once at the end (or before using a count for an allocation).
class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  template <typename T>
  T Get() {
    if (!Need(sizeof(T))) return T{};
    T v = LoadLE<T>(bytes_.data() + pos_);
    pos_ += sizeof(T);
    return v;
  }
  std::string GetString() {
    uint16_t n = Get<uint16_t>();
    if (!Need(n)) return {};
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  // A view of the next n bytes (empty and failed when fewer remain).
  std::span<const uint8_t> GetBytes(size_t n) {
    if (!Need(n)) return {};
    auto s = bytes_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  // True when `count` items of `item_bytes` each can still be present: checked before reserving,
  // so a corrupt count never drives an allocation larger than the payload itself.
  bool CanHold(uint64_t count, uint64_t item_bytes) const {
    return item_bytes == 0 || count <= remaining_bytes() / item_bytes;
  }
  bool ok() const { return ok_; }
  size_t remaining_bytes() const { return ok_ ? bytes_.size() - pos_ : 0; }
  size_t position() const { return pos_; }
  void Fail() { ok_ = false; }

 private:
  bool Need(size_t n) {
    if (!ok_ || bytes_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace fm::traces
