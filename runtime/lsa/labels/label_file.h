#pragma once
// Label files (`.fmlabels`): what `flashmem label` writes and `flashmem train-indexer` reads
// (V4_FLASH_LSA.md §7, the reference's doc_XXXXX.pkl in a streamable, checksummed form). One file
// holds one document: a header (model identity, target layers, label constants), one record per
// decode token (position, token id, the target layers' normalised attention input h, the token's
// golden chunks with their vote counts = one CSR row), the index keys of every target layer over
// all chunks of prompt + response (dequantised fp32, what the native indexer and the trainer
// score) in CRC-checked blocks of key_block_rows rows, an offset table, the key blocks' CRC table
// and a footer. Every section carries a CRC-32C. The key blocks let the trainer read only the rows
// a sample scores (ReadIndexKeyRows) instead of a whole document's keys. A corpus is a directory
// of such files, one per document (ListLabelFiles). Byte layout: runtime/lsa/labels/README.md.
//
// The writer streams: it holds one token's record at a time, and the offset table is rebuilt at
// Finish by walking the records it wrote, so its memory does not grow with the document. The
// reader validates the header, footer, section bounds and offset table at Open (before any
// allocation sized by the file) and each record's CRCs when the record is read.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace fm::rt::labels {

// Version 2 stores the index keys in CRC-checked row blocks (version 1: one CRC per target).
// The reader refuses other versions with an error naming both (re-run `flashmem label`).
inline constexpr uint32_t kLabelFileVersion = 2;
// 16 rows: a sample scores a few hundred rows spread uniformly over all visible chunks (the
// negatives), so the fraction of blocks it touches grows with the block size: for 600 rows of
// 32K chunks (128K context), 16-row blocks touch ~25% of a target's keys, 256-row blocks ~99%.
inline constexpr int64_t kDefaultKeyBlockRows = 16;
inline constexpr char kLabelFileExtension[] = ".fmlabels";

// How the hidden states are stored. The reader always hands out fp32.
enum class HiddenDtype : uint8_t {
  kF32 = 0,   // bit-exact copy of Sequence::CapturedHidden (default)
  kBf16 = 1,  // round-to-nearest-even, half the bytes (the reference's dump dtype)
};

// The golden-set constants of spec §7 (all are `flashmem label` flags).
struct LabelConstants {
  int32_t topk = 512;      // k = min(topk, n_blk) logits per layer
  float top_p = 0.6f;      // nucleus mass over the softmax of those k
  int32_t min_layers = 3;  // θ: votes a chunk needs to be golden
};

// One target CSA layer: its index among the CSA layers (the `retrievers.l{c}` name) and its
// decoder layer.
struct LabelTarget {
  int64_t csa_index = 0;
  int64_t model_layer = 0;
};

struct LabelFileHeader {
  uint32_t version = kLabelFileVersion;  // set by the writer
  int64_t hidden_size = 0;               // length of h per target
  int64_t index_head_dim = 0;            // length of one index key
  int64_t index_n_heads = 0;             // heads of the native indexer (for initialisation checks)
  int64_t tokens_per_chunk = 4;          // the CSA compression ratio
  int64_t n_csa_layers = 0;              // layers that voted (every CSA layer of the model)
  std::vector<LabelTarget> targets;      // the layers whose h and keys are stored, in order
  LabelConstants constants;
  HiddenDtype hidden_dtype = HiddenDtype::kF32;
  int64_t n_prompt_tokens = 0;  // tokens prefilled before the first decode token
  // Index-key rows per CRC block: the unit ReadIndexKeyRows reads and checks (the last block of a
  // target may be shorter). 16 fp32 rows of a 128-dim key are 8 KiB.
  int64_t key_block_rows = kDefaultKeyBlockRows;
  std::string source;           // free text, e.g. "model=DIR prompt=FILE" (<= 4096 B)
};

// One golden chunk of a token: chunk index (< floor((position + 1) / 4)) and its vote count.
struct GoldenChunk {
  int32_t chunk = 0;
  int32_t votes = 0;
  friend bool operator==(const GoldenChunk&, const GoldenChunk&) = default;
};

