#include "traces/chrome_export.h"

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "traces/payloads.h"
#include "traces/trace_file_reader.h"
#include "traces/wire_schema.h"

namespace fm::traces {
namespace {

// JSON string body with the escapes RFC 8259 requires; invalid control bytes become \u00XX.
std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

// JSON has no NaN or infinity; such values (only a damaged or hostile trace has them) become null.
std::string JsonNumber(double v) {
  return std::isfinite(v) ? absl::StrFormat("%.17g", v) : std::string("null");
}

// ts/dur in microseconds with 3 decimals: ns precision, as Chrome's format expects µs.
std::string Us(int64_t ns) {
  const char* sign = ns < 0 ? "-" : "";
  uint64_t a = ns < 0 ? static_cast<uint64_t>(-(ns + 1)) + 1 : static_cast<uint64_t>(ns);
  return absl::StrFormat("%s%d.%03d", sign, a / 1000, a % 1000);
}

struct TrackInfo {
  TrackType type = TrackType::kThread;
  uint32_t name = 0;
};

struct PendingCopy {
  int64_t issue_ns;
  uint64_t bytes;
};

class Exporter {
 public:
  Exporter(std::FILE* out, const ExportOptions& options) : out_(out), options_(options) {
    range_given_ = options.from_ns != std::numeric_limits<int64_t>::min() ||
                   options.to_ns != std::numeric_limits<int64_t>::max();
  }

  absl::Status Frame(const FrameView& f) {
    switch (static_cast<FrameKind>(f.kind)) {
      case FrameKind::kHello: {
        FM_ASSIGN_OR_RETURN(hello_, DecodeHello(f.payload));
        have_hello_ = true;
        return absl::OkStatus();
      }
      case FrameKind::kStringDef: {
        FM_ASSIGN_OR_RETURN(auto defs, DecodeStringDefs(f.payload));
        for (auto& d : defs) strings_[d.id] = std::move(d.text);
        return absl::OkStatus();
      }
      case FrameKind::kTrackDef: {
        FM_ASSIGN_OR_RETURN(auto defs, DecodeTrackDefs(f.payload));
        for (const auto& d : defs) tracks_[d.track] = TrackInfo{d.type, d.name};
        return absl::OkStatus();
      }
      case FrameKind::kEvents: {
        events_.clear();
        FM_RETURN_IF_ERROR(DecodeEvents(f.payload, &events_));
        for (const Event& e : events_) {
          if (result_.truncated) break;
          Event_(e);
        }
        return absl::OkStatus();
      }
      default:
        return absl::OkStatus();
    }
  }

  void Begin() { Write("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n"); }

  void End() {
    for (const auto& [pid, name] :
         {std::pair{kHostPid, "host"}, std::pair{kGpuPid, "gpu"}, std::pair{kRequestPid, "requests"}}) {
      Record(absl::StrFormat(
          "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%d,\"tid\":0,\"args\":{\"name\":\"%s\"}}",
          pid, name), true);
    }
    Record(absl::StrFormat("{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%d,"
                           "\"args\":{\"name\":\"decode steps\"}}",
                           kHostPid, kStepsTid), true);
    for (const auto& [track, info] : tracks_) {
      Record(absl::StrFormat(
          "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":\"%s\"}}",
          PidOf(info.type), track, JsonEscape(Name(info.name, "track"))), true);
    }
    Write("\n],\n\"otherData\":{");
    Write(absl::StrFormat("\"schema_version\":%d,\"git_sha\":\"%s\",\"truncated\":%s,"
                          "\"page_events_skipped\":%d",
                          kWireVersion, JsonEscape(options_.git_sha),
                          result_.truncated ? "true" : "false", result_.pages_skipped));
    if (have_hello_) {
      Write(absl::StrFormat(
          ",\"epoch_monotonic_ns\":%d,\"epoch_realtime_ns\":%d,\"program\":\"%s\",\"host\":\"%s\","
          "\"device\":\"%s\",\"config\":{\"layers\":%d,\"csa_layers\":%d,\"chunk_tokens\":%d,"
          "\"page_chunks\":%d,\"slot_bytes\":%d,\"hot_slots_total\":%d,\"cold_pool_bytes\":%d}",
          hello_.epoch_monotonic_ns, hello_.epoch_realtime_ns, JsonEscape(hello_.program),
          JsonEscape(hello_.host), JsonEscape(hello_.device_name), hello_.layers, hello_.csa_layers,
          hello_.chunk_tokens, hello_.page_chunks, hello_.slot_bytes, hello_.hot_slots_total,
          hello_.cold_pool_bytes));
    }
    Write("}}\n");
  }

  ExportResult& result() { return result_; }
  absl::Status write_status() const { return write_status_; }

