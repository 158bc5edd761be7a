// LabelFileWriter: streams one document's label file (layout: runtime/lsa/labels/README.md).

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/numeric_formats.h"
#include "runtime/lsa/labels/golden_set.h"
#include "runtime/lsa/labels/label_file.h"
#include "runtime/lsa/labels/label_file_layout.h"
#include "traces/byte_io.h"
#include "traces/crc32c.h"

namespace fm::rt::labels {
absl::Status ValidateLabelFileHeader(const LabelFileHeader& h) {
  auto bad = [](const char* field, auto v, const char* expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("label file header: ", field, " = ", v, ", expected ", expected));
  };
  if (h.hidden_size < 1 || h.hidden_size > kMaxDim)
    return bad("hidden_size", h.hidden_size, "in [1, 2^20]");
  if (h.index_head_dim < 1 || h.index_head_dim > kMaxDim)
    return bad("index_head_dim", h.index_head_dim, "in [1, 2^20]");
  if (h.index_n_heads < 1 || h.index_n_heads > kMaxDim)
    return bad("index_n_heads", h.index_n_heads, "in [1, 2^20]");
  if (h.tokens_per_chunk < 1 || h.tokens_per_chunk > kMaxDim)
    return bad("tokens_per_chunk", h.tokens_per_chunk, "in [1, 2^20]");
  if (h.n_csa_layers < 1 || h.n_csa_layers > kMaxLayers)
    return bad("n_csa_layers", h.n_csa_layers, "in [1, 4096]");
  if (h.targets.empty() || static_cast<int64_t>(h.targets.size()) > kMaxLayers) {
    return bad("targets", h.targets.size(), "1..4096 target layers");
  }
  for (const LabelTarget& t : h.targets) {
    if (t.csa_index < 0 || t.csa_index >= h.n_csa_layers)
      return bad("targets.csa_index", t.csa_index, "in [0, n_csa_layers)");
    if (t.model_layer < 0 || t.model_layer > kMaxLayers)
      return bad("targets.model_layer", t.model_layer, "in [0, 4096]");
  }
  if (static_cast<int64_t>(h.targets.size()) * h.hidden_size > kMaxHiddenPerRecord) {
    return bad("targets x hidden_size", static_cast<int64_t>(h.targets.size()) * h.hidden_size,
               "<= 2^26 floats per record");
  }
  if (h.hidden_dtype != HiddenDtype::kF32 && h.hidden_dtype != HiddenDtype::kBf16) {
    return bad("hidden_dtype", static_cast<int>(h.hidden_dtype), "0 (f32) or 1 (bf16)");
  }
  if (h.n_prompt_tokens < 0) return bad("n_prompt_tokens", h.n_prompt_tokens, ">= 0");
  if (h.key_block_rows < 1 || h.key_block_rows > kMaxKeyBlockRows)
    return bad("key_block_rows", h.key_block_rows, "in [1, 2^20]");
  if (h.source.size() > kMaxSourceBytes)
    return bad("source length", h.source.size(), "<= 4096 bytes");
  return ValidateLabelConstants(h.constants);
}

namespace {

std::vector<uint8_t> EncodeHeader(const LabelFileHeader& h) {
  std::vector<uint8_t> payload;
  traces::ByteWriter w(&payload);
  w.Put<int64_t>(h.hidden_size);
  w.Put<int64_t>(h.index_head_dim);
  w.Put<int64_t>(h.index_n_heads);
  w.Put<int64_t>(h.tokens_per_chunk);
  w.Put<int64_t>(h.n_csa_layers);
  w.Put<int32_t>(h.constants.topk);
  w.Put<float>(h.constants.top_p);
  w.Put<int32_t>(h.constants.min_layers);
  w.Put<uint8_t>(static_cast<uint8_t>(h.hidden_dtype));
  w.Put<int64_t>(h.n_prompt_tokens);
  w.Put<uint32_t>(static_cast<uint32_t>(h.key_block_rows));
  w.Put<uint32_t>(static_cast<uint32_t>(h.targets.size()));
  for (const LabelTarget& t : h.targets) {
    w.Put<int64_t>(t.csa_index);
    w.Put<int64_t>(t.model_layer);
  }
  w.PutString(h.source);
  std::vector<uint8_t> out;
  traces::ByteWriter o(&out);
  o.PutBytes(kHeaderMagic, sizeof(kHeaderMagic));
  o.Put<uint32_t>(kLabelFileVersion);
  o.Put<uint32_t>(static_cast<uint32_t>(payload.size()));
  o.PutBytes(payload.data(), payload.size());
  o.Put<uint32_t>(traces::Crc32c(0, payload.data(), payload.size()));
  return out;
}

std::string Errno() { return std::strerror(errno); }

}  // namespace

