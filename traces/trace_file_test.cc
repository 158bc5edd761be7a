#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "traces/payloads.h"
#include "traces/snapshot.h"
#include "traces/test_frames.h"
#include "traces/trace_file_reader.h"
#include "traces/trace_file_writer.h"

namespace fm::traces {
namespace {

using ::testing::HasSubstr;
using testing::SampleStream;
using testing::TestRng;

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / name).string();
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void WriteBytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

struct ReadBack {
  std::vector<uint64_t> offsets;
  std::vector<uint16_t> kinds;
  std::vector<std::vector<uint8_t>> payloads;
  absl::Status status;
};

ReadBack ReadAll(const std::string& path) {
  ReadBack r;
  r.status = ForEachFrame(path, [&](const FrameView& f) {
    r.offsets.push_back(f.offset);
    r.kinds.push_back(f.kind);
    r.payloads.emplace_back(f.payload.begin(), f.payload.end());
    return absl::OkStatus();
  });
  return r;
}

std::string WriteSample(const std::string& name) {
  std::string path = TempPath(name);
  auto w = TraceFileWriter::Create(path, 42);
  EXPECT_TRUE(w.ok());
  for (const EncodedFrame& f : SampleStream()) EXPECT_TRUE((*w)->WriteEncoded(f).ok());
  EXPECT_TRUE((*w)->Close().ok());
  return path;
}

TEST(TraceFileTest, FramesRoundTripAndTheTrailerPointsAtTheIndex) {
  std::string path = WriteSample("roundtrip.fmtrace");
  auto frames = SampleStream();
  auto reader = TraceFileReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE((*reader)->has_trailer());
  EXPECT_EQ((*reader)->header().created_realtime_ns, 42u);
  size_t i = 0;
  std::vector<IndexEntry> index;
  while (true) {
    auto f = (*reader)->Next();
    ASSERT_TRUE(f.ok()) << f.status();
    if (!f->has_value()) break;
    EXPECT_EQ((*f)->seq, i) << "file frames are numbered from 0";
    if ((*f)->kind == static_cast<uint16_t>(FrameKind::kIndex)) {
      index = *DecodeIndex((*f)->payload);
      continue;
    }
    ASSERT_LT(i, frames.size());
    std::vector<uint8_t> want(frames[i].bytes.begin() + kFrameHeaderBytes, frames[i].bytes.end());
    EXPECT_EQ(std::vector<uint8_t>((*f)->payload.begin(), (*f)->payload.end()), want);
    EXPECT_EQ((*f)->kind, static_cast<uint16_t>(frames[i].kind));
    ++i;
  }
  EXPECT_EQ(i, frames.size());
  ASSERT_EQ(index.size(), 1u);  // the one Snapshot is a keyframe
  size_t snapshot_offset = sizeof(FileHeader);
  for (size_t k = 0; k < frames.size() && frames[k].kind != FrameKind::kSnapshot; ++k) {
    snapshot_offset += frames[k].bytes.size();
  }
  EXPECT_EQ(index[0].offset, snapshot_offset);
}

TEST(TraceFileTest, KeyframesAreIndexedEveryTwoSeconds) {
  std::string path = TempPath("keyframes.fmtrace");
  auto w = TraceFileWriter::Create(path, 1);
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < 50; ++i) {  // a snapshot every 100 ms for 5 s
    Snapshot s;
    s.snapshot_id = static_cast<uint32_t>(i);
    s.t_ns = int64_t{i} * 100'000'000;
    ASSERT_TRUE((*w)->WriteFrame(FrameKind::kSnapshot, EncodeSnapshot(s)[0]).ok());
  }
  ASSERT_TRUE((*w)->Close().ok());
  std::vector<IndexEntry> index;
  ASSERT_TRUE(ForEachFrame(path, [&](const FrameView& f) {
                if (f.kind == static_cast<uint16_t>(FrameKind::kIndex)) index = *DecodeIndex(f.payload);
                return absl::OkStatus();
              }).ok());
  ASSERT_EQ(index.size(), 3u);
  EXPECT_EQ(index[0].t_ns, 0);
  EXPECT_EQ(index[1].t_ns, 2'000'000'000);
  EXPECT_EQ(index[2].t_ns, 4'000'000'000);
}

TEST(TraceFileTest, TruncatedFileYieldsEveryCompleteFrameThenDataLossWithOffset) {
  std::string path = WriteSample("full.fmtrace");
  std::vector<uint8_t> full = ReadBytes(path);
  auto frames = SampleStream();
  std::vector<size_t> bounds = {sizeof(FileHeader)};
  for (const auto& f : frames) bounds.push_back(bounds.back() + f.bytes.size());
  std::string cut_path = TempPath("cut.fmtrace");
  for (size_t k = 1; k < frames.size(); ++k) {
    size_t cut = bounds[k] + 10;  // ten bytes into frame k: a crash mid-write
    WriteBytes(cut_path, std::vector<uint8_t>(full.begin(), full.begin() + cut));
    ReadBack r = ReadAll(cut_path);
    EXPECT_EQ(r.kinds.size(), k);
    EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(r.status.message()), HasSubstr("byte offset " + std::to_string(bounds[k])));
    EXPECT_THAT(std::string(r.status.message()), HasSubstr(cut_path));
  }
  // Cut exactly at a frame boundary: a crash between frames reads cleanly without a trailer.
  WriteBytes(cut_path, std::vector<uint8_t>(full.begin(), full.begin() + bounds[5]));
  ReadBack r = ReadAll(cut_path);
  EXPECT_TRUE(r.status.ok());
  EXPECT_EQ(r.kinds.size(), 5u);
  auto reader = TraceFileReader::Open(cut_path);
  EXPECT_FALSE((*reader)->has_trailer());
}

TEST(TraceFileTest, BitFlippedFilesNeverCrashAndKeepTheFramesBeforeTheDamage) {
  std::string path = WriteSample("flip_src.fmtrace");
  std::vector<uint8_t> full = ReadBytes(path);
  ReadBack clean = ReadAll(path);
  ASSERT_TRUE(clean.status.ok());
  std::string flip_path = TempPath("flip.fmtrace");
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE(seed);
    TestRng rng(seed);
    std::vector<uint8_t> m = full;
    size_t first_pos = m.size();
    for (int flips = 1 + static_cast<int>(rng.Below(3)); flips > 0; --flips) {
      size_t pos = sizeof(FileHeader) + rng.Below(m.size() - sizeof(FileHeader));
      m[pos] ^= static_cast<uint8_t>(1u << rng.Below(8));
      first_pos = std::min(first_pos, pos);
    }
    WriteBytes(flip_path, m);
    ReadBack r = ReadAll(flip_path);
    // Every frame that ends before the first flipped byte comes back, byte-identical.
    for (size_t i = 0; i < clean.offsets.size(); ++i) {
      if (clean.offsets[i] + kFrameHeaderBytes + clean.payloads[i].size() > first_pos) break;
      ASSERT_LT(i, r.offsets.size());
      ASSERT_EQ(r.offsets[i], clean.offsets[i]);
      ASSERT_EQ(r.kinds[i], clean.kinds[i]);
      ASSERT_EQ(r.payloads[i], clean.payloads[i]);
    }
    if (!r.status.ok()) {
      EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
    }
  }
}

