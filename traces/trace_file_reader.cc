#include "traces/trace_file_reader.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace fm::traces {
namespace {
constexpr size_t kReadChunkBytes = 1 << 20;
}  // namespace

TraceFileReader::TraceFileReader(std::string path, std::FILE* f)
    : path_(std::move(path)), file_(f), decoder_(path_, sizeof(FileHeader)) {}

TraceFileReader::~TraceFileReader() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::StatusOr<std::unique_ptr<TraceFileReader>> TraceFileReader::Open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("%s: cannot open trace file: %s", path, std::strerror(errno)));
  }
  std::unique_ptr<TraceFileReader> r(new TraceFileReader(path, f));
  if (std::fseek(f, 0, SEEK_END) != 0) {
    return absl::DataLossError(absl::StrFormat("%s: not seekable", path));
  }
  long size = std::ftell(f);
  std::rewind(f);
  r->file_bytes_ = size < 0 ? 0 : static_cast<uint64_t>(size);
  if (r->file_bytes_ < sizeof(FileHeader) ||
      std::fread(&r->header_, 1, sizeof(FileHeader), f) != sizeof(FileHeader)) {
    return absl::DataLossError(absl::StrFormat(
        "%s: %d bytes, shorter than the %d-byte .fmtrace header", path, r->file_bytes_,
        sizeof(FileHeader)));
  }
  if (std::memcmp(r->header_.magic, kFileMagic, sizeof(kFileMagic)) != 0) {
    return absl::DataLossError(
        absl::StrFormat("%s: file magic is not \"FMTRACE\\0\": not a flashmem trace", path));
  }
  if (r->header_.file_version != kFileVersion) {
    return absl::DataLossError(absl::StrFormat("%s: file_version %d, expected %d", path,
                                               r->header_.file_version, kFileVersion));
  }
  r->data_end_ = r->file_bytes_;
  if (r->file_bytes_ >= sizeof(FileHeader) + sizeof(FileTrailer) + kFrameHeaderBytes) {
    FileTrailer t;
    if (std::fseek(f, static_cast<long>(r->file_bytes_ - sizeof(t)), SEEK_SET) == 0 &&
        std::fread(&t, 1, sizeof(t), f) == sizeof(t) &&
        std::memcmp(t.magic, kTrailerMagic, sizeof(kTrailerMagic)) == 0 &&
        t.index_offset >= sizeof(FileHeader) &&
        t.index_offset + kFrameHeaderBytes <= r->file_bytes_ - sizeof(t)) {
      r->has_trailer_ = true;
      r->data_end_ = r->file_bytes_ - sizeof(t);
    }
    std::fseek(f, static_cast<long>(sizeof(FileHeader)), SEEK_SET);
  }
  r->read_at_ = sizeof(FileHeader);
  return r;
}

absl::StatusOr<std::optional<FrameView>> TraceFileReader::Next() {
  while (true) {
    FM_ASSIGN_OR_RETURN(std::optional<FrameView> frame, decoder_.Next());
    if (frame.has_value()) return frame;
    if (read_at_ >= data_end_) {
      FM_RETURN_IF_ERROR(decoder_.Finish());
      return std::optional<FrameView>();
    }
    size_t want = static_cast<size_t>(std::min<uint64_t>(kReadChunkBytes, data_end_ - read_at_));
    chunk_.resize(want);
    size_t got = std::fread(chunk_.data(), 1, want, file_);
    if (got == 0) {
      return absl::DataLossError(absl::StrFormat("%s: read failed at byte offset %d: %s", path_,
                                                 read_at_, std::strerror(errno)));
    }
    read_at_ += got;
    decoder_.Feed(std::span<const uint8_t>(chunk_.data(), got));
  }
}

absl::Status ForEachFrame(const std::string& path,
                          const std::function<absl::Status(const FrameView&)>& on_frame) {
  FM_ASSIGN_OR_RETURN(std::unique_ptr<TraceFileReader> reader, TraceFileReader::Open(path));
  while (true) {
    FM_ASSIGN_OR_RETURN(std::optional<FrameView> frame, reader->Next());
    if (!frame.has_value()) return absl::OkStatus();
    FM_RETURN_IF_ERROR(on_frame(*frame));
  }
}

}  // namespace fm::traces