absl::StatusOr<std::unique_ptr<LabelFileWriter>> LabelFileWriter::Create(
    const std::filesystem::path& path, const LabelFileHeader& header) {
  absl::Status valid = ValidateLabelFileHeader(header);
  if (!valid.ok())
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": ", valid.message()));
  LabelFileHeader h = header;
  h.version = kLabelFileVersion;
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(tmp.string(), ": cannot create: ", Errno()));
  std::unique_ptr<LabelFileWriter> w(new LabelFileWriter(path, std::move(h), fd));
  w->tmp_path_ = tmp;
  const std::vector<uint8_t> bytes = EncodeHeader(w->header_);
  FM_RETURN_IF_ERROR(w->Write(bytes.data(), bytes.size(), "header"));
  w->records_offset_ = w->bytes_written_;
  return w;
}

LabelFileWriter::LabelFileWriter(std::filesystem::path path, LabelFileHeader header, int fd)
    : path_(std::move(path)), header_(std::move(header)), fd_(fd) {}

LabelFileWriter::~LabelFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_ && !tmp_path_.empty()) {
    std::error_code ec;
    std::filesystem::remove(tmp_path_, ec);  // best effort: an unfinished file is never valid
  }
}

size_t LabelFileWriter::buffered_bytes() const { return buf_.capacity(); }

absl::Status LabelFileWriter::Fail(absl::Status s) {
  if (error_.ok()) error_ = s;
  return s;
}

absl::Status LabelFileWriter::Write(const void* data, size_t n, const char* section) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t k = ::write(fd_, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      return Fail(absl::DataLossError(absl::StrCat(tmp_path_.string(), ": writing the ", section,
                                                   " at offset ", bytes_written_, ": ", Errno())));
    }
    p += k;
    n -= static_cast<size_t>(k);
    bytes_written_ += k;
  }
  return absl::OkStatus();
}

absl::Status LabelFileWriter::AppendToken(int64_t position, int32_t token,
                                          absl::Span<const absl::Span<const float>> hidden,
                                          absl::Span<const GoldenChunk> labels) {
  FM_RETURN_IF_ERROR(error_);
  if (finished_)
    return absl::FailedPreconditionError(
        absl::StrCat(path_.string(), ": AppendToken after Finish"));
  if (keys_offset_ >= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_.string(), ": AppendToken after the index keys began"));
  }
  const size_t n_targets = header_.targets.size();
  const size_t hs = static_cast<size_t>(header_.hidden_size);
  if (hidden.size() != n_targets) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_.string(), ": token ", counts_.n_tokens, ": ", hidden.size(),
                     " hidden rows, expected one per target (", n_targets, ")"));
  }
  for (size_t t = 0; t < n_targets; ++t) {
    if (hidden[t].size() != hs) {
      return absl::InvalidArgumentError(absl::StrCat(path_.string(), ": token ", counts_.n_tokens,
                                                     " target ", t, ": hidden of ",
                                                     hidden[t].size(), " floats, expected ", hs));
    }
  }
  if (position < 0 || position > kMaxPosition) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_.string(), ": position ", position, " outside [0, 2^40]"));
  }
  if (labels.size() > kMaxLabelsPerToken) {
    return absl::InvalidArgumentError(absl::StrCat(path_.string(), ": token ", counts_.n_tokens,
                                                   " has ", labels.size(), " labels, more than ",
                                                   kMaxLabelsPerToken));
  }
  for (const GoldenChunk& g : labels) {
    if (g.chunk < 0 || g.votes <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(path_.string(), ": token ", counts_.n_tokens,
                                                     ": label (chunk ", g.chunk, ", votes ",
                                                     g.votes, ")"));
    }
  }
  const size_t elem = header_.hidden_dtype == HiddenDtype::kF32 ? 4 : 2;
  const size_t record_bytes = RecordBytes(labels.size(), n_targets * hs * elem);
  buf_.clear();
  buf_.reserve(record_bytes);
  traces::ByteWriter w(&buf_);
  w.Put<uint32_t>(static_cast<uint32_t>(record_bytes));
  w.Put<uint32_t>(static_cast<uint32_t>(labels.size()));
  w.Put<uint64_t>(static_cast<uint64_t>(counts_.n_tokens));
  w.Put<int64_t>(position);
  w.Put<int32_t>(token);
  for (const GoldenChunk& g : labels) {
    w.Put<int32_t>(g.chunk);
    w.Put<int32_t>(g.votes);
  }
  w.Put<uint32_t>(traces::Crc32c(0, buf_.data(), buf_.size()));
  const size_t hidden_begin = buf_.size();
  for (size_t t = 0; t < n_targets; ++t) {
    for (float v : hidden[t]) {
      if (elem == 4) {
        w.Put<float>(v);
      } else {
        w.Put<uint16_t>(kernels::FloatToBf16(v));
      }
    }
  }
  w.Put<uint32_t>(traces::Crc32c(0, buf_.data() + hidden_begin, buf_.size() - hidden_begin));
  FM_RETURN_IF_ERROR(Write(buf_.data(), buf_.size(), "token record"));
  ++counts_.n_tokens;
  counts_.n_labels += static_cast<int64_t>(labels.size());
  return absl::OkStatus();
}

