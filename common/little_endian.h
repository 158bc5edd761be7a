#pragma once
// Little-endian loads and stores for file and wire formats. Unaligned-safe (memcpy).

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace fm {

template <typename T>
inline T LoadLE(const void* p) {
  static_assert(std::is_trivially_copyable_v<T>);
  T v;
  std::memcpy(&v, p, sizeof(T));  // x86-64 and aarch64 are little-endian hosts
  return v;
}

template <typename T>
inline void StoreLE(void* p, T v) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::memcpy(p, &v, sizeof(T));
}

}  // namespace fm
