#pragma once
// Writes safetensors files: a sorted JSON header padded so the data section starts 8-byte aligned,
// then each tensor's bytes (in name order, each 8-byte aligned). Data can be given as bytes or
// streamed from a fill function, so multi-GB synthetic checkpoints never exist in memory at once.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "runtime/weights/checkpoint.h"

namespace fm::rt {

// Writes bytes [offset, offset + n) of a tensor's data into `out`. Must depend only on the
// arguments (it may be called more than once, in any chunking), so writes are reproducible.
using TensorFill = std::function<void(int64_t offset, uint8_t* out, int64_t n)>;

class SafetensorsWriter {
 public:
  // Adds a tensor with its bytes (size must be numel * dtype bytes; checked when writing).
  void Add(std::string name, DType dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes);
  // Adds a tensor whose bytes come from `fill` at write time.
  void AddStreamed(std::string name, DType dtype, std::vector<int64_t> shape, TensorFill fill);
  // A "__metadata__" string entry.
  void SetMetadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

  int64_t tensor_count() const { return static_cast<int64_t>(tensors_.size()); }
  // Sum of all tensors' data bytes (without alignment padding).
  int64_t data_bytes() const;

  // Writes every tensor to one file. InvalidArgument for duplicate names or a byte vector of the
  // wrong size; Internal when the file cannot be written.
  absl::Status WriteFile(const std::filesystem::path& path) const;

  // Writes a checkpoint's weights into `dir` (which must exist): with shards <= 1, one
  // model.safetensors; otherwise model-0000i-of-0000K.safetensors split by bytes in name order,
  // plus model.safetensors.index.json {"metadata": {"total_size"}, "weight_map"}.
  absl::Status WriteCheckpoint(const std::filesystem::path& dir, int64_t shards) const;

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;  // used when fill is empty
    TensorFill fill;
    int64_t nbytes() const;
  };
  absl::Status WriteEntries(const std::filesystem::path& path,
                            const std::vector<const Entry*>& entries) const;

  std::vector<Entry> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace fm::rt
