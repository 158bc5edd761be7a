// Checkpoint::Open: config.json plus one model.safetensors or the shards of
// model.safetensors.index.json. Typed accessors are in checkpoint_access.cc.

#include "runtime/weights/checkpoint.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runtime/weights/checkpoint_impl.h"

namespace fm::rt {
namespace {

constexpr char kIndexName[] = "model.safetensors.index.json";
constexpr char kSingleName[] = "model.safetensors";

// A shard name from the index must stay inside the checkpoint directory.
absl::Status CheckShardName(const std::string& shard, const std::string& tensor) {
  const std::filesystem::path p(shard);
  bool escapes = shard.empty() || p.is_absolute() || p.has_root_path() ||
                 shard.find('\0') != std::string::npos;
  for (const auto& part : p) {
    if (part == "..") escapes = true;
  }
  if (escapes) {
    return absl::DataLossError(absl::StrCat(kIndexName, ": weight_map['", tensor, "'] = '", shard,
                                            "': shard file names must be relative names inside "
                                            "the checkpoint directory"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, std::string>> ReadIndex(const std::filesystem::path& path) {
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  constexpr uintmax_t kMaxIndexBytes = 256 << 20;
  if (ec || bytes > kMaxIndexBytes) {
    return absl::DataLossError(
        absl::StrCat(kIndexName, ": size ", bytes, " bytes exceeds ", kMaxIndexBytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot open"));
  std::ostringstream text;
  text << in.rdbuf();
  const nlohmann::json root = nlohmann::json::parse(text.str(), nullptr, false);
  if (root.is_discarded() || !root.is_object()) {
    return absl::DataLossError(absl::StrCat(kIndexName, ": not a valid JSON object"));
  }
  auto wm = root.find("weight_map");
  if (wm == root.end() || !wm->is_object()) {
    return absl::DataLossError(absl::StrCat(kIndexName, ": missing \"weight_map\" object"));
  }
  std::map<std::string, std::string> out;
  for (const auto& [name, shard] : wm->items()) {
    if (!shard.is_string()) {
      return absl::DataLossError(
          absl::StrCat(kIndexName, ": weight_map['", name, "'] is not a file name string"));
    }
    const std::string s = shard.get<std::string>();
    FM_RETURN_IF_ERROR(CheckShardName(s, name));
    out[name] = s;
  }
  return out;
}

}  // namespace

absl::Status CheckpointImpl::AddFile(std::unique_ptr<SafetensorsFile> file) {
  for (const TensorRef& t : file->tensors()) {
    auto [it, inserted] = by_name_.emplace(t.name, &t);
    if (!inserted) {
      return absl::DataLossError(absl::StrCat("tensor '", t.name, "' appears in both ",
                                              it->second->file, " and ", t.file));
    }
  }
  files_.push_back(std::move(file));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir.string(), ": checkpoint directory not found"));
  }
  FM_ASSIGN_OR_RETURN(ModelConfig config, ReadModelConfig(dir / "config.json"));
  auto ckpt = std::make_unique<CheckpointImpl>(std::move(config), dir);

  if (std::filesystem::exists(dir / kIndexName, ec)) {
    FM_ASSIGN_OR_RETURN(auto weight_map, ReadIndex(dir / kIndexName));
    std::map<std::string, const SafetensorsFile*> shards;
    for (const auto& [name, shard] : weight_map) {
      if (shards.count(shard)) continue;
      FM_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(dir / shard, shard));
      shards[shard] = file.get();
      FM_RETURN_IF_ERROR(ckpt->AddFile(std::move(file)));
    }
    for (const auto& [name, shard] : weight_map) {
      if (shards[shard]->Find(name) == nullptr) {
        return absl::NotFoundError(absl::StrCat(kIndexName, ": tensor '", name,
                                                "' is listed in shard ", shard,
                                                " but that file does not contain it"));
      }
    }
  } else {
    if (!std::filesystem::exists(dir / kSingleName, ec)) {
      return absl::NotFoundError(
          absl::StrCat(dir.string(), ": neither ", kSingleName, " nor ", kIndexName, " found"));
    }
    FM_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(dir / kSingleName, kSingleName));
    FM_RETURN_IF_ERROR(ckpt->AddFile(std::move(file)));
  }
  return std::unique_ptr<Checkpoint>(std::move(ckpt));
}

}  // namespace fm::rt
