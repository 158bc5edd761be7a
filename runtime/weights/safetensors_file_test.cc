#include "runtime/weights/safetensors_file.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "runtime/weights/safetensors_writer.h"
#include "runtime/weights/test_util.h"

namespace fm::rt {
namespace {

using testing::RawSafetensors;
using testing::ScratchDir;
using testing::WriteBytes;

std::vector<uint8_t> Pattern(int64_t n, uint8_t salt) {
  std::vector<uint8_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 31 + salt);
  return v;
}

absl::StatusOr<SafetensorsContents> ParseString(const std::string& image,
                                                const std::string& name = "x.safetensors") {
  return ParseSafetensors(reinterpret_cast<const uint8_t*>(image.data()),
                          static_cast<int64_t>(image.size()), name);
}

void ExpectError(const std::string& image, absl::StatusCode code, const std::string& fragment) {
  auto r = ParseString(image);
  ASSERT_FALSE(r.ok()) << "accepted: " << fragment;
  EXPECT_EQ(r.status().code(), code) << r.status();
  EXPECT_NE(r.status().message().find(fragment), std::string::npos)
      << "'" << r.status().message() << "' lacks '" << fragment << "'";
  EXPECT_NE(r.status().message().find("x.safetensors"), std::string::npos) << r.status();
}

TEST(SafetensorsFileTest, WriterRoundTripsEveryDtype) {
  ScratchDir dir("st_roundtrip");
  const DType all[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3, DType::kF8E8M0,
                       DType::kI8,  DType::kU8,  DType::kI32,  DType::kI64};
  SafetensorsWriter w;
  std::vector<std::vector<uint8_t>> expected;
  for (int i = 0; i < 9; ++i) {
    const std::vector<int64_t> shape = {3, 5 + i};
    expected.push_back(Pattern(3 * (5 + i) * DTypeBytes(all[i]), static_cast<uint8_t>(i)));
    w.Add(std::string("t.") + DTypeName(all[i]), all[i], shape, expected.back());
  }
  w.Add("empty", DType::kF32, {0, 7}, {});
  w.AddStreamed("streamed", DType::kU8, {10}, [](int64_t off, uint8_t* out, int64_t n) {
    for (int64_t k = 0; k < n; ++k) out[k] = static_cast<uint8_t>(off + k + 100);
  });
  w.SetMetadata("format", "pt");
  ASSERT_TRUE(w.WriteFile(dir.path() / "a.safetensors").ok());

  auto f = SafetensorsFile::Open(dir.path() / "a.safetensors", "a.safetensors");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->tensors().size(), 11u);
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  for (int i = 0; i < 9; ++i) {
    const TensorRef* t = (*f)->Find(std::string("t.") + DTypeName(all[i]));
    ASSERT_NE(t, nullptr) << DTypeName(all[i]);
    EXPECT_EQ(t->dtype, all[i]);
    EXPECT_EQ(t->shape, (std::vector<int64_t>{3, 5 + i}));
    EXPECT_EQ(t->file, "a.safetensors");
    ASSERT_EQ(t->nbytes, static_cast<int64_t>(expected[i].size()));
    EXPECT_EQ(std::memcmp(t->data, expected[i].data(), expected[i].size()), 0);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data) % 8, 0u) << "8-byte aligned data";
  }
  const TensorRef* e = (*f)->Find("empty");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->numel(), 0);
  const TensorRef* s = (*f)->Find("streamed");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->data[9], 109);
  EXPECT_EQ((*f)->Find("nope"), nullptr);
}

TEST(SafetensorsFileTest, ParsesAHandWrittenFile) {
  const std::string img = RawSafetensors(R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},)"
                                         R"("a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})",
                                         "abcdef");
  auto r = ParseString(img);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->tensors.size(), 2u);
  EXPECT_EQ(r->tensors[0].name, "a");
  EXPECT_EQ(r->tensors[1].data[0], 'e');
}

TEST(SafetensorsFileTest, TruncatedFilesAreDataLoss) {
  ExpectError("", absl::StatusCode::kDataLoss, "too short");
  ExpectError(std::string("\x05\x00\x00", 3), absl::StatusCode::kDataLoss, "too short");
  // Data shorter than the offsets claim.
  const std::string img =
      RawSafetensors(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", "12345678");
  ExpectError(img, absl::StatusCode::kDataLoss, "outside the data section");
}

TEST(SafetensorsFileTest, HugeHeaderLengthIsRejectedBeforeAllocating) {
  ExpectError(RawSafetensors("{}", "", uint64_t{1} << 60), absl::StatusCode::kDataLoss,
              "header length 1152921504606846976");
  ExpectError(RawSafetensors("{}", "", UINT64_MAX - 1), absl::StatusCode::kDataLoss,
              "header length");
}

TEST(SafetensorsFileTest, HeaderLengthPastTheFileIsDataLoss) {
  ExpectError(RawSafetensors("{}", "", 100), absl::StatusCode::kDataLoss, "exceeds");
}

TEST(SafetensorsFileTest, HeaderLengthAboveTheCapIsDataLoss) {
  // The file really is that long, so only the 100 MiB cap can reject it.
  const uint64_t len = (uint64_t{100} << 20) + 1;
  const std::string header(len, ' ');
  ExpectError(RawSafetensors(header, ""), absl::StatusCode::kDataLoss, "exceeds the limit");
}

TEST(SafetensorsFileTest, OffsetPastTheEndIsDataLoss) {
  ExpectError(RawSafetensors(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})", "abcd"),
              absl::StatusCode::kDataLoss, "tensor 'a': data_offsets [2,6) outside");
}