 private:
  int PidOf(TrackType t) const {
    return t == TrackType::kStream ? kGpuPid : t == TrackType::kRequest ? kRequestPid : kHostPid;
  }
  int PidOfTrack(uint16_t track, uint8_t flags) const {
    auto it = tracks_.find(track);
    if (it != tracks_.end()) return PidOf(it->second.type);
    return (flags & kGpuTime) ? kGpuPid : kHostPid;
  }
  std::string Name(uint32_t id, const char* fallback) const {
    auto it = strings_.find(id);
    return it != strings_.end() ? it->second : std::string(fallback);
  }

  void Write(std::string_view s) {
    if (!write_status_.ok()) return;
    if (std::fwrite(s.data(), 1, s.size(), out_) != s.size()) {
      write_status_ = absl::UnavailableError(std::string("write failed: ") + std::strerror(errno));
    }
    result_.output_bytes += s.size();
  }

  // One traceEvents record. `meta` records (M) are written even past the cap, so a truncated
  // export still names its tracks.
  void Record(const std::string& json, bool meta = false) {
    if (!meta && !range_given_ && result_.output_bytes + json.size() > options_.max_output_bytes) {
      result_.truncated = true;
      return;
    }
    if (result_.trace_events > 0) Write(",\n");
    Write(json);
    ++result_.trace_events;
  }

  void Instant(const Event& e, const std::string& name, const std::string& args) {
    Record(absl::StrFormat(
        "{\"ph\":\"i\",\"s\":\"t\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,\"ts\":%s,\"args\":{%s}}",
        JsonEscape(name), PidOfTrack(e.track, e.flags), e.track, Us(e.t_ns), args));
  }

  void Event_(const Event& e) {
    const bool in_range = e.t_ns >= options_.from_ns && e.t_ns < options_.to_ns;
    switch (static_cast<EventKind>(e.kind)) {
      case EventKind::kZone:
        if (!in_range) return;
        Record(absl::StrFormat(
            "{\"ph\":\"X\",\"cat\":\"zone\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,\"ts\":%s,"
            "\"dur\":%s,\"args\":{\"arg\":%d}}",
            JsonEscape(Name(e.name, "zone")), PidOfTrack(e.track, e.flags), e.track, Us(e.t_ns),
            Us(static_cast<int64_t>(e.a)), e.b));
        return;
      case EventKind::kCounter:
        if (!in_range) return;
        Record(absl::StrFormat(
            "{\"ph\":\"C\",\"name\":\"%s\",\"pid\":%d,\"tid\":0,\"ts\":%s,\"args\":{\"value\":%d}}",
            JsonEscape(Name(e.name, "counter")), kHostPid, Us(e.t_ns), static_cast<int64_t>(e.a)));
        return;
      case EventKind::kStep: {
        auto prev = last_step_end_.find(e.track);
        if (prev != last_step_end_.end() && in_range && e.t_ns > prev->second) {
          int64_t tpot = e.t_ns - prev->second;
          Record(absl::StrFormat(
              "{\"ph\":\"X\",\"cat\":\"step\",\"name\":\"step %d\",\"pid\":%d,\"tid\":%d,\"ts\":%s,"
              "\"dur\":%s,\"args\":{\"rows\":%d,\"tokens\":%d,\"tpot_ns\":%d}}",
              e.a, kHostPid, kStepsTid, Us(prev->second), Us(tpot), Lo32(e.b), Hi32(e.b), tpot));
          Record(absl::StrFormat(
              "{\"ph\":\"C\",\"name\":\"tpot_ns\",\"pid\":%d,\"tid\":0,\"ts\":%s,"
              "\"args\":{\"value\":%d}}",
              kHostPid, Us(e.t_ns), tpot));
        }
        last_step_end_[e.track] = e.t_ns;
        return;
      }
      case EventKind::kRequest:
        if (in_range) {
          Instant(e, "request", absl::StrFormat("\"request\":%d,\"state\":%d,\"row\":%d", e.a,
                                                e.b & 0xFF, Hi32(e.b)));
        }
        return;
      case EventKind::kSelect:
        if (in_range) {
          Instant(e, "select",
                  absl::StrFormat("\"request\":%d,\"cycle\":%d,\"selected\":%d,\"missing\":%d",
                                  e.a, Lo32(e.b), (e.b >> 32) & 0xFFFF, e.b >> 48));
        }
        return;
      case EventKind::kCopyIssue:
        // Bounded: a copy that never completes is forgotten after 1M newer issues.
        if (pending_copies_.size() < (1u << 20)) pending_copies_[e.a] = PendingCopy{e.t_ns, e.b};
        return;
      case EventKind::kCopyDone: {
        auto it = pending_copies_.find(e.a);
        if (it == pending_copies_.end()) return;  // issue not in this trace (started earlier)
        PendingCopy c = it->second;
        pending_copies_.erase(it);
        if (!in_range) return;
        const int64_t dur = static_cast<int64_t>(e.b);
        const double gbps = dur > 0 ? static_cast<double>(c.bytes) / static_cast<double>(dur) : 0;
        Record(absl::StrFormat(
            "{\"ph\":\"X\",\"cat\":\"copy\",\"name\":\"copy\",\"pid\":%d,\"tid\":%d,\"ts\":%s,"
            "\"dur\":%s,\"args\":{\"copy_id\":%d,\"bytes\":%d,\"gbps\":%.3f}}",
            kGpuPid, e.track, Us(e.t_ns), Us(dur), e.a, c.bytes, gbps));
        Record(absl::StrFormat(
            "{\"ph\":\"b\",\"cat\":\"fetch\",\"name\":\"fetch\",\"id\":\"0x%x\",\"pid\":%d,"
            "\"tid\":%d,\"ts\":%s,\"args\":{\"bytes\":%d}}",
            e.a, kGpuPid, e.track, Us(c.issue_ns), c.bytes));
        Record(absl::StrFormat(
            "{\"ph\":\"e\",\"cat\":\"fetch\",\"name\":\"fetch\",\"id\":\"0x%x\",\"pid\":%d,"
            "\"tid\":%d,\"ts\":%s,\"args\":{\"latency_ns\":%d}}",
            e.a, kGpuPid, e.track, Us(e.t_ns + dur), e.t_ns + dur - c.issue_ns));
        return;
      }
      case EventKind::kPage:
        ++result_.pages_skipped;
        return;
      case EventKind::kPublish:
        if (in_range) {
          Instant(e, "publish", absl::StrFormat("\"request\":%d,\"generation\":%d,\"stall_ns\":%d",
                                                e.a, Lo32(e.b), Hi32(e.b)));
        }
        return;
      case EventKind::kParam:
        if (in_range) {
          // b is a u32 request id, or ~0 for all requests (exported as -1).
          const int64_t request = Lo32(e.b) == kAllRequests ? -1 : int64_t{Lo32(e.b)};
          Instant(e, "param " + Name(e.name, "?"),
                  absl::StrFormat("\"value\":%s,\"request\":%d",
                                  JsonNumber(std::bit_cast<double>(e.a)), request));
        }
        return;
      case EventKind::kMark:
        if (in_range) {
          Instant(e, Name(e.name, "mark"), absl::StrFormat("\"arg0\":%d,\"arg1\":%d", e.a, e.b));
        }
        return;
      case EventKind::kDropped:
        dropped_total_ += e.a;
        if (in_range) {
          Instant(e, "dropped", absl::StrFormat("\"records\":%d,\"ring\":%d", e.a, e.b));
          Record(absl::StrFormat(
              "{\"ph\":\"C\",\"name\":\"dropped_records\",\"pid\":%d,\"tid\":0,\"ts\":%s,"
              "\"args\":{\"value\":%d}}",
              kHostPid, Us(e.t_ns), dropped_total_));
        }
        return;
    }
  }

