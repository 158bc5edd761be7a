#pragma once
// Replay: reads a whole .fmtrace file into a store through traces' reader (the same frame decoder
// the live connection uses). A damaged or truncated file still loads every frame before the damage;
// the DataLoss is returned so the UI can show it, never swallowed.

#include <string>

#include "absl/status/status.h"
#include "profiler-ui/store/store.h"

namespace fm::ui {

struct ReplayResult {
  uint64_t frames = 0;
  uint64_t bytes = 0;
  absl::Status status;  // OK, NotFound/DataLoss from the reader, or the first payload decode error
};

// Ingests every frame of `path` into *store (which is Commit()ed afterwards).
ReplayResult LoadTraceFile(const std::string& path, Store* store);

}  // namespace fm::ui