absl::Status LabelFileWriter::AppendIndexKeys(int64_t target, const float* keys, int64_t n) {
  FM_RETURN_IF_ERROR(error_);
  if (finished_)
    return absl::FailedPreconditionError(
        absl::StrCat(path_.string(), ": AppendIndexKeys after Finish"));
  const int64_t n_targets = static_cast<int64_t>(header_.targets.size());
  if (n < 0 || (n > 0 && keys == nullptr)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_.string(), ": AppendIndexKeys of ", n, " keys"));
  }
  // Checked before any state changes, so a rejected call leaves the writer as it was.
  const bool next_target = target == keys_target_ + 1 && target < n_targets;
  // Every target covers the same chunks: the first target fixes the count.
  const int64_t n_chunks = keys_target_ == 0 ? keys_in_target_ : counts_.n_chunks;
  if (next_target && keys_in_target_ != n_chunks) {
    return absl::InvalidArgumentError(absl::StrCat(path_.string(), ": target ", keys_target_,
                                                   " got ", keys_in_target_,
                                                   " index keys, target 0 got ", n_chunks));
  }
  if (!next_target && target != keys_target_) {
    return absl::InvalidArgumentError(absl::StrCat(path_.string(), ": index keys of target ",
                                                   target, " while target ", keys_target_,
                                                   " is being written (targets go in order)"));
  }
  if (target > 0 && (next_target ? 0 : keys_in_target_) + n > n_chunks) {
    return absl::InvalidArgumentError(absl::StrCat(path_.string(), ": target ", target,
                                                   " gets more than the ", n_chunks,
                                                   " index keys of target 0"));
  }
  if (keys_offset_ < 0) keys_offset_ = bytes_written_;
  if (next_target) {
    FinishKeyBlock();  // a target's last block may be short; the next target starts a new one
    counts_.n_chunks = n_chunks;
    keys_target_ = target;
    keys_in_target_ = 0;
  }
  const size_t bytes = static_cast<size_t>(n * header_.index_head_dim) * sizeof(float);
  FM_RETURN_IF_ERROR(Write(keys, bytes, "index keys"));
  // The block CRCs, over whatever split of the rows the caller chose.
  const size_t row_bytes = static_cast<size_t>(header_.index_head_dim) * sizeof(float);
  const auto* p = reinterpret_cast<const uint8_t*>(keys);
  for (int64_t left = n; left > 0;) {
    const int64_t take = std::min(left, header_.key_block_rows - rows_in_block_);
    block_crc_ = traces::Crc32c(block_crc_, p, static_cast<size_t>(take) * row_bytes);
    p += static_cast<size_t>(take) * row_bytes;
    left -= take;
    rows_in_block_ += take;
    if (rows_in_block_ == header_.key_block_rows) FinishKeyBlock();
  }
  keys_in_target_ += n;
  return absl::OkStatus();
}

void LabelFileWriter::FinishKeyBlock() {
  if (rows_in_block_ == 0) return;
  key_block_crcs_.push_back(block_crc_);
  block_crc_ = 0;
  rows_in_block_ = 0;
}