  std::FILE* out_;
  ExportOptions options_;
  bool range_given_ = false;
  ExportResult result_;
  absl::Status write_status_;
  Hello hello_;
  bool have_hello_ = false;
  absl::flat_hash_map<uint32_t, std::string> strings_;
  std::map<uint16_t, TrackInfo> tracks_;
  absl::flat_hash_map<uint64_t, PendingCopy> pending_copies_;
  absl::flat_hash_map<uint16_t, int64_t> last_step_end_;
  std::vector<Event> events_;
  uint64_t dropped_total_ = 0;
};

}  // namespace

absl::StatusOr<ExportResult> ExportChromeJson(const std::string& trace_path,
                                              const std::string& json_path,
                                              const ExportOptions& options) {
  FM_ASSIGN_OR_RETURN(std::unique_ptr<TraceFileReader> reader, TraceFileReader::Open(trace_path));
  std::FILE* out = std::fopen(json_path.c_str(), "wb");
  if (out == nullptr) {
    return absl::UnavailableError(
        absl::StrFormat("%s: cannot create: %s", json_path, std::strerror(errno)));
  }
  Exporter ex(out, options);
  ex.Begin();
  absl::Status input;
  while (!ex.result().truncated) {
    absl::StatusOr<std::optional<FrameView>> f = reader->Next();
    if (!f.ok()) {
      input = f.status();
      break;
    }
    if (!f->has_value()) break;
    if (absl::Status st = ex.Frame(**f); !st.ok()) {
      // A payload that passed its CRC but does not parse: stop here, keep what was exported.
      input = Annotate(st, absl::StrFormat("%s: frame at byte offset %d", trace_path, (*f)->offset));
      break;
    }
  }
  ex.End();
  absl::Status write = ex.write_status();
  if (std::fclose(out) != 0 && write.ok()) {
    write = absl::UnavailableError(absl::StrFormat("%s: close failed", json_path));
  }
  if (!write.ok()) return Annotate(write, json_path);
  ExportResult r = ex.result();
  r.input_status = input;
  return r;
}

}  // namespace fm::traces
