#include "traces/trace_file_writer.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "common/little_endian.h"
#include "common/status_macros.h"

namespace fm::traces {

TraceFileWriter::TraceFileWriter(std::string path, std::FILE* f)
    : path_(std::move(path)), file_(f), buffer_(4 << 20) {
  // A large stdio buffer turns the many 24-byte header writes into a few big write(2) calls.
  std::setvbuf(file_, buffer_.data(), _IOFBF, buffer_.size());
}

absl::StatusOr<std::unique_ptr<TraceFileWriter>> TraceFileWriter::Create(
    const std::string& path, int64_t created_realtime_ns) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    return absl::UnavailableError(
        absl::StrFormat("%s: cannot create trace file: %s", path, std::strerror(errno)));
  }
  std::unique_ptr<TraceFileWriter> w(new TraceFileWriter(path, f));
  FileHeader h{};
  std::memcpy(h.magic, kFileMagic, sizeof(h.magic));
  h.file_version = kFileVersion;
  h.created_realtime_ns = static_cast<uint64_t>(created_realtime_ns);
  FM_RETURN_IF_ERROR(w->Write(&h, sizeof(h)));
  return w;
}

TraceFileWriter::~TraceFileWriter() { (void)Close(); }

absl::Status TraceFileWriter::Write(const void* data, size_t n) {
  if (!error_.ok()) return error_;
  if (file_ == nullptr) return absl::FailedPreconditionError(path_ + ": trace file already closed");
  if (n > 0 && std::fwrite(data, 1, n, file_) != n) {
    error_ = absl::UnavailableError(absl::StrFormat("%s: write of %d bytes at offset %d failed: %s",
                                                    path_, n, offset_, std::strerror(errno)));
    return error_;
  }
  offset_ += n;
  return absl::OkStatus();
}

void TraceFileWriter::NoteFrame(FrameKind kind, std::span<const uint8_t> payload,
                                uint64_t frame_offset) {
  if (kind != FrameKind::kSnapshot || payload.size() < 16) return;
  if (LoadLE<uint16_t>(payload.data() + 4) != 0) return;  // only part 0 starts a keyframe
  int64_t t = LoadLE<int64_t>(payload.data() + 8);
  if (!have_keyframe_ || t - last_keyframe_ns_ >= kKeyframePeriodNs) {
    index_.push_back(IndexEntry{frame_offset, t});
    last_keyframe_ns_ = t;
    have_keyframe_ = true;
  }
}

absl::Status TraceFileWriter::WriteFrame(FrameKind kind, std::span<const uint8_t> payload) {
  EncodedFrame f = EncodeFrame(kind, payload);
  return WriteEncoded(f);
}

absl::Status TraceFileWriter::WriteEncoded(const EncodedFrame& frame) {
  uint8_t header[kFrameHeaderBytes];
  std::memcpy(header, frame.bytes.data(), kFrameHeaderBytes);
  SetFrameSeq(header, seq_);
  const uint64_t at = offset_;
  FM_RETURN_IF_ERROR(Write(header, sizeof(header)));
  FM_RETURN_IF_ERROR(
      Write(frame.bytes.data() + kFrameHeaderBytes, frame.bytes.size() - kFrameHeaderBytes));
  ++seq_;
  NoteFrame(frame.kind,
            std::span<const uint8_t>(frame.bytes).subspan(kFrameHeaderBytes), at);
  return absl::OkStatus();
}

absl::Status TraceFileWriter::Close() {
  if (file_ == nullptr) return error_;
  if (error_.ok()) {
    const uint64_t index_at = offset_;
    if (WriteFrame(FrameKind::kIndex, EncodeIndex(index_)).ok()) {
      FileTrailer t{};
      std::memcpy(t.magic, kTrailerMagic, sizeof(t.magic));
      t.index_offset = index_at;
      (void)Write(&t, sizeof(t));
    }
  }
  if (std::fclose(file_) != 0 && error_.ok()) {
    error_ = absl::UnavailableError(
        absl::StrFormat("%s: close failed: %s", path_, std::strerror(errno)));
  }
  file_ = nullptr;
  return error_;
}

FileSink::FileSink(std::unique_ptr<TraceFileWriter> writer) : writer_(std::move(writer)) {
  stats_.name = "file:" + writer_->path();
}

absl::StatusOr<std::shared_ptr<FileSink>> FileSink::Create(const std::string& path) {
  FM_ASSIGN_OR_RETURN(auto writer, TraceFileWriter::Create(path, RealtimeNs()));
  return std::make_shared<FileSink>(std::move(writer));
}

void FileSink::Begin(std::span<const EncodedFrame> preamble) {
  for (const EncodedFrame& f : preamble) Deliver(f);
}

void FileSink::Deliver(const EncodedFrame& frame) {
  absl::Status st = writer_->WriteEncoded(frame);
  MutexLock lock(&mu_);
  if (st.ok()) {
    ++stats_.frames_sent;
    stats_.bytes += frame.bytes.size();
  } else {
    ++stats_.frames_dropped;
    if (status_.ok()) status_ = st;
  }
}

void FileSink::End() {
  absl::Status st = writer_->Close();
  MutexLock lock(&mu_);
  if (!st.ok() && status_.ok()) status_ = st;
}

SinkStats FileSink::stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

absl::Status FileSink::status() const {
  MutexLock lock(&mu_);
  return status_;
}

}  // namespace fm::traces
