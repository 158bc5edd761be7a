#include "runtime/weights/safetensors_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/little_endian.h"
#include "common/status_macros.h"

namespace fm::rt {
namespace {

constexpr int64_t kAlign = 8;
constexpr int64_t kChunkBytes = int64_t{4} << 20;  // streaming buffer

int64_t AlignUp(int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};

absl::Status WriteError(const std::filesystem::path& path, const char* what) {
  return absl::InternalError(
      absl::StrCat(path.string(), ": ", what, " failed: ", std::strerror(errno)));
}

}  // namespace

int64_t SafetensorsWriter::Entry::nbytes() const {
  int64_t n = DTypeBytes(dtype);
  for (int64_t s : shape) n *= s;
  return n;
}

void SafetensorsWriter::Add(std::string name, DType dtype, std::vector<int64_t> shape,
                            std::vector<uint8_t> bytes) {
  tensors_.push_back(Entry{std::move(name), dtype, std::move(shape), std::move(bytes), nullptr});
}

void SafetensorsWriter::AddStreamed(std::string name, DType dtype, std::vector<int64_t> shape,
                                    TensorFill fill) {
  tensors_.push_back(Entry{std::move(name), dtype, std::move(shape), {}, std::move(fill)});
}

int64_t SafetensorsWriter::data_bytes() const {
  int64_t total = 0;
  for (const Entry& e : tensors_) total += e.nbytes();
  return total;
}

absl::Status SafetensorsWriter::WriteEntries(const std::filesystem::path& path,
                                             const std::vector<const Entry*>& entries) const {
  // Header: nlohmann objects are std::map, so keys come out sorted.
  nlohmann::json header = nlohmann::json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  int64_t offset = 0;
  std::vector<int64_t> begins;
  for (const Entry* e : entries) {
    if (!e->fill && static_cast<int64_t>(e->bytes.size()) != e->nbytes()) {
      return absl::InvalidArgumentError(absl::StrCat(path.filename().string(), ": tensor '",
                                                     e->name, "': ", e->bytes.size(),
                                                     " bytes given, expected ", e->nbytes()));
    }
    offset = AlignUp(offset);
    begins.push_back(offset);
    header[e->name] = {{"dtype", DTypeName(e->dtype)},
                       {"shape", e->shape},
                       {"data_offsets", {offset, offset + e->nbytes()}}};
    offset += e->nbytes();
  }
  std::string text = header.dump();
  text.append(static_cast<size_t>(AlignUp(8 + static_cast<int64_t>(text.size())) - 8 -
                                  static_cast<int64_t>(text.size())),
              ' ');

  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "wb"));
  if (!f) return WriteError(path, "open for writing");
  uint8_t len[8];
  StoreLE<uint64_t>(len, text.size());
  if (std::fwrite(len, 1, 8, f.get()) != 8 ||
      std::fwrite(text.data(), 1, text.size(), f.get()) != text.size()) {
    return WriteError(path, "write header");
  }
  std::vector<uint8_t> buf;
  int64_t written = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = *entries[i];
    static const uint8_t kZeros[kAlign] = {};
    const int64_t pad = begins[i] - written;
    if (pad > 0 &&
        std::fwrite(kZeros, 1, static_cast<size_t>(pad), f.get()) != static_cast<size_t>(pad)) {
      return WriteError(path, "write padding");
    }
    written = begins[i];
    const int64_t n = e.nbytes();
    if (!e.fill) {
      if (n > 0 && std::fwrite(e.bytes.data(), 1, static_cast<size_t>(n), f.get()) !=
                       static_cast<size_t>(n)) {
        return WriteError(path, "write tensor data");
      }
    } else {
      buf.resize(static_cast<size_t>(std::min(n, kChunkBytes)));
      for (int64_t at = 0; at < n; at += kChunkBytes) {
        const int64_t m = std::min(kChunkBytes, n - at);
        e.fill(at, buf.data(), m);
        if (std::fwrite(buf.data(), 1, static_cast<size_t>(m), f.get()) != static_cast<size_t>(m)) {
          return WriteError(path, "write tensor data");
        }
      }
    }
    written += n;
  }
  if (std::fflush(f.get()) != 0) return WriteError(path, "flush");
  std::FILE* raw = f.release();
  if (std::fclose(raw) != 0) return WriteError(path, "close");
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::WriteFile(const std::filesystem::path& path) const {
  std::vector<const Entry*> sorted;
  for (const Entry& e : tensors_) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [](const Entry* a, const Entry* b) { return a->name < b->name; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i]->name == sorted[i - 1]->name) {
      return absl::InvalidArgumentError(
          absl::StrCat(path.filename().string(), ": tensor '", sorted[i]->name, "' added twice"));
    }
  }
  return WriteEntries(path, sorted);
}

absl::Status SafetensorsWriter::WriteCheckpoint(const std::filesystem::path& dir,
                                                int64_t shards) const {
  if (shards <= 1) return WriteFile(dir / "model.safetensors");
  std::vector<const Entry*> sorted;
  for (const Entry& e : tensors_) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [](const Entry* a, const Entry* b) { return a->name < b->name; });
  // Contiguous runs in name order, cut where the running byte count crosses k * total / shards.
  const int64_t total = std::max<int64_t>(data_bytes(), 1);
  std::vector<std::vector<const Entry*>> groups(static_cast<size_t>(shards));
  int64_t before = 0;
  for (const Entry* e : sorted) {
    int64_t g = std::min(before / ((total + shards - 1) / shards), shards - 1);
    groups[static_cast<size_t>(g)].push_back(e);
    before += e->nbytes();
  }
  nlohmann::json index;
  index["metadata"] = {{"total_size", data_bytes()}};
  index["weight_map"] = nlohmann::json::object();
  for (int64_t k = 0; k < shards; ++k) {
    const std::string file = absl::StrFormat("model-%05d-of-%05d.safetensors", k + 1, shards);
    FM_RETURN_IF_ERROR(WriteEntries(dir / file, groups[static_cast<size_t>(k)]));
    for (const Entry* e : groups[static_cast<size_t>(k)]) {
      if (index["weight_map"].contains(e->name)) {
        return absl::InvalidArgumentError(absl::StrCat("tensor '", e->name, "' added twice"));
      }
      index["weight_map"][e->name] = file;
    }
  }
  const std::filesystem::path index_path = dir / "model.safetensors.index.json";
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(index_path.c_str(), "wb"));
  if (!f) return WriteError(index_path, "open for writing");
  const std::string text = index.dump(2) + "\n";
  if (std::fwrite(text.data(), 1, text.size(), f.get()) != text.size()) {
    return WriteError(index_path, "write");
  }
  return absl::OkStatus();
}

}  // namespace fm::rt