// One decode token as read back.
struct TokenRecord {
  int64_t position = 0;             // absolute position of the token
  int32_t token = 0;                // the token id fed at that position
  std::vector<float> hidden;        // [n_targets][hidden_size], fp32 (bf16 widened)
  std::vector<GoldenChunk> labels;  // votes descending, then chunk ascending

  absl::Span<const float> target_hidden(int64_t target, int64_t hidden_size) const {
    return absl::MakeConstSpan(hidden).subspan(static_cast<size_t>(target * hidden_size),
                                               static_cast<size_t>(hidden_size));
  }
};

struct LabelFileCounts {
  int64_t n_tokens = 0;  // decode-token records
  int64_t n_labels = 0;  // golden chunks over all tokens (the CSR's nnz)
  int64_t n_chunks = 0;  // index keys per target (chunks of prompt + response)
};

// Streams one document to `path`. The file is written as `path` + ".tmp" and renamed on Finish,
// so an interrupted run never leaves a file under the final name (the destructor removes the
// temporary file when Finish was not reached). Order of calls: AppendToken* (one per decode
// token), then AppendIndexKeys for target 0 over all chunks (in as many calls as wanted), target
// 1, ..., then Finish. Not thread-safe.
class LabelFileWriter {
 public:
  // InvalidArgument names a bad header field; an I/O error names the path.
  static absl::StatusOr<std::unique_ptr<LabelFileWriter>> Create(const std::filesystem::path& path,
                                                                 const LabelFileHeader& header);
  ~LabelFileWriter();
  LabelFileWriter(const LabelFileWriter&) = delete;
  LabelFileWriter& operator=(const LabelFileWriter&) = delete;

  // One decode token. `hidden` holds one span of hidden_size floats per target, in target order;
  // `labels` the token's golden chunks (any order is accepted and stored as given; GoldenSet
  // returns them sorted). InvalidArgument for a wrong shape, a negative chunk or votes <= 0.
  absl::Status AppendToken(int64_t position, int32_t token,
                           absl::Span<const absl::Span<const float>> hidden,
                           absl::Span<const GoldenChunk> labels);

  // The next `n` index keys ([n][index_head_dim] fp32) of target `target`. Targets must come in
  // order and every target must end with the same chunk count.
  absl::Status AppendIndexKeys(int64_t target, const float* keys, int64_t n);

  // Writes the offset table and footer, syncs and renames. The writer is unusable afterwards.
  absl::Status Finish();

  const LabelFileHeader& header() const { return header_; }
  const LabelFileCounts& counts() const { return counts_; }
  int64_t bytes_written() const { return bytes_written_; }
  // Heap bytes the writer holds between calls (the capacity of its one-record buffer): bounded by
  // the largest single record, independent of the token count. Finish adds one fixed 32 KiB block
  // for the offset table.
  size_t buffered_bytes() const;

 private:
  LabelFileWriter(std::filesystem::path path, LabelFileHeader header, int fd);
  absl::Status Write(const void* data, size_t n, const char* section);
  absl::Status Fail(absl::Status s);
  void FinishKeyBlock();  // records the CRC of the block being written (if it has rows)

  std::filesystem::path path_, tmp_path_;
  LabelFileHeader header_;
  int fd_ = -1;
  bool finished_ = false;
  absl::Status error_;  // sticky: after a failure every call returns it
  LabelFileCounts counts_;
  int64_t bytes_written_ = 0;
  int64_t records_offset_ = 0;      // first token record
  int64_t keys_offset_ = -1;        // first index key (-1 until the first AppendIndexKeys)
  int64_t keys_target_ = 0;     // target receiving keys
  int64_t keys_in_target_ = 0;  // keys written for keys_target_
  // CRCs of the finished key blocks, target by target (4 B per block: 1 KiB for 64K chunks), and
  // the running CRC of the block being written.
  std::vector<uint32_t> key_block_crcs_;
  uint32_t block_crc_ = 0;
  int64_t rows_in_block_ = 0;
  std::vector<uint8_t> buf_;        // one record
};

