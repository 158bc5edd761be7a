#pragma once
// One safetensors file: an 8-byte little-endian header length N, N bytes of JSON, then the data
// section. The header is untrusted input: every field is checked against the file before any
// pointer into the data is formed (DESIGN.md §9). Files are mapped read-only; nothing is copied.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/weights/checkpoint.h"

namespace fm::rt {

// Largest header accepted. The real Flash shards have headers of a few MiB; the cap keeps a hostile
// length from driving a huge parse.
inline constexpr int64_t kMaxSafetensorsHeaderBytes = int64_t{100} << 20;

// The DType of a safetensors dtype string ("BF16", "F8_E4M3", ...), or nullopt for any other.
std::optional<DType> ParseDType(std::string_view name);

// The parsed header of one file image. `tensors` point into the image and are sorted by name.
struct SafetensorsContents {
  std::vector<TensorRef> tensors;
  std::map<std::string, std::string> metadata;  // the optional "__metadata__" strings
};

// Parses and bounds-checks a whole file image [bytes, bytes + size). `file_name` is used in
// messages and stored in each TensorRef::file. Errors: DataLoss for malformed or truncated data
// (length past the end, bad JSON, invalid UTF-8, offsets outside the data section, overlaps, byte
// counts that do not match dtype * numel), Unimplemented for a safetensors dtype flashmem does not
// read.
absl::StatusOr<SafetensorsContents> ParseSafetensors(const uint8_t* bytes, int64_t size,
                                                     const std::string& file_name);

// A safetensors file mapped read-only for the lifetime of the object.
class SafetensorsFile {
 public:
  // Maps and parses `path`. NotFound when it does not exist; see ParseSafetensors for the rest.
  // `display_name` (usually the file name relative to the checkpoint) is used in messages.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::filesystem::path& path,
                                                               const std::string& display_name);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& display_name() const { return display_name_; }
  const std::vector<TensorRef>& tensors() const { return contents_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return contents_.metadata; }
  // The tensor called `name`, or nullptr.
  const TensorRef* Find(std::string_view name) const;

 private:
  SafetensorsFile() = default;

  std::string display_name_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  SafetensorsContents contents_;
};

}  // namespace fm::rt
