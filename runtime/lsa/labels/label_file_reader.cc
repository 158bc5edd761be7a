// LabelFileReader: validates and reads one document's label file (layout: README.md beside).
// Every size that drives an allocation is checked against the file size first, so a corrupt count
// is an error, never a huge allocation.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <span>
#include <system_error>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/numeric_formats.h"
#include "runtime/lsa/labels/label_file.h"
#include "runtime/lsa/labels/label_file_layout.h"
#include "traces/byte_io.h"
#include "traces/crc32c.h"

namespace fm::rt::labels {
namespace {

template <typename... Args>
absl::Status Corrupt(const std::filesystem::path& path, const Args&... args) {
  return absl::DataLossError(absl::StrCat(path.string(), ": ", args...));
}

std::string Quoted(const void* bytes, size_t n) {
  return absl::StrCat("\"", absl::CHexEscape(absl::string_view(static_cast<const char*>(bytes), n)),
                      "\"");
}

}  // namespace

LabelFileReader::~LabelFileReader() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status LabelFileReader::ReadAt(int64_t offset, void* out, size_t n, const char* what) const {
  auto* p = static_cast<uint8_t*>(out);
  size_t done = 0;
  while (done < n) {
    const ssize_t k = ::pread(fd_, p + done, n - done, offset + static_cast<int64_t>(done));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      return Corrupt(
          path_, what, ": short read of ", n, " bytes at offset ", offset,
          k < 0 ? absl::StrCat(": ", std::strerror(errno)) : std::string(" (end of file)"));
    }
    done += static_cast<size_t>(k);
  }
  bytes_read_.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LabelFileReader>> LabelFileReader::Open(
    const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return absl::NotFoundError(
        absl::StrCat(path.string(), ": cannot open: ", std::strerror(errno)));
  std::unique_ptr<LabelFileReader> r(new LabelFileReader(path, fd));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not a regular file"));
  }
  const int64_t size = st.st_size;
  r->file_bytes_ = size;
  const int64_t min_size =
      static_cast<int64_t>(kHeaderFixedBytes + 4 + 4 + 4 + kFooterBytes + 4 + kTrailerBytes);
  if (size < min_size) {
    return Corrupt(path, "file size ", size, " bytes is below the smallest label file (", min_size,
                   " bytes): truncated or not a label file");
  }

