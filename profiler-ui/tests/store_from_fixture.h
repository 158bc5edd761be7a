#pragma once
// Test helper: a committed Store fed with every frame of a synthetic fixture session.

#include <gtest/gtest.h>

#include "profiler-ui/store/store.h"
#include "profiler-ui/tests/synth_fixture.h"

namespace fm::ui::testing {

inline Store StoreFromFixture(const FixtureConfig& cfg) {
  Store s;
  for (const FixtureFrame& f : MakeFixtureFrames(cfg)) {
    EXPECT_TRUE(s.IngestFrame(static_cast<uint16_t>(f.kind), f.payload).ok());
  }
  s.Commit();
  return s;
}

}  // namespace fm::ui::testing
