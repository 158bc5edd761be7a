// Index keys in CRC-checked row blocks (label file version 2): ReadIndexKeyRows returns exactly
// the rows asked for and reads only the blocks that hold them (also from several threads at
// once); a flipped byte in one key block fails the reads of that block only, naming the file,
// target and block; a flipped byte in the block CRC table is refused at Open; a version-1 file is
// refused with an error naming the file and both versions.

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "runtime/lsa/labels/label_file.h"
#include "runtime/lsa/labels/label_file_test_util.h"
#include "runtime/weights/test_util.h"

namespace fm::rt::labels {
namespace {

constexpr int64_t kChunks = 19, kBlockRows = 4;  // 5 blocks per target, the last of 3 rows

class KeyBlocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    header_ = testing::SmallHeader(HiddenDtype::kF32);
    header_.key_block_rows = kBlockRows;
    doc_ = testing::MakeDoc(header_, 5, kChunks);
    path_ = dir_.path() / "doc.fmlabels";
    ASSERT_TRUE(testing::WriteDoc(path_, header_, doc_).ok());
    good_ = rt::testing::ReadBytes(path_);
  }
  const float* Key(int64_t target, int64_t row) const {
    return doc_.keys.data() + (target * kChunks + row) * header_.index_head_dim;
  }
  int64_t RowBytes() const { return header_.index_head_dim * static_cast<int64_t>(sizeof(float)); }
  // File offset of row `row` of target `target` (the keys end where the offset table begins).
  size_t KeyByte(int64_t target, int64_t row) const {
    const size_t table_and_tail = 5 * 8 + 4 + 2 * 5 * 4 + 4 + 56 + 4 + 24;
    const size_t keys_begin = good_.size() - table_and_tail - 2 * kChunks * RowBytes();
    return keys_begin + static_cast<size_t>((target * kChunks + row) * RowBytes());
  }

  rt::testing::ScratchDir dir_{"labels_key_blocks"};
  LabelFileHeader header_;
  testing::Doc doc_;
  std::filesystem::path path_;
  std::string good_;
};