TEST(TraceFileTest, BadHeadersAreRefusedClearly) {
  EXPECT_EQ(TraceFileReader::Open(TempPath("does_not_exist.fmtrace")).status().code(),
            absl::StatusCode::kNotFound);
  std::string p = TempPath("bad.fmtrace");
  WriteBytes(p, {1, 2, 3});
  auto st = TraceFileReader::Open(p).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(st.message()), HasSubstr("header"));
  std::vector<uint8_t> wrong(64, 0);
  std::memcpy(wrong.data(), "NOTATRC", 8);
  WriteBytes(p, wrong);
  st = TraceFileReader::Open(p).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(st.message()), HasSubstr("magic"));
}

TEST(TraceFileTest, ATrailerPointingOutsideTheFileIsIgnoredAndTheFileScannedLinearly) {
  std::string path = WriteSample("trailer_src.fmtrace");
  std::vector<uint8_t> m = ReadBytes(path);
  uint64_t bogus = 1ull << 40;
  std::memcpy(m.data() + m.size() - 8, &bogus, 8);
  std::string p = TempPath("bogus_trailer.fmtrace");
  WriteBytes(p, m);
  auto reader = TraceFileReader::Open(p);
  ASSERT_TRUE(reader.ok());
  EXPECT_FALSE((*reader)->has_trailer());
  ReadBack r = ReadAll(p);
  // Linear scan reaches the trailer bytes, which are not a frame: every frame, then DataLoss.
  EXPECT_EQ(r.kinds.size(), SampleStream().size() + 1);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace fm::traces
