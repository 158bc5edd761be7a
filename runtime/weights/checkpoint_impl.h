#pragma once
// The concrete Checkpoint: mapped safetensors files plus a name -> tensor index. Internal to
// runtime/weights (callers use checkpoint.h).

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/weights/checkpoint.h"
#include "runtime/weights/safetensors_file.h"

namespace fm::rt {

class CheckpointImpl final : public Checkpoint {
 public:
  CheckpointImpl(ModelConfig config, std::filesystem::path dir)
      : config_(std::move(config)), dir_(std::move(dir)) {}

  // Takes ownership of a parsed file and indexes its tensors; DataLoss when a name is already
  // present in another file.
  absl::Status AddFile(std::unique_ptr<SafetensorsFile> file);

  const ModelConfig& config() const override { return config_; }
  const std::filesystem::path& dir() const override { return dir_; }
  bool Has(const std::string& name) const override { return by_name_.count(name) != 0; }
  absl::StatusOr<TensorRef> Get(const std::string& name) const override;
  absl::StatusOr<TensorRef> GetChecked(const std::string& name, const std::vector<int64_t>& shape,
                                       const std::vector<DType>& dtypes) const override;
  absl::StatusOr<kernels::WeightView> GetWeight(const std::string& name, int64_t rows,
                                                int64_t cols) const override;
  absl::StatusOr<std::vector<float>> GetFloats(const std::string& name,
                                               const std::vector<int64_t>& shape) const override;
  absl::StatusOr<std::vector<int32_t>> GetIndexTable(const std::string& name,
                                                     const std::vector<int64_t>& shape,
                                                     int64_t upper_bound) const override;
  std::vector<std::string> TensorNames() const override;

 private:
  ModelConfig config_;
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorRef*> by_name_;  // points into files_
};

// "[2048,4096]" for messages.
std::string ShapeString(const std::vector<int64_t>& shape);

}  // namespace fm::rt
