// Label-file format tests without a model: writer/reader round trip (f32 and bf16 hidden states,
// empty documents), the writer's argument checks and bounded buffering, and corrupt input: every
// single-byte flip and every truncation of a small file is an error naming the file, never a
// crash or a silently different read.

#include "runtime/lsa/labels/label_file.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "kernels/numeric_formats.h"
#include "runtime/lsa/labels/label_file_test_util.h"
#include "runtime/weights/test_util.h"

namespace fm::rt::labels {
namespace {

using rt::testing::ReadBytes;
using rt::testing::ScratchDir;
using rt::testing::WriteBytes;

using testing::Doc;
using testing::MakeDoc;
using testing::SmallHeader;
using testing::WriteDoc;

void ExpectReadsBack(const std::filesystem::path& path, const LabelFileHeader& h, const Doc& d) {
  auto r = LabelFileReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status();
  const LabelFileHeader& g = (*r)->header();
  EXPECT_EQ(g.version, kLabelFileVersion);
  EXPECT_EQ(g.hidden_size, h.hidden_size);
  EXPECT_EQ(g.index_head_dim, h.index_head_dim);
  EXPECT_EQ(g.index_n_heads, h.index_n_heads);
  EXPECT_EQ(g.n_csa_layers, h.n_csa_layers);
  ASSERT_EQ(g.targets.size(), h.targets.size());
  for (size_t k = 0; k < h.targets.size(); ++k) {
    EXPECT_EQ(g.targets[k].csa_index, h.targets[k].csa_index);
    EXPECT_EQ(g.targets[k].model_layer, h.targets[k].model_layer);
  }
  EXPECT_EQ(g.constants.topk, h.constants.topk);
  EXPECT_EQ(g.constants.top_p, h.constants.top_p);
  EXPECT_EQ(g.constants.min_layers, h.constants.min_layers);
  EXPECT_EQ(g.hidden_dtype, h.hidden_dtype);
  EXPECT_EQ(g.n_prompt_tokens, h.n_prompt_tokens);
  EXPECT_EQ(g.key_block_rows, h.key_block_rows);
  EXPECT_EQ(g.source, h.source);
  ASSERT_EQ((*r)->n_tokens(), static_cast<int64_t>(d.hidden.size()));
  EXPECT_EQ((*r)->counts().n_chunks, d.n_chunks);
  int64_t n_labels = 0;
  TokenRecord rec;
  for (size_t t = 0; t < d.hidden.size(); ++t) {
    ASSERT_TRUE((*r)->ReadToken(static_cast<int64_t>(t), &rec).ok());
    EXPECT_EQ(rec.position, h.n_prompt_tokens + static_cast<int64_t>(t));
    EXPECT_EQ(rec.token, 100 + static_cast<int32_t>(t));
    EXPECT_EQ(rec.labels, d.labels[t]);
    ASSERT_EQ(rec.hidden.size(), d.hidden[t].size());
    for (size_t i = 0; i < rec.hidden.size(); ++i) {
      const float want = h.hidden_dtype == HiddenDtype::kF32
                             ? d.hidden[t][i]
                             : kernels::Bf16ToFloat(kernels::FloatToBf16(d.hidden[t][i]));
      ASSERT_EQ(std::memcmp(&rec.hidden[i], &want, 4), 0) << "token " << t << " element " << i;
    }
    TokenRecord only;
    ASSERT_TRUE((*r)->ReadLabels(static_cast<int64_t>(t), &only).ok());
    EXPECT_EQ(only.labels, d.labels[t]);
    EXPECT_TRUE(only.hidden.empty());
    n_labels += static_cast<int64_t>(rec.labels.size());
  }
  EXPECT_EQ((*r)->counts().n_labels, n_labels);
  const size_t per_target = static_cast<size_t>(d.n_chunks * h.index_head_dim);
  for (size_t k = 0; k < h.targets.size(); ++k) {
    auto keys = (*r)->ReadIndexKeys(static_cast<int64_t>(k));
    ASSERT_TRUE(keys.ok()) << keys.status();
    EXPECT_EQ(*keys, std::vector<float>(
                         d.keys.begin() + static_cast<std::ptrdiff_t>(k * per_target),
                         d.keys.begin() + static_cast<std::ptrdiff_t>((k + 1) * per_target)));
  }
  EXPECT_TRUE((*r)->Validate().ok());
  EXPECT_EQ((*r)->ReadToken(-1, &rec).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ((*r)->ReadToken((*r)->n_tokens(), &rec).code(), absl::StatusCode::kOutOfRange);
  EXPECT_FALSE((*r)->ReadIndexKeys(static_cast<int64_t>(h.targets.size())).ok());
}

TEST(LabelFileTest, RoundTripF32AndBf16) {
  ScratchDir dir("labels_roundtrip");
  for (HiddenDtype dtype : {HiddenDtype::kF32, HiddenDtype::kBf16}) {
    LabelFileHeader h = SmallHeader(dtype);
    if (dtype == HiddenDtype::kBf16) h.key_block_rows = 3;  // 7 chunks: blocks of 3, 3 and 1
    const Doc d = MakeDoc(h, 9, 7);
    const auto path = dir.path() / (dtype == HiddenDtype::kF32 ? "f32.fmlabels" : "bf16.fmlabels");
    ASSERT_TRUE(WriteDoc(path, h, d).ok());
    EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
    ExpectReadsBack(path, h, d);
  }
}

TEST(LabelFileTest, EmptyDocumentsAreValid) {
  ScratchDir dir("labels_empty");
  const LabelFileHeader h = SmallHeader(HiddenDtype::kF32);
  ASSERT_TRUE(WriteDoc(dir.path() / "a.fmlabels", h, MakeDoc(h, 0, 0)).ok());
  ExpectReadsBack(dir.path() / "a.fmlabels", h, MakeDoc(h, 0, 0));
  ASSERT_TRUE(WriteDoc(dir.path() / "b.fmlabels", h, MakeDoc(h, 3, 0)).ok());
  ExpectReadsBack(dir.path() / "b.fmlabels", h, MakeDoc(h, 3, 0));
  // A writer finished without a single AppendIndexKeys call: zero chunks.
  auto w = LabelFileWriter::Create(dir.path() / "c.fmlabels", h);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Finish().ok());
  auto r = LabelFileReader::Open(dir.path() / "c.fmlabels");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->counts().n_chunks, 0);
}

TEST(LabelFileTest, WriterRejectsBadInputAndLeavesNoFileWhenUnfinished) {
  ScratchDir dir("labels_writer_args");
  LabelFileHeader bad = SmallHeader(HiddenDtype::kF32);
  bad.targets[1].csa_index = 3;  // only 3 CSA layers
  auto wb = LabelFileWriter::Create(dir.path() / "bad.fmlabels", bad);
  ASSERT_FALSE(wb.ok());
  EXPECT_NE(wb.status().message().find("csa_index"), std::string::npos) << wb.status();
  EXPECT_NE(wb.status().message().find("bad.fmlabels"), std::string::npos) << wb.status();
  bad = SmallHeader(HiddenDtype::kF32);
  bad.constants.top_p = 0.0f;
  EXPECT_FALSE(LabelFileWriter::Create(dir.path() / "bad.fmlabels", bad).ok());

  const LabelFileHeader h = SmallHeader(HiddenDtype::kF32);
  const auto path = dir.path() / "x.fmlabels";
  {
    auto w = LabelFileWriter::Create(path, h);
    ASSERT_TRUE(w.ok());
    std::vector<float> row(8, 1.0f), short_row(7, 1.0f);
    const std::vector<absl::Span<const float>> ok_rows = {row, row};
    EXPECT_FALSE((*w)->AppendToken(20, 1, {row}, {}).ok());             // one target missing
    EXPECT_FALSE((*w)->AppendToken(20, 1, {row, short_row}, {}).ok());  // short hidden
    EXPECT_FALSE((*w)->AppendToken(20, 1, ok_rows, {GoldenChunk{-1, 3}}).ok());  // negative chunk
    EXPECT_FALSE((*w)->AppendToken(20, 1, ok_rows, {GoldenChunk{2, 0}}).ok());   // zero votes
    ASSERT_TRUE((*w)->AppendToken(20, 1, ok_rows, {GoldenChunk{2, 3}}).ok());
    std::vector<float> keys(3 * 4, 0.5f);
    EXPECT_FALSE((*w)->AppendIndexKeys(1, keys.data(), 3).ok());  // target 0 first
    ASSERT_TRUE((*w)->AppendIndexKeys(0, keys.data(), 3).ok());
    EXPECT_FALSE((*w)->AppendToken(21, 1, ok_rows, {}).ok());  // records are done
    ASSERT_TRUE((*w)->AppendIndexKeys(1, keys.data(), 2).ok());
    EXPECT_FALSE((*w)->AppendIndexKeys(1, keys.data(), 2).ok());  // more than target 0
    EXPECT_FALSE((*w)->Finish().ok());                            // target 1 has 2 of 3 keys
    EXPECT_TRUE(std::filesystem::exists(path.string() + ".tmp"));
  }
  // Destroyed unfinished: neither the file nor its temporary remains.
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
  EXPECT_FALSE(LabelFileWriter::Create(dir.path() / "no_such_dir" / "y.fmlabels", h).ok());
}

TEST(LabelFileTest, WriterBufferingDoesNotGrowWithTokens) {
  ScratchDir dir("labels_streaming");
  const LabelFileHeader h = SmallHeader(HiddenDtype::kF32);
  auto w = LabelFileWriter::Create(dir.path() / "long.fmlabels", h);
  ASSERT_TRUE(w.ok());
  std::vector<float> row(8, 0.25f);
  const std::vector<absl::Span<const float>> rows = {row, row};
  const std::vector<GoldenChunk> labels = {{1, 3}, {2, 2}, {4, 2}};
  size_t after_first = 0;
  const int64_t n = 3 * 4096 + 17;  // several offset-table blocks at Finish
  for (int64_t t = 0; t < n; ++t) {
    ASSERT_TRUE((*w)->AppendToken(20 + t, 7, rows, labels).ok());
    if (t == 0) after_first = (*w)->buffered_bytes();
    ASSERT_EQ((*w)->buffered_bytes(), after_first) << "token " << t;
  }
  std::vector<float> keys(5 * 4, 1.0f);
  ASSERT_TRUE((*w)->AppendIndexKeys(0, keys.data(), 5).ok());
  ASSERT_TRUE((*w)->AppendIndexKeys(1, keys.data(), 5).ok());
  EXPECT_LE((*w)->buffered_bytes(), after_first);
  ASSERT_TRUE((*w)->Finish().ok());
  auto r = LabelFileReader::Open(dir.path() / "long.fmlabels");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->n_tokens(), n);
  EXPECT_EQ((*r)->counts().n_labels, 3 * n);
  EXPECT_EQ((*r)->file_bytes(), (*w)->bytes_written());
  TokenRecord rec;
  ASSERT_TRUE((*r)->ReadToken(n - 1, &rec).ok());
  EXPECT_EQ(rec.position, 20 + n - 1);
  EXPECT_EQ(rec.labels, labels);
}

class CorruptLabelFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const LabelFileHeader h = SmallHeader(HiddenDtype::kF32);
    path_ = dir_.path() / "doc.fmlabels";
    ASSERT_TRUE(WriteDoc(path_, h, MakeDoc(h, 4, 3)).ok());
    good_ = ReadBytes(path_);
  }
  // The status of opening and fully validating `bytes` written as the file.
  absl::Status OpenAndValidate(const std::string& bytes) {
    WriteBytes(path_, bytes);
    auto r = LabelFileReader::Open(path_);
    if (!r.ok()) return r.status();
    return (*r)->Validate();
  }
  ScratchDir dir_{"labels_corrupt"};
  std::filesystem::path path_;
  std::string good_;
};

TEST_F(CorruptLabelFileTest, EveryByteFlipIsDetected) {
  ASSERT_TRUE(OpenAndValidate(good_).ok());
  for (size_t i = 0; i < good_.size(); ++i) {
    std::string bytes = good_;
    bytes[i] = static_cast<char>(bytes[i] ^ 0x20);
    const absl::Status s = OpenAndValidate(bytes);
    ASSERT_FALSE(s.ok()) << "a flip of byte " << i << " of " << good_.size() << " went unnoticed";
    ASSERT_NE(s.message().find("doc.fmlabels"), std::string::npos) << s;
  }
}

