#pragma once
// Test helper: a synthetic "tiny" checkpoint (runtime/weights/synth.h) written once into a scratch
// directory, for test suites that load the same model in every test.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "runtime/weights/synth.h"
#include "runtime/weights/test_util.h"

namespace fm::rt::testing {

// Owns the scratch directory; path() is the checkpoint directory.
class TinyCheckpoint {
 public:
  TinyCheckpoint(std::string_view tag, uint64_t seed, const std::string& weights)
      : dir_(tag), path_(dir_.path() / weights) {
    SynthOptions o;
    o.preset = "tiny";
    o.seed = seed;
    o.weights = weights;
    EXPECT_TRUE(WriteSynthCheckpoint(o, path_).ok()) << "writing the tiny checkpoint into " << path_;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  ScratchDir dir_;
  std::filesystem::path path_;
};

}  // namespace fm::rt::testing