  // Header.
  uint8_t fixed[kHeaderFixedBytes];
  FM_RETURN_IF_ERROR(r->ReadAt(0, fixed, sizeof(fixed), "header"));
  if (std::memcmp(fixed, kHeaderMagic, sizeof(kHeaderMagic)) != 0) {
    return Corrupt(path, "header magic = ", Quoted(fixed, 8),
                   ", expected \"FMLABELS\" (not a label file)");
  }
  const uint32_t version = LoadLE<uint32_t>(fixed + 8);
  if (version != kLabelFileVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), ": header version = ", version, ", this build reads version ",
                     kLabelFileVersion,
                     version < kLabelFileVersion
                         ? " only (version 2 stores the index keys in CRC-checked row blocks); "
                           "re-run `flashmem label` to rewrite the file"
                         : ""));
  }
  const uint32_t payload_bytes = LoadLE<uint32_t>(fixed + 12);
  if (payload_bytes > kMaxHeaderPayload ||
      static_cast<int64_t>(kHeaderFixedBytes + payload_bytes + 4) >
          size - static_cast<int64_t>(kTrailerBytes)) {
    return Corrupt(path, "header payload_bytes = ", payload_bytes, ", larger than the file or ",
                   kMaxHeaderPayload);
  }
  std::vector<uint8_t> payload(payload_bytes + 4);
  FM_RETURN_IF_ERROR(r->ReadAt(kHeaderFixedBytes, payload.data(), payload.size(), "header"));
  const uint32_t header_crc = LoadLE<uint32_t>(payload.data() + payload_bytes);
  if (traces::Crc32c(0, payload.data(), payload_bytes) != header_crc) {
    return Corrupt(path, "header CRC32C mismatch (stored 0x", absl::Hex(header_crc), ")");
  }
  LabelFileHeader& h = r->header_;
  h.version = version;
  traces::ByteReader br(std::span<const uint8_t>(payload.data(), payload_bytes));
  h.hidden_size = br.Get<int64_t>();
  h.index_head_dim = br.Get<int64_t>();
  h.index_n_heads = br.Get<int64_t>();
  h.tokens_per_chunk = br.Get<int64_t>();
  h.n_csa_layers = br.Get<int64_t>();
  h.constants.topk = br.Get<int32_t>();
  h.constants.top_p = br.Get<float>();
  h.constants.min_layers = br.Get<int32_t>();
  h.hidden_dtype = static_cast<HiddenDtype>(br.Get<uint8_t>());
  h.n_prompt_tokens = br.Get<int64_t>();
  h.key_block_rows = br.Get<uint32_t>();
  const uint32_t n_targets = br.Get<uint32_t>();
  if (!br.CanHold(n_targets, 16)) {
    return Corrupt(path, "header n_targets = ", n_targets, ", more than the header holds");
  }
  for (uint32_t t = 0; t < n_targets; ++t) {
    LabelTarget target;
    target.csa_index = br.Get<int64_t>();
    target.model_layer = br.Get<int64_t>();
    h.targets.push_back(target);
  }
  h.source = br.GetString();
  if (!br.ok() || br.remaining_bytes() != 0) {
    return Corrupt(path, "header payload of ", payload_bytes, " bytes does not match its fields");
  }
  if (absl::Status s = ValidateLabelFileHeader(h); !s.ok()) {
    return Corrupt(path, s.message());
  }
  const int64_t header_end = static_cast<int64_t>(kHeaderFixedBytes + payload_bytes + 4);

  // Trailer and footer.
  uint8_t trailer[kTrailerBytes];
  FM_RETURN_IF_ERROR(
      r->ReadAt(size - static_cast<int64_t>(kTrailerBytes), trailer, kTrailerBytes, "trailer"));
  if (std::memcmp(trailer + 16, kTrailerMagic, sizeof(kTrailerMagic)) != 0) {
    return Corrupt(path, "trailer magic = ", Quoted(trailer + 16, 8),
                   ", expected \"FMLBLEND\" (truncated, or the writer did not finish)");
  }
  if (traces::Crc32c(0, trailer, 12) != LoadLE<uint32_t>(trailer + 12)) {
    return Corrupt(path, "trailer CRC32C mismatch");
  }
  const uint64_t footer_offset = LoadLE<uint64_t>(trailer);
  const uint32_t footer_bytes = LoadLE<uint32_t>(trailer + 8);
  if (footer_bytes != kFooterBytes) {
    return Corrupt(path, "trailer footer_bytes = ", footer_bytes, ", expected ", kFooterBytes);
  }
  if (footer_offset != static_cast<uint64_t>(size) - kTrailerBytes - 4 - footer_bytes) {
    return Corrupt(path, "trailer footer_offset = ", footer_offset, ", expected ",
                   static_cast<uint64_t>(size) - kTrailerBytes - 4 - footer_bytes,
                   " for a file of ", size, " bytes");
  }
  std::vector<uint8_t> footer(footer_bytes + 4);
  FM_RETURN_IF_ERROR(
      r->ReadAt(static_cast<int64_t>(footer_offset), footer.data(), footer.size(), "footer"));
  if (traces::Crc32c(0, footer.data(), footer_bytes) !=
      LoadLE<uint32_t>(footer.data() + footer_bytes)) {
    return Corrupt(path, "footer CRC32C mismatch");
  }
  traces::ByteReader fr(std::span<const uint8_t>(footer.data(), footer_bytes));
  const uint64_t n_tokens = fr.Get<uint64_t>(), n_labels = fr.Get<uint64_t>(),
                 n_chunks = fr.Get<uint64_t>();
  const uint64_t records_offset = fr.Get<uint64_t>(), keys_offset = fr.Get<uint64_t>(),
                 table_offset = fr.Get<uint64_t>(), key_crc_offset = fr.Get<uint64_t>();

  // The sections must tile the file:
  // header | records | keys | offset table | key block CRCs | footer | trailer.
  const uint64_t usize = static_cast<uint64_t>(size);
  if (records_offset != static_cast<uint64_t>(header_end)) {
    return Corrupt(path, "footer records_offset = ", records_offset, ", expected ", header_end,
                   " (end of the header)");
  }
  if (key_crc_offset > footer_offset || n_tokens > usize / 8 || table_offset > key_crc_offset ||
      table_offset + n_tokens * 8 + 4 != key_crc_offset) {
    return Corrupt(path, "footer n_tokens = ", n_tokens, " / table_offset = ", table_offset,
                   " do not end the offset table at the key block CRCs (key_crc_offset ",
                   key_crc_offset, ")");
  }
  const uint64_t key_row_bytes = static_cast<uint64_t>(h.index_head_dim) * 4 * h.targets.size();
  if (keys_offset < records_offset || keys_offset > table_offset ||
      n_chunks > usize / key_row_bytes || keys_offset + n_chunks * key_row_bytes != table_offset) {
    return Corrupt(path, "footer keys_offset = ", keys_offset, " / n_chunks = ", n_chunks,
                   " do not fill the index-key section before the offset table (offset ",
                   table_offset, ")");
  }
  // n_chunks is bounded by the file size above, so this count is too.
  const uint64_t n_key_blocks =
      (n_chunks + static_cast<uint64_t>(h.key_block_rows) - 1) / h.key_block_rows;
  const uint64_t key_crc_bytes = n_key_blocks * h.targets.size() * 4;
  if (key_crc_offset + key_crc_bytes + 4 != footer_offset) {
    return Corrupt(path, "footer key_crc_offset = ", key_crc_offset, ": ", n_key_blocks,
                   " key blocks of ", h.key_block_rows, " rows x ", h.targets.size(),
                   " targets do not end the key block CRC table at the footer (offset ",
                   footer_offset, ")");
  }
  const size_t elem = h.hidden_dtype == HiddenDtype::kF32 ? 4 : 2;
  const uint64_t hidden_bytes = static_cast<uint64_t>(h.hidden_size) * h.targets.size() * elem;
  const uint64_t min_record = RecordBytes(0, hidden_bytes);
  if (n_tokens > (keys_offset - records_offset) / min_record ||
      (n_tokens == 0 && keys_offset != records_offset) ||
      n_labels > (keys_offset - records_offset) / 8) {
    return Corrupt(path, "footer n_tokens = ", n_tokens, " / n_labels = ", n_labels,
                   " do not fit the ", keys_offset - records_offset, "-byte record section");
  }
  r->counts_ = {static_cast<int64_t>(n_tokens), static_cast<int64_t>(n_labels),
                static_cast<int64_t>(n_chunks)};
  r->records_offset_ = static_cast<int64_t>(records_offset);
  r->keys_offset_ = static_cast<int64_t>(keys_offset);
  r->table_offset_ = static_cast<int64_t>(table_offset);
  r->key_crc_offset_ = static_cast<int64_t>(key_crc_offset);

  // Key block CRC table (bounded by the file size above).
  std::vector<uint8_t> crcs(key_crc_bytes + 4);
  FM_RETURN_IF_ERROR(
      r->ReadAt(r->key_crc_offset_, crcs.data(), crcs.size(), "key block CRC table"));
  if (traces::Crc32c(0, crcs.data(), key_crc_bytes) != LoadLE<uint32_t>(crcs.data() + key_crc_bytes)) {
    return Corrupt(path, "key block CRC table (offset ", key_crc_offset, "): CRC32C mismatch");
  }
  r->key_block_crcs_.resize(key_crc_bytes / 4);
  for (size_t i = 0; i < r->key_block_crcs_.size(); ++i)
    r->key_block_crcs_[i] = LoadLE<uint32_t>(crcs.data() + 4 * i);

  // Offset table (its size was bounded by the file size above).
  std::vector<uint8_t> table(n_tokens * 8 + 4);
  FM_RETURN_IF_ERROR(r->ReadAt(r->table_offset_, table.data(), table.size(), "offset table"));
  if (traces::Crc32c(0, table.data(), n_tokens * 8) !=
      LoadLE<uint32_t>(table.data() + n_tokens * 8)) {
    return Corrupt(path, "offset table CRC32C mismatch");
  }
  r->record_offsets_.resize(n_tokens + 1);
  for (uint64_t t = 0; t < n_tokens; ++t)
    r->record_offsets_[t] = LoadLE<uint64_t>(table.data() + t * 8);
  r->record_offsets_[n_tokens] = keys_offset;
  for (uint64_t t = 0; t < n_tokens; ++t) {
    const uint64_t a = r->record_offsets_[t], b = r->record_offsets_[t + 1];
    if ((t == 0 && a != records_offset) || b < a || b - a < min_record) {
      return Corrupt(path, "offset table entry ", t, " = ", a, " (next ", b,
                     "): records must start at ", records_offset, " and be at least ", min_record,
                     " bytes apart");
    }
  }
  return r;
}