// Reads one document. Thread-safe after Open (pread only).
class LabelFileReader {
 public:
  // Validates magic, version, header, footer, section bounds, the offset table and their CRCs.
  // Errors (DataLoss / InvalidArgument / NotFound) name the file, the section or field and the
  // value found.
  static absl::StatusOr<std::unique_ptr<LabelFileReader>> Open(const std::filesystem::path& path);
  ~LabelFileReader();
  LabelFileReader(const LabelFileReader&) = delete;
  LabelFileReader& operator=(const LabelFileReader&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const LabelFileHeader& header() const { return header_; }
  const LabelFileCounts& counts() const { return counts_; }
  int64_t n_tokens() const { return counts_.n_tokens; }
  int64_t n_targets() const { return static_cast<int64_t>(header_.targets.size()); }
  int64_t file_bytes() const { return file_bytes_; }

  // Token t's record (labels and hidden), both CRCs checked. OutOfRange for a bad t.
  absl::Status ReadToken(int64_t t, TokenRecord* out) const;
  // Token t's position, token id and labels only (skips the hidden states; the label part has its
  // own CRC). `out->hidden` is cleared.
  absl::Status ReadLabels(int64_t t, TokenRecord* out) const;

  // All index keys of target `target`, dequantised fp32 [n_chunks][index_head_dim], every block's
  // CRC checked.
  absl::StatusOr<std::vector<float>> ReadIndexKeys(int64_t target) const;
  // Rows `rows` (chunk ids, any order, repeats allowed) of target `target` into
  // out[rows.size()][index_head_dim]. Reads and checks only the blocks that hold them, each once.
  // OutOfRange for a bad target or row; DataLoss naming the block for a CRC mismatch.
  absl::Status ReadIndexKeyRows(int64_t target, absl::Span<const int32_t> rows, float* out) const;
  // Block `block` of target `target` (rows [block * key_block_rows, ...)), CRC checked, into
  // `out` (resized to the block's rows x index_head_dim). What a row-block cache reads.
  absl::Status ReadIndexKeyBlock(int64_t target, int64_t block, std::vector<float>* out) const;
  int64_t key_block_rows() const { return header_.key_block_rows; }
  int64_t n_key_blocks() const {
    return (counts_.n_chunks + header_.key_block_rows - 1) / header_.key_block_rows;
  }
  // Rows of block `block` (key_block_rows, or fewer for the last one).
  int64_t key_block_size(int64_t block) const;

  // Bytes this reader has read from the file so far (all calls, all threads).
  int64_t bytes_read() const { return bytes_read_.load(std::memory_order_relaxed); }

  // Reads every record and key section and checks every CRC (what `flashmem label --info` runs).
  absl::Status Validate() const;

 private:
  LabelFileReader(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}
  absl::Status ReadAt(int64_t offset, void* out, size_t n, const char* what) const;
  absl::Status ReadRecord(int64_t t, bool with_hidden, TokenRecord* out) const;
  // Checks `rows` rows of key block `block` of `target` (read from `offset`) against its CRC.
  absl::Status CheckKeyBlock(int64_t target, int64_t block, const float* data, int64_t rows,
                             int64_t offset) const;
  int64_t KeyOffset(int64_t target, int64_t row) const;

  std::filesystem::path path_;
  int fd_ = -1;
  int64_t file_bytes_ = 0;
  LabelFileHeader header_;
  LabelFileCounts counts_;
  int64_t records_offset_ = 0, keys_offset_ = 0, table_offset_ = 0, key_crc_offset_ = 0;
  std::vector<uint64_t> record_offsets_;  // [n_tokens + 1]; the last one is keys_offset_
  std::vector<uint32_t> key_block_crcs_;  // [n_targets][n_key_blocks]
  mutable std::atomic<int64_t> bytes_read_{0};
};

// The label files of a corpus directory (every regular file ending in .fmlabels), sorted by name.
// NotFound / InvalidArgument name the directory.
absl::StatusOr<std::vector<std::filesystem::path>> ListLabelFiles(const std::filesystem::path& dir);

}  // namespace fm::rt::labels