TEST_F(CorruptLabelFileTest, EveryTruncationIsDetected) {
  for (size_t n = 0; n < good_.size(); ++n) {
    const absl::Status s = OpenAndValidate(good_.substr(0, n));
    ASSERT_FALSE(s.ok()) << "truncated to " << n << " bytes";
    ASSERT_NE(s.message().find("doc.fmlabels"), std::string::npos) << s;
  }
  // Trailing garbage is not a valid file either.
  EXPECT_FALSE(OpenAndValidate(good_ + "x").ok());
}

TEST_F(CorruptLabelFileTest, ErrorsNameTheSection) {
  auto message_after_flip = [&](size_t at) {
    std::string bytes = good_;
    bytes[at] = static_cast<char>(bytes[at] ^ 0x01);
    return std::string(OpenAndValidate(bytes).message());
  };
  auto r0 = LabelFileReader::Open(path_);
  ASSERT_TRUE(r0.ok());
  EXPECT_NE(message_after_flip(0).find("header magic"), std::string::npos);
  EXPECT_NE(message_after_flip(8).find("header version = "), std::string::npos);
  EXPECT_NE(message_after_flip(20).find("header CRC32C"), std::string::npos);
  // The last record's hidden states, then its labels part (record 3 has 3 labels: 28 + 24 + 4).
  const size_t hidden_bytes = 2 * 8 * 4;
  const size_t n_keys_bytes = 2 * 3 * 4 * 4;
  // Offset table, key block CRCs (2 targets x 1 block), footer, trailer.
  const size_t tail = 4 * 8 + 4 + 2 * 4 + 4 + 56 + 4 + 24;
  const size_t keys_begin = good_.size() - tail - n_keys_bytes;
  EXPECT_NE(message_after_flip(keys_begin + 1).find("index keys of target 0"), std::string::npos);
  EXPECT_NE(message_after_flip(keys_begin + n_keys_bytes - 1).find("index keys of target 1"),
            std::string::npos);
  EXPECT_NE(message_after_flip(keys_begin - 6).find("record 3"), std::string::npos);
  EXPECT_NE(message_after_flip(keys_begin - 6).find("hidden-state CRC32C"), std::string::npos);
  EXPECT_NE(message_after_flip(keys_begin - 4 - hidden_bytes - 5).find("labels CRC32C"),
            std::string::npos);
  EXPECT_NE(message_after_flip(keys_begin + n_keys_bytes + 3).find("offset table"),
            std::string::npos);
  EXPECT_NE(message_after_flip(good_.size() - 24 - 10).find("footer"), std::string::npos);
  EXPECT_NE(message_after_flip(good_.size() - 2).find("trailer magic"), std::string::npos);
  EXPECT_NE(OpenAndValidate(good_.substr(0, good_.size() - 30)).message().find("trailer"),
            std::string::npos);
  EXPECT_NE(OpenAndValidate("").message().find("file size 0"), std::string::npos);
  EXPECT_EQ(LabelFileReader::Open(dir_.path() / "missing.fmlabels").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ListLabelFilesTest, SortedFmlabelsOnly) {
  ScratchDir dir("labels_list");
  for (const char* name : {"doc_b.fmlabels", "doc_a.fmlabels", "notes.txt", "doc_c.fmlabels.tmp"}) {
    WriteBytes(dir.path() / name, "x");
  }
  std::filesystem::create_directories(dir.path() / "sub.fmlabels");
  auto files = ListLabelFiles(dir.path());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].filename(), "doc_a.fmlabels");
  EXPECT_EQ((*files)[1].filename(), "doc_b.fmlabels");
  EXPECT_FALSE(ListLabelFiles(dir.path() / "absent").ok());
}

}  // namespace
}  // namespace fm::rt::labels