absl::Status LabelFileReader::ReadRecord(int64_t t, bool with_hidden, TokenRecord* out) const {
  if (t < 0 || t >= counts_.n_tokens) {
    return absl::OutOfRangeError(
        absl::StrCat(path_.string(), ": token ", t, " of ", counts_.n_tokens));
  }
  const int64_t begin = static_cast<int64_t>(record_offsets_[static_cast<size_t>(t)]);
  const uint64_t size =
      record_offsets_[static_cast<size_t>(t) + 1] - record_offsets_[static_cast<size_t>(t)];
  const size_t elem = header_.hidden_dtype == HiddenDtype::kF32 ? 4 : 2;
  const size_t n_hidden = static_cast<size_t>(header_.hidden_size) * header_.targets.size();
  const std::string where = absl::StrCat("record ", t, " (offset ", begin, ")");
  uint8_t fixed[kRecordFixedBytes];
  FM_RETURN_IF_ERROR(ReadAt(begin, fixed, sizeof(fixed), "token record"));
  const uint32_t record_bytes = LoadLE<uint32_t>(fixed), n_labels = LoadLE<uint32_t>(fixed + 4);
  if (record_bytes != size || n_labels > size / 8 ||
      RecordBytes(n_labels, n_hidden * elem) != size) {
    return Corrupt(path_, where, ": record_bytes = ", record_bytes, ", n_labels = ", n_labels,
                   ", expected ", size, " bytes in all (from the offset table)");
  }
  const size_t meta_bytes = kRecordFixedBytes + 8 * n_labels;
  std::vector<uint8_t> buf(with_hidden ? size : meta_bytes + 4);
  FM_RETURN_IF_ERROR(ReadAt(begin, buf.data(), buf.size(), "token record"));
  if (traces::Crc32c(0, buf.data(), meta_bytes) != LoadLE<uint32_t>(buf.data() + meta_bytes)) {
    return Corrupt(path_, where, ": labels CRC32C mismatch");
  }
  const uint64_t index = LoadLE<uint64_t>(buf.data() + 8);
  if (index != static_cast<uint64_t>(t))
    return Corrupt(path_, where, ": token index = ", index, ", expected ", t);
  out->position = LoadLE<int64_t>(buf.data() + 16);
  out->token = LoadLE<int32_t>(buf.data() + 24);
  if (out->position < 0 || out->position > kMaxPosition) {
    return Corrupt(path_, where, ": position = ", out->position, ", expected in [0, 2^40]");
  }
  const int64_t n_blk = (out->position + 1) / header_.tokens_per_chunk;
  out->labels.resize(n_labels);
  for (size_t i = 0; i < n_labels; ++i) {
    GoldenChunk& g = out->labels[i];
    g.chunk = LoadLE<int32_t>(buf.data() + kRecordFixedBytes + 8 * i);
    g.votes = LoadLE<int32_t>(buf.data() + kRecordFixedBytes + 8 * i + 4);
    if (g.chunk < 0 || g.chunk >= n_blk || g.votes < 1 || g.votes > header_.n_csa_layers) {
      return Corrupt(path_, where, ": label ", i, " = (chunk ", g.chunk, ", votes ", g.votes,
                     "), expected chunk < ", n_blk, " and votes in [1, ", header_.n_csa_layers,
                     "]");
    }
  }
  out->hidden.clear();
  if (!with_hidden) return absl::OkStatus();
  const uint8_t* hidden = buf.data() + meta_bytes + 4;
  const size_t hidden_bytes = n_hidden * elem;
  if (traces::Crc32c(0, hidden, hidden_bytes) != LoadLE<uint32_t>(hidden + hidden_bytes)) {
    return Corrupt(path_, where, ": hidden-state CRC32C mismatch");
  }
  out->hidden.resize(n_hidden);
  for (size_t i = 0; i < n_hidden; ++i) {
    out->hidden[i] = elem == 4 ? LoadLE<float>(hidden + 4 * i)
                               : kernels::Bf16ToFloat(LoadLE<uint16_t>(hidden + 2 * i));
  }
  return absl::OkStatus();
}

