#include "profiler-ui/net/file_replay.h"

#include "traces/trace_file_reader.h"

namespace fm::ui {

ReplayResult LoadTraceFile(const std::string& path, Store* store) {
  ReplayResult r;
  absl::StatusOr<std::unique_ptr<traces::TraceFileReader>> reader = traces::TraceFileReader::Open(path);
  if (!reader.ok()) {
    r.status = reader.status();
    return r;
  }
  r.bytes = (*reader)->file_bytes();
  while (true) {
    absl::StatusOr<std::optional<traces::FrameView>> f = (*reader)->Next();
    if (!f.ok()) {
      r.status = f.status();
      break;
    }
    if (!f->has_value()) break;
    ++r.frames;
    absl::Status s = store->IngestFrame((*f)->kind, (*f)->payload);
    if (!s.ok() && r.status.ok()) r.status = s;  // keep going: one bad payload loses one frame
  }
  store->AddSeqGapFrames((*reader)->decoder().seq_gap_frames());
  store->Commit();
  return r;
}

}  // namespace fm::ui