absl::Status LabelFileWriter::Finish() {
  FM_RETURN_IF_ERROR(error_);
  if (finished_)
    return absl::FailedPreconditionError(absl::StrCat(path_.string(), ": Finish called twice"));
  const int64_t n_targets = static_cast<int64_t>(header_.targets.size());
  if (keys_offset_ < 0) keys_offset_ = bytes_written_;  // no keys at all: every target has 0
  if (keys_target_ == 0) counts_.n_chunks = keys_in_target_;
  // A document without a single chunk has no keys to write for any target.
  const bool all_empty = counts_.n_chunks == 0 && keys_in_target_ == 0;
  if (!all_empty && (keys_target_ != n_targets - 1 || keys_in_target_ != counts_.n_chunks)) {
    return Fail(absl::FailedPreconditionError(absl::StrCat(
        path_.string(), ": Finish before the index keys of every target: target ", keys_target_,
        " of ", n_targets, " has ", keys_in_target_, " of ", counts_.n_chunks, " keys")));
  }
  FinishKeyBlock();
  const int64_t n_blocks = (counts_.n_chunks + header_.key_block_rows - 1) / header_.key_block_rows;
  if (static_cast<int64_t>(key_block_crcs_.size()) != n_targets * n_blocks) {
    return Fail(absl::InternalError(absl::StrCat(tmp_path_.string(), ": ", key_block_crcs_.size(),
                                                 " key block CRCs, expected ", n_targets, " x ",
                                                 n_blocks)));
  }
  // Offset table: walk the records through their length fields, a block at a time.
  const int64_t table_offset = bytes_written_;
  std::vector<uint8_t> block;
  block.reserve(kTableBlockEntries * 8);
  uint32_t table_crc = 0;
  int64_t off = records_offset_;
  for (int64_t t = 0; t < counts_.n_tokens; ++t) {
    uint8_t len[4];
    if (::pread(fd_, len, 4, off) != 4) {
      return Fail(absl::DataLossError(absl::StrCat(tmp_path_.string(), ": reading back record ", t,
                                                   " at offset ", off, ": ", Errno())));
    }
    traces::ByteWriter(&block).Put<uint64_t>(static_cast<uint64_t>(off));
    off += LoadLE<uint32_t>(len);
    if (block.size() == kTableBlockEntries * 8 || t + 1 == counts_.n_tokens) {
      table_crc = traces::Crc32c(table_crc, block.data(), block.size());
      FM_RETURN_IF_ERROR(Write(block.data(), block.size(), "offset table"));
      block.clear();
    }
  }
  if (off != keys_offset_) {
    return Fail(absl::InternalError(absl::StrCat(tmp_path_.string(), ": records end at ", off,
                                                 ", index keys begin at ", keys_offset_)));
  }
  // Sized up front: growing it field by field trips a GCC 12 -Warray-bounds false positive.
  std::vector<uint8_t> tail;
  tail.reserve(4 + 4 * key_block_crcs_.size() + 4 + kFooterBytes + 4 + kTrailerBytes);
  traces::ByteWriter w(&tail);
  w.Put<uint32_t>(table_crc);
  const int64_t key_crc_offset = table_offset + static_cast<int64_t>(counts_.n_tokens) * 8 + 4;
  for (uint32_t c : key_block_crcs_) w.Put<uint32_t>(c);
  w.Put<uint32_t>(traces::Crc32c(0, tail.data() + 4, tail.size() - 4));
  const size_t footer_begin = tail.size();
  const int64_t footer_offset = key_crc_offset + static_cast<int64_t>(tail.size()) - 4;
  w.Put<uint64_t>(static_cast<uint64_t>(counts_.n_tokens));
  w.Put<uint64_t>(static_cast<uint64_t>(counts_.n_labels));
  w.Put<uint64_t>(static_cast<uint64_t>(counts_.n_chunks));
  w.Put<uint64_t>(static_cast<uint64_t>(records_offset_));
  w.Put<uint64_t>(static_cast<uint64_t>(keys_offset_));
  w.Put<uint64_t>(static_cast<uint64_t>(table_offset));
  w.Put<uint64_t>(static_cast<uint64_t>(key_crc_offset));
  const size_t footer_bytes = tail.size() - footer_begin;
  w.Put<uint32_t>(traces::Crc32c(0, tail.data() + footer_begin, footer_bytes));
  const size_t trailer_begin = tail.size();
  w.Put<uint64_t>(static_cast<uint64_t>(footer_offset));
  w.Put<uint32_t>(static_cast<uint32_t>(footer_bytes));
  w.Put<uint32_t>(traces::Crc32c(0, tail.data() + trailer_begin, 12));
  w.PutBytes(kTrailerMagic, sizeof(kTrailerMagic));
  FM_RETURN_IF_ERROR(Write(tail.data(), tail.size(), "footer"));
  if (::fsync(fd_) != 0)
    return Fail(absl::DataLossError(absl::StrCat(tmp_path_.string(), ": fsync: ", Errno())));
  ::close(fd_);
  fd_ = -1;
  std::error_code ec;
  std::filesystem::rename(tmp_path_, path_, ec);
  if (ec) {
    return Fail(absl::DataLossError(
        absl::StrCat(path_.string(), ": renaming ", tmp_path_.string(), ": ", ec.message())));
  }
  finished_ = true;
  buf_ = {};
  return absl::OkStatus();
}

}  // namespace fm::rt::labels