absl::Status LabelFileReader::ReadToken(int64_t t, TokenRecord* out) const {
  return ReadRecord(t, true, out);
}

absl::Status LabelFileReader::ReadLabels(int64_t t, TokenRecord* out) const {
  return ReadRecord(t, false, out);
}

int64_t LabelFileReader::key_block_size(int64_t block) const {
  return std::min(header_.key_block_rows, counts_.n_chunks - block * header_.key_block_rows);
}

int64_t LabelFileReader::KeyOffset(int64_t target, int64_t row) const {
  return keys_offset_ + (target * counts_.n_chunks + row) * header_.index_head_dim *
                            static_cast<int64_t>(sizeof(float));
}

absl::Status LabelFileReader::CheckKeyBlock(int64_t target, int64_t block, const float* data,
                                            int64_t rows, int64_t offset) const {
  const uint32_t stored = key_block_crcs_[static_cast<size_t>(target * n_key_blocks() + block)];
  const size_t bytes = static_cast<size_t>(rows * header_.index_head_dim) * sizeof(float);
  if (traces::Crc32c(0, data, bytes) != stored) {
    const int64_t first = block * header_.key_block_rows;
    return Corrupt(path_, "index keys of target ", target, " block ", block, " (rows ", first,
                   "..", first + rows - 1, ", offset ", offset, "): CRC32C mismatch");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> LabelFileReader::ReadIndexKeys(int64_t target) const {
  if (target < 0 || target >= n_targets()) {
    return absl::OutOfRangeError(
        absl::StrCat(path_.string(), ": index keys of target ", target, " of ", n_targets()));
  }
  const int64_t DI = header_.index_head_dim;
  std::vector<float> keys(static_cast<size_t>(counts_.n_chunks * DI));
  const int64_t offset = KeyOffset(target, 0);
  FM_RETURN_IF_ERROR(ReadAt(offset, keys.data(), keys.size() * sizeof(float), "index keys"));
  for (int64_t b = 0; b < n_key_blocks(); ++b) {
    const int64_t row = b * header_.key_block_rows;
    FM_RETURN_IF_ERROR(
        CheckKeyBlock(target, b, keys.data() + row * DI, key_block_size(b), KeyOffset(target, row)));
  }
  return keys;
}

absl::Status LabelFileReader::ReadIndexKeyBlock(int64_t target, int64_t block,
                                                std::vector<float>* out) const {
  if (target < 0 || target >= n_targets() || block < 0 || block >= n_key_blocks()) {
    return absl::OutOfRangeError(absl::StrCat(path_.string(), ": index key block ", block,
                                              " of target ", target, " (", n_key_blocks(),
                                              " blocks x ", n_targets(), " targets)"));
  }
  const int64_t rows = key_block_size(block);
  out->resize(static_cast<size_t>(rows * header_.index_head_dim));
  const int64_t offset = KeyOffset(target, block * header_.key_block_rows);
  FM_RETURN_IF_ERROR(ReadAt(offset, out->data(), out->size() * sizeof(float), "index keys"));
  return CheckKeyBlock(target, block, out->data(), rows, offset);
}

absl::Status LabelFileReader::ReadIndexKeyRows(int64_t target, absl::Span<const int32_t> rows,
                                               float* out) const {
  if (target < 0 || target >= n_targets()) {
    return absl::OutOfRangeError(
        absl::StrCat(path_.string(), ": index keys of target ", target, " of ", n_targets()));
  }
  // Visit the rows block by block so that each block is read and checked once.
  std::vector<size_t> order(rows.size());
  for (size_t i = 0; i < order.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= counts_.n_chunks) {
      return absl::OutOfRangeError(absl::StrCat(path_.string(), ": index key row ", rows[i],
                                                " of ", counts_.n_chunks, " (target ", target,
                                                ")"));
    }
    order[i] = i;
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rows[a] < rows[b]; });
  const int64_t DI = header_.index_head_dim, R = header_.key_block_rows;
  std::vector<float> block;
  int64_t loaded = -1;
  for (size_t i : order) {
    const int64_t b = rows[i] / R;
    if (b != loaded) {
      FM_RETURN_IF_ERROR(ReadIndexKeyBlock(target, b, &block));
      loaded = b;
    }
    std::copy_n(block.data() + (rows[i] - b * R) * DI, DI, out + static_cast<int64_t>(i) * DI);
  }
  return absl::OkStatus();
}

absl::Status LabelFileReader::Validate() const {
  TokenRecord rec;
  int64_t labels = 0;
  for (int64_t t = 0; t < counts_.n_tokens; ++t) {
    FM_RETURN_IF_ERROR(ReadToken(t, &rec));
    labels += static_cast<int64_t>(rec.labels.size());
  }
  if (labels != counts_.n_labels) {
    return Corrupt(path_, "footer n_labels = ", counts_.n_labels, ", the records hold ", labels);
  }
  for (int64_t t = 0; t < n_targets(); ++t) FM_RETURN_IF_ERROR(ReadIndexKeys(t).status());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::filesystem::path>> ListLabelFiles(
    const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir.string(), ": not a directory of label files"));
  }
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && e.path().extension() == kLabelFileExtension)
      files.push_back(e.path());
  }
  if (ec)
    return absl::InvalidArgumentError(absl::StrCat(dir.string(), ": listing: ", ec.message()));
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace fm::rt::labels
