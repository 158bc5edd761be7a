#include "traces/control.h"

#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fm::traces {
namespace {

using ::testing::HasSubstr;

ControlMessage Param(const std::string& name, double v) {
  ControlMessage m;
  m.op = ControlOp::kSetParam;
  m.param = name;
  m.value = v;
  return m;
}

struct Case {
  const char* name;
  double value;
  bool ok;
};

TEST(ControlTest, SetParamRangesFollowDesignSection5) {
  ControlLimits lim{1024, 64};
  const Case cases[] = {
      {"tau", 8, true},          {"tau", 256, true},        {"tau", 7, false},
      {"tau", 257, false},       {"tau", 64.5, false},      {"threshold", 0.5, true},
      {"threshold", 0, false},   {"threshold", 1, false},   {"threshold", 1e-9, true},
      {"kmax", 1, true},         {"kmax", 1024, true},      {"kmax", 1025, false},
      {"kmax", 0, false},        {"delta", 1, true},        {"delta", 64, true},
      {"delta", 65, false},      {"delta", 0, false},       {"tail", 0, true},
      {"tail", 1025, false},     {"bogus", 1, false},
  };
  for (const Case& c : cases) {
    absl::Status st = ValidateControl(Param(c.name, c.value), lim);
    EXPECT_EQ(st.ok(), c.ok) << c.name << "=" << c.value << ": " << st;
    if (!st.ok()) {
      EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(st.message()), HasSubstr(c.name));
    }
  }
}

TEST(ControlTest, NonFiniteValuesAreRejected) {
  ControlLimits lim{1024, 64};
  for (const char* n : {"tau", "threshold", "kmax", "delta", "tail"}) {
    EXPECT_FALSE(ValidateControl(Param(n, std::numeric_limits<double>::quiet_NaN()), lim).ok()) << n;
    EXPECT_FALSE(ValidateControl(Param(n, std::numeric_limits<double>::infinity()), lim).ok()) << n;
  }
}

TEST(ControlTest, SnapshotPeriodIsBounded) {
  ControlMessage m;
  m.op = ControlOp::kSetSnapshotPeriod;
  m.snapshot_period_ms = 5;
  EXPECT_FALSE(ValidateControl(m, {}).ok());
  m.snapshot_period_ms = 100;
  EXPECT_TRUE(ValidateControl(m, {}).ok());
}

TEST(ControlTest, QueueValidatesAgainstCurrentLimitsAndIsBounded) {
  ControlQueue q;
  q.SetLimits({512, 32});
  EXPECT_EQ(q.Submit(Param("delta", 40)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(q.Submit(Param("delta", 32)).ok());
  std::vector<ControlMessage> got;
  EXPECT_EQ(q.Poll(&got), 1u);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].value, 32);
  for (size_t i = 0; i < ControlQueue::kCapacity; ++i) ASSERT_TRUE(q.Submit(Param("tau", 64)).ok());
  EXPECT_EQ(q.Submit(Param("tau", 64)).code(), absl::StatusCode::kResourceExhausted);
  got.clear();
  EXPECT_EQ(q.Poll(&got), ControlQueue::kCapacity);
  EXPECT_EQ(q.Poll(&got), 0u);
}

TEST(ControlTest, MalformedControlPayloadsAreRefused) {
  EXPECT_EQ(DecodeControl(std::vector<uint8_t>{}).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeControl(std::vector<uint8_t>{99, 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<uint8_t> p = EncodeControl(Param("tau", 64));
  p.push_back(0);  // trailing byte
  EXPECT_EQ(DecodeControl(p).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace fm::traces
