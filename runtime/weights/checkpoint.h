#pragma once
// Checkpoint: a model directory in the public release's layout (config.json plus one
// model.safetensors, or shards listed by model.safetensors.index.json), memory-mapped. Tensor
// lookups check dtype and shape and return views into the mapping; nothing is copied. Every error
// names the file and the tensor (DESIGN.md §9).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/weight_view.h"
#include "runtime/config/model_config.h"

namespace fm::rt {

enum class DType : uint8_t { kF32, kF16, kBF16, kF8E4M3, kF8E8M0, kI8, kU8, kI32, kI64 };

// "F32", "BF16", ... as written in safetensors headers.
const char* DTypeName(DType dtype);
int64_t DTypeBytes(DType dtype);

// A view of one tensor inside a mapped file. Valid as long as the Checkpoint lives.
struct TensorRef {
  std::string name;
  std::string file;              // shard file name, for messages
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  int64_t nbytes = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
  }
};

class Checkpoint {
 public:
  // Opens `dir`: reads and validates config.json, maps model.safetensors or every shard named in
  // model.safetensors.index.json, and bounds-checks every header (length, offsets inside the file,
  // no overlaps, dtype size * numel == byte range, names valid UTF-8).
  static absl::StatusOr<std::unique_ptr<Checkpoint>> Open(const std::filesystem::path& dir);
  virtual ~Checkpoint() = default;

  virtual const ModelConfig& config() const = 0;
  virtual const std::filesystem::path& dir() const = 0;

  // True when the tensor exists (in any shard).
  virtual bool Has(const std::string& name) const = 0;

  // The raw tensor; NotFound names the tensor and the directory.
  virtual absl::StatusOr<TensorRef> Get(const std::string& name) const = 0;

  // A tensor that must have exactly `shape` and one of `dtypes`; errors name file, tensor, the shape
  // or dtype found and the expected one.
  virtual absl::StatusOr<TensorRef> GetChecked(const std::string& name,
                                               const std::vector<int64_t>& shape,
                                               const std::vector<DType>& dtypes) const = 0;

  // A linear weight `name` (e.g. "layers.3.attn.wq_a.weight") of logical shape [rows, cols]:
  //  - F32 / BF16 / F16 with no `.scale` sibling  -> kF32 / kBF16 / kF16 view;
  //  - F8_E4M3 + "<stem>.scale" F8_E8M0 [ceil(rows/128), ceil(cols/128)] -> kFP8Block128;
  //  - I8/U8 stored [rows, cols/2] + "<stem>.scale" F8_E8M0 [rows, cols/32] -> kMXFP4.
  // The scale name replaces the trailing ".weight" with ".scale". Shape and dtype mismatches are
  // errors naming both tensors.
  virtual absl::StatusOr<kernels::WeightView> GetWeight(const std::string& name, int64_t rows,
                                                        int64_t cols) const = 0;

  // A 1-D or N-D float parameter (F32, BF16 or F16) of `shape`, converted to fp32.
  virtual absl::StatusOr<std::vector<float>> GetFloats(const std::string& name,
                                                       const std::vector<int64_t>& shape) const = 0;

  // An integer table (I64 or I32) of `shape`, converted to int32, every entry checked to lie in
  // [0, upper_bound) (used for tid2eid).
  virtual absl::StatusOr<std::vector<int32_t>> GetIndexTable(const std::string& name,
                                                             const std::vector<int64_t>& shape,
                                                             int64_t upper_bound) const = 0;

  // Every tensor name, sorted (for tooling and tests).
  virtual std::vector<std::string> TensorNames() const = 0;
};

}  // namespace fm::rt