TEST_F(KeyBlocksTest, RowsComeBackExactlyAndOnlyTheirBlocksAreRead) {
  auto r = LabelFileReader::Open(path_);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ((*r)->key_block_rows(), kBlockRows);
  ASSERT_EQ((*r)->n_key_blocks(), 5);
  EXPECT_EQ((*r)->key_block_size(4), 3);
  const std::vector<int32_t> rows = {17, 2, 2, 5, 18, 0};  // blocks 4, 0, 0, 1, 4, 0
  const int64_t DI = header_.index_head_dim;
  for (int64_t target = 0; target < 2; ++target) {
    std::vector<float> out(rows.size() * static_cast<size_t>(DI), -1.0f);
    const int64_t before = (*r)->bytes_read();
    ASSERT_TRUE((*r)->ReadIndexKeyRows(target, rows, out.data()).ok());
    // Blocks 0 and 1 (4 rows each) and block 4 (3 rows), each read once.
    EXPECT_EQ((*r)->bytes_read() - before, (4 + 4 + 3) * RowBytes());
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(std::vector<float>(out.begin() + static_cast<std::ptrdiff_t>(i) * DI,
                                   out.begin() + static_cast<std::ptrdiff_t>(i + 1) * DI),
                std::vector<float>(Key(target, rows[i]), Key(target, rows[i]) + DI))
          << "target " << target << " row " << rows[i];
    }
  }
  const int64_t before = (*r)->bytes_read();
  EXPECT_TRUE((*r)->ReadIndexKeyRows(0, {}, nullptr).ok());
  EXPECT_EQ((*r)->bytes_read(), before);
  std::vector<float> one(static_cast<size_t>(DI));
  const std::vector<int32_t> past = {static_cast<int32_t>(kChunks)}, negative = {-1};
  EXPECT_EQ((*r)->ReadIndexKeyRows(0, past, one.data()).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ((*r)->ReadIndexKeyRows(0, negative, one.data()).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ((*r)->ReadIndexKeyRows(2, rows, one.data()).code(), absl::StatusCode::kOutOfRange);
  std::vector<float> block;
  EXPECT_EQ((*r)->ReadIndexKeyBlock(0, 5, &block).code(), absl::StatusCode::kOutOfRange);

  // Several threads share the reader (pread only).
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      std::vector<float> got(static_cast<size_t>(DI));
      for (int32_t row = 0; row < kChunks; ++row) {
        const std::vector<int32_t> one_row = {row};
        if (!(*r)->ReadIndexKeyRows(k % 2, one_row, got.data()).ok() ||
            got != std::vector<float>(Key(k % 2, row), Key(k % 2, row) + DI)) {
          ++mismatches[static_cast<size_t>(k)];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST_F(KeyBlocksTest, FlippedKeyByteFailsOnlyItsBlock) {
  std::string bytes = good_;
  const size_t at = KeyByte(1, 9) + 2;  // target 1, row 9: block 2
  bytes[at] = static_cast<char>(bytes[at] ^ 0x10);
  rt::testing::WriteBytes(path_, bytes);
  auto r = LabelFileReader::Open(path_);
  ASSERT_TRUE(r.ok()) << r.status();  // blocks are checked when read
  std::vector<float> out(2 * static_cast<size_t>(header_.index_head_dim));
  const std::vector<int32_t> in_block = {8, 1}, elsewhere = {7, 12};
  absl::Status s = (*r)->ReadIndexKeyRows(1, in_block, out.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("doc.fmlabels"), std::string::npos) << s;
  EXPECT_NE(s.message().find("target 1 block 2 (rows 8..11"), std::string::npos) << s;
  EXPECT_TRUE((*r)->ReadIndexKeyRows(1, elsewhere, out.data()).ok());
  EXPECT_TRUE((*r)->ReadIndexKeyRows(0, in_block, out.data()).ok());
  EXPECT_EQ((*r)->ReadIndexKeys(1).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE((*r)->ReadIndexKeys(0).ok());
  EXPECT_FALSE((*r)->Validate().ok());
}

TEST_F(KeyBlocksTest, FlippedBlockCrcTableIsRefusedAtOpen) {
  // The CRC table (2 targets x 5 blocks, then its own CRC) sits before the footer and trailer.
  const size_t table_end = good_.size() - 24 - 60;
  for (size_t at : {table_end - 44, table_end - 20, table_end - 2}) {
    std::string bytes = good_;
    bytes[at] = static_cast<char>(bytes[at] ^ 0x01);
    rt::testing::WriteBytes(path_, bytes);
    auto r = LabelFileReader::Open(path_);
    ASSERT_FALSE(r.ok()) << "flip at " << at;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
    EXPECT_NE(r.status().message().find("doc.fmlabels"), std::string::npos) << r.status();
    EXPECT_NE(r.status().message().find("key block CRC table"), std::string::npos) << r.status();
  }
}

TEST_F(KeyBlocksTest, VersionOneIsRefusedNamingBothVersions) {
  std::string bytes = good_;
  bytes[8] = 1;  // u32 version, little-endian
  rt::testing::WriteBytes(path_, bytes);
  auto r = LabelFileReader::Open(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_NE(r.status().message().find("doc.fmlabels: header version = 1, this build reads "
                                      "version 2"),
            std::string::npos)
      << r.status();
  EXPECT_NE(r.status().message().find("re-run `flashmem label`"), std::string::npos)
      << r.status();
}

TEST(KeyBlockRowsTest, WriterRejectsABadBlockSize) {
  rt::testing::ScratchDir dir("labels_key_block_rows");
  for (int64_t rows : {int64_t{0}, int64_t{-3}, (int64_t{1} << 20) + 1}) {
    LabelFileHeader h = testing::SmallHeader(HiddenDtype::kF32);
    h.key_block_rows = rows;
    auto w = LabelFileWriter::Create(dir.path() / "bad.fmlabels", h);
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.status().message().find("key_block_rows = " + std::to_string(rows)),
              std::string::npos)
        << w.status();
  }
}

}  // namespace
}  // namespace fm::rt::labels
