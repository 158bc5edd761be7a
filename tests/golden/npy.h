#pragma once
// Minimal NPY (v1/v2) reader for little-endian float32 C-order arrays: what the golden fixtures use.
// Test-only; errors are reported as absl::Status naming the file.

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"

namespace fm::test {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

inline absl::StatusOr<NpyArray> ReadNpyFloat32(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrFormat("%s: cannot open", path));
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
    return absl::DataLossError(absl::StrFormat("%s: not an NPY file", path));
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, header_off = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    header_off = 10;
  } else {
    if (bytes.size() < 12) return absl::DataLossError(absl::StrFormat("%s: truncated header", path));
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= size_t{static_cast<unsigned char>(bytes[8 + i])} << (8 * i);
    header_off = 12;
  }
  if (header_off + header_len > bytes.size()) {
    return absl::DataLossError(absl::StrFormat("%s: header past end of file", path));
  }
  const std::string header = bytes.substr(header_off, header_len);
  if (header.find("'<f4'") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: dtype is not '<f4': %s", path, header));
  }
  if (header.find("'fortran_order': False") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: not C order", path));
  }
  NpyArray a;
  size_t lp = header.find('(', header.find("'shape'")), rp = header.find(')', lp);
  std::string dims = header.substr(lp + 1, rp - lp - 1);
  std::stringstream ds(dims);
  std::string tok;
  int64_t numel = 1;
  while (std::getline(ds, tok, ',')) {
    if (tok.find_first_of("0123456789") == std::string::npos) continue;
    a.shape.push_back(std::stoll(tok));
    numel *= a.shape.back();
  }
  const size_t data_off = header_off + header_len;
  if (data_off + size_t(numel) * 4 != bytes.size()) {
    return absl::DataLossError(absl::StrFormat("%s: %d floats expected, file size %d", path, numel,
                                               bytes.size()));
  }
  a.data.resize(static_cast<size_t>(numel));
  std::memcpy(a.data.data(), bytes.data() + data_off, a.data.size() * 4);
  return a;
}

}  // namespace fm::test