TEST(SafetensorsFileTest, OverlappingTensorsAreDataLoss) {
  ExpectError(RawSafetensors(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                             R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
                             "abcdef"),
              absl::StatusCode::kDataLoss, "overlaps tensor 'a'");
}

TEST(SafetensorsFileTest, ByteCountMustMatchDtypeTimesNumel) {
  ExpectError(RawSafetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd"),
              absl::StatusCode::kDataLoss, "expected 8");
}

TEST(SafetensorsFileTest, UnknownAndUnsupportedDtypes) {
  ExpectError(RawSafetensors(R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", "a"),
              absl::StatusCode::kDataLoss, "unknown dtype \"Q4\"");
  ExpectError(
      RawSafetensors(R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", "abcdefgh"),
      absl::StatusCode::kUnimplemented, "F64");
}

TEST(SafetensorsFileTest, BadShapesAreDataLoss) {
  ExpectError(RawSafetensors(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", ""),
              absl::StatusCode::kDataLoss, "non-negative");
  ExpectError(RawSafetensors(R"({"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,0]}})", ""),
              absl::StatusCode::kDataLoss, "non-negative");
  ExpectError(RawSafetensors(R"({"a":{"dtype":"I64","shape":[4294967296,4294967296],)"
                             R"("data_offsets":[0,0]}})",
                             ""),
              absl::StatusCode::kDataLoss, "overflows");
  ExpectError(RawSafetensors(R"({"a":{"dtype":"U8","data_offsets":[0,0]}})", ""),
              absl::StatusCode::kDataLoss, "shape");
}

TEST(SafetensorsFileTest, InvalidJsonIsDataLoss) {
  ExpectError(RawSafetensors(R"({"a":{"dtype":"U8",)", ""), absl::StatusCode::kDataLoss,
              "not valid JSON");
  ExpectError(RawSafetensors("[1,2]", ""), absl::StatusCode::kDataLoss, "not a JSON object");
  ExpectError(RawSafetensors(R"({"a": 5})", ""), absl::StatusCode::kDataLoss, "not an object");
}

TEST(SafetensorsFileTest, DeeplyNestedValuesAreRejectedWithoutRecursing) {
  const int depth = 1000000;
  const std::string nested = std::string(depth, '[') + std::string(depth, ']');
  ExpectError(RawSafetensors("{\"a\":" + nested + "}", ""), absl::StatusCode::kDataLoss,
              "tensor 'a': entry <array of 1> is not an object");
  ExpectError(RawSafetensors(R"({"a":{"dtype":"U8","shape":)" + nested + "}}", ""),
              absl::StatusCode::kDataLoss, "shape");
}

TEST(SafetensorsFileTest, NonUtf8NameIsRejectedWithItsOffset) {
  // The name starts at header offset 1 (the quote), file offset 9; the bad byte is at file
  // offset 11.
  const std::string header =
      std::string("{\"a\xff") + R"(b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
  auto r = ParseString(RawSafetensors(header, "z"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("invalid UTF-8 byte 0xff at file offset 11"),
            std::string::npos)
      << r.status();
  EXPECT_NE(r.status().message().find("starting at file offset 9"), std::string::npos)
      << r.status();
  // Overlong encodings and surrogates are invalid too.
  EXPECT_FALSE(ParseString(RawSafetensors("{\"\xc0\xaf\":1}", "")).ok());
  EXPECT_FALSE(ParseString(RawSafetensors("{\"\xed\xa0\x80\":1}", "")).ok());
}

TEST(SafetensorsFileTest, Utf8NamesAreAccepted) {
  const std::string header =
      "{\"caf\xc3\xa9.\xe2\x82\xac\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
  auto r = ParseString(RawSafetensors(header, "z"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tensors[0].name, "caf\xc3\xa9.\xe2\x82\xac");
}

TEST(SafetensorsFileTest, MetadataMustHoldStrings) {
  ExpectError(RawSafetensors(R"({"__metadata__":{"n":3}})", ""), absl::StatusCode::kDataLoss,
              "__metadata__");
  auto ok = ParseString(RawSafetensors(R"({"__metadata__":{"n":"3"}})", ""));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->metadata.at("n"), "3");
}

TEST(SafetensorsFileTest, MissingFileIsNotFound) {
  auto f = SafetensorsFile::Open("/nonexistent-fm-dir/model.safetensors", "model.safetensors");
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
}

TEST(SafetensorsFileTest, EmptyFileOnDiskIsDataLoss) {
  ScratchDir dir("st_empty");
  WriteBytes(dir.path() / "e.safetensors", "");
  auto f = SafetensorsFile::Open(dir.path() / "e.safetensors", "e.safetensors");
  EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss);
}

TEST(SafetensorsFileTest, WriterRejectsWrongByteCount) {
  ScratchDir dir("st_badwrite");
  SafetensorsWriter w;
  w.Add("a", DType::kF32, {2}, {1, 2, 3});
  EXPECT_EQ(w.WriteFile(dir.path() / "a.safetensors").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fm::rt
