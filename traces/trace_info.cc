#include "traces/trace_info.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "traces/trace_file_reader.h"

namespace fm::traces {
namespace {

void NotePayloadError(TraceInfo& info, const absl::Status& st, uint64_t offset) {
  if (st.ok()) return;
  if (info.bad_payloads++ == 0) {
    info.first_payload_error =
        Annotate(st, absl::StrFormat("%s: frame at byte offset %d", info.path, offset));
  }
}

}  // namespace

absl::StatusOr<TraceInfo> ReadTraceInfo(const std::string& path) {
  FM_ASSIGN_OR_RETURN(std::unique_ptr<TraceFileReader> reader, TraceFileReader::Open(path));
  TraceInfo info;
  info.path = path;
  info.file_bytes = reader->file_bytes();
  info.header = reader->header();
  info.has_trailer = reader->has_trailer();
  std::vector<Event> events;
  bool have_time = false;
  while (true) {
    absl::StatusOr<std::optional<FrameView>> next = reader->Next();
    if (!next.ok()) {
      info.integrity = next.status();
      break;
    }
    if (!next->has_value()) break;
    const FrameView& f = **next;
    ++info.frames;
    ++info.frames_by_kind[f.kind];
    switch (static_cast<FrameKind>(f.kind)) {
      case FrameKind::kHello: {
        absl::StatusOr<Hello> h = DecodeHello(f.payload);
        if (h.ok()) info.hello = *h;
        NotePayloadError(info, h.status(), f.offset);
        break;
      }
      case FrameKind::kStringDef: {
        auto d = DecodeStringDefs(f.payload);
        if (d.ok()) info.strings += d->size();
        NotePayloadError(info, d.status(), f.offset);
        break;
      }
      case FrameKind::kTrackDef: {
        auto d = DecodeTrackDefs(f.payload);
        if (d.ok()) info.tracks += d->size();
        NotePayloadError(info, d.status(), f.offset);
        break;
      }
      case FrameKind::kEvents: {
        events.clear();
        absl::Status st = DecodeEvents(f.payload, &events);
        NotePayloadError(info, st, f.offset);
        for (const Event& e : events) {
          ++info.events;
          ++info.events_by_kind[e.kind >= kMinEventKind && e.kind <= kMaxEventKind ? e.kind : 0];
          if (e.kind == static_cast<uint8_t>(EventKind::kDropped)) info.dropped_records += e.a;
          if (!have_time) {
            info.first_t_ns = info.last_t_ns = e.t_ns;
            have_time = true;
          }
          info.first_t_ns = std::min(info.first_t_ns, e.t_ns);
          info.last_t_ns = std::max(info.last_t_ns, e.t_ns);
        }
        break;
      }
      case FrameKind::kStats: {
        auto s = DecodeStats(f.payload);
        if (s.ok()) info.last_stats = *s;
        NotePayloadError(info, s.status(), f.offset);
        break;
      }
      case FrameKind::kIndex: {
        auto idx = DecodeIndex(f.payload);
        if (idx.ok()) info.index_entries = idx->size();
        NotePayloadError(info, idx.status(), f.offset);
        break;
      }
      default:
        break;
    }
  }
  info.valid_bytes = reader->decoder().consumed_offset();
  info.seq_gap_frames = reader->decoder().seq_gap_frames();
  info.unknown_frame_kinds = reader->decoder().unknown_kinds_skipped();
  return info;
}

std::string FormatTraceInfo(const TraceInfo& info) {
  std::string s;
  s += absl::StrFormat("file:        %s (%d bytes, format v%d, %s)\n", info.path, info.file_bytes,
                       info.header.file_version,
                       info.has_trailer ? "closed cleanly: index trailer present"
                                        : "no trailer: not closed cleanly, scanned linearly");
  if (info.hello) {
    const Hello& h = *info.hello;
    s += absl::StrFormat("recorded by: %s (pid %d) on %s, device '%s'\n", h.program, h.pid, h.host,
                         h.device_name);
    s += absl::StrFormat(
        "model:       %d layers (%d CSA), %d tokens/chunk, %d chunks/page, slot %d bytes, %d hot "
        "slots\n",
        h.layers, h.csa_layers, h.chunk_tokens, h.page_chunks, h.slot_bytes, h.hot_slots_total);
  } else {
    s += "recorded by: (no Hello frame)\n";
  }
  s += absl::StrFormat("span:        %.3f s (t_ns %d .. %d)\n",
                       static_cast<double>(info.last_t_ns - info.first_t_ns) * 1e-9,
                       info.first_t_ns, info.last_t_ns);
  s += absl::StrFormat("frames:      %d (", info.frames);
  for (int k = 1; k <= kMaxFrameKind; ++k) {
    if (info.frames_by_kind[k] > 0) s += absl::StrFormat(" %s=%d", FrameKindName(k), info.frames_by_kind[k]);
  }
  s += absl::StrFormat(" ), %d strings, %d track definitions, %d keyframes indexed\n",
                       info.strings, info.tracks, info.index_entries);
  s += absl::StrFormat("events:      %d (", info.events);
  for (int k = 1; k <= kMaxEventKind; ++k) {
    if (info.events_by_kind[k] > 0) s += absl::StrFormat(" %s=%d", EventKindName(static_cast<uint8_t>(k)), info.events_by_kind[k]);
  }
  if (info.events_by_kind[0] > 0) s += absl::StrFormat(" unknown=%d", info.events_by_kind[0]);
  s += " )\n";
  s += absl::StrFormat("drops:       %d records dropped (Dropped events), %d frames missing (seq gaps)",
                       info.dropped_records, info.seq_gap_frames);
  if (info.last_stats) {
    uint64_t produced = 0;
    uint64_t dropped = 0;
    for (const RingStats& r : info.last_stats->rings) {
      produced += r.produced;
      dropped += r.dropped;
    }
    s += absl::StrFormat("; last Stats: %d rings, %d produced, %d dropped",
                         info.last_stats->rings.size(), produced, dropped);
    for (const SinkStats& k : info.last_stats->sinks) {
      s += absl::StrFormat("; sink %s: %d frames sent, %d dropped", k.name, k.frames_sent,
                           k.frames_dropped);
    }
  }
  s += "\n";
  if (info.unknown_frame_kinds > 0) {
    s += absl::StrFormat("unknown:     %d frames of unknown kind skipped\n", info.unknown_frame_kinds);
  }
  if (info.bad_payloads > 0) {
    s += absl::StrFormat("payloads:    %d frames failed to parse; first: %s\n", info.bad_payloads,
                         info.first_payload_error.message());
  }
  if (info.integrity.ok()) {
    s += absl::StrFormat("integrity:   OK (%d of %d bytes verified)\n", info.valid_bytes,
                         info.file_bytes);
  } else {
    s += absl::StrFormat("integrity:   DAMAGED: %s; %d frames before byte %d are intact\n",
                         info.integrity.message(), info.frames, info.valid_bytes);
  }
  return s;
}

}  // namespace fm::traces
