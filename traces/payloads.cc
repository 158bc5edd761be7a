#include "traces/payloads.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "traces/byte_io.h"

namespace fm::traces {
namespace {

absl::Status Malformed(const char* frame, const ByteReader& r, size_t payload_bytes,
                       const char* field) {
  return absl::DataLossError(absl::StrFormat(
      "%s frame: field '%s' at payload byte %d of %d: truncated or out of range", frame, field,
      r.position(), payload_bytes));
}

absl::Status CheckConsumed(const char* frame, const ByteReader& r, size_t payload_bytes) {
  if (!r.ok()) return Malformed(frame, r, payload_bytes, "(payload end)");
  if (r.remaining_bytes() != 0) {
    return absl::DataLossError(absl::StrFormat("%s frame: %d trailing bytes after %d parsed, expected 0",
                                               frame, r.remaining_bytes(), r.position()));
  }
  return absl::OkStatus();
}

// Splits `n` entries into payloads under kMaxPayloadBytes; `put(i, w)` writes entry i.
template <typename PutFn, typename SizeFn>
std::vector<std::vector<uint8_t>> SplitEncode(size_t n, SizeFn entry_bytes, PutFn put) {
  std::vector<std::vector<uint8_t>> out;
  size_t i = 0;
  do {
    std::vector<uint8_t> payload;
    ByteWriter w(&payload);
    w.Put<uint32_t>(0);  // count, patched below
    uint32_t count = 0;
    while (i < n && payload.size() + entry_bytes(i) <= kMaxPayloadBytes) {
      put(i, w);
      ++i;
      ++count;
    }
    StoreLE<uint32_t>(payload.data(), count);
    out.push_back(std::move(payload));
  } while (i < n);
  return out;
}

}  // namespace

std::vector<uint8_t> EncodeHello(const Hello& h) {
  std::vector<uint8_t> p;
  ByteWriter w(&p);
  w.Put(h.protocol_version);
  w.Put(h.pid);
  w.PutString(h.program);
  w.PutString(h.host);
  w.Put(h.epoch_monotonic_ns);
  w.Put(h.epoch_realtime_ns);
  w.PutString(h.device_name);
  w.PutString(h.device_uuid);
  w.Put(h.copy_engines);
  w.Put(h.layers);
  w.Put(h.csa_layers);
  w.Put(h.chunk_tokens);
  w.Put(h.page_chunks);
  w.Put(h.slot_bytes);
  w.Put(h.hot_slots_total);
  w.Put(h.cold_pool_bytes);
  w.Put(h.capabilities);
  return p;
}

absl::StatusOr<Hello> DecodeHello(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  Hello h;
  h.protocol_version = r.Get<uint16_t>();
  h.pid = r.Get<uint32_t>();
  h.program = r.GetString();
  h.host = r.GetString();
  h.epoch_monotonic_ns = r.Get<int64_t>();
  h.epoch_realtime_ns = r.Get<int64_t>();
  h.device_name = r.GetString();
  h.device_uuid = r.GetString();
  h.copy_engines = r.Get<uint16_t>();
  h.layers = r.Get<uint16_t>();
  h.csa_layers = r.Get<uint16_t>();
  h.chunk_tokens = r.Get<uint16_t>();
  h.page_chunks = r.Get<uint16_t>();
  h.slot_bytes = r.Get<uint64_t>();
  h.hot_slots_total = r.Get<uint64_t>();
  h.cold_pool_bytes = r.Get<uint64_t>();
  h.capabilities = r.Get<uint64_t>();
  // Trailing bytes are allowed: a newer runtime may append fields to Hello.
  if (!r.ok()) return Malformed("Hello", r, payload.size(), "(fixed fields)");
  if (h.protocol_version != kWireVersion) {
    return absl::DataLossError(absl::StrFormat("Hello frame: protocol_version %d, expected %d",
                                               h.protocol_version, kWireVersion));
  }
  return h;
}

std::vector<std::vector<uint8_t>> EncodeStringDefs(std::span<const StringDefEntry> entries) {
  return SplitEncode(
      entries.size(),
      [&](size_t i) { return 6 + std::min<size_t>(entries[i].text.size(), 0xFFFF); },
      [&](size_t i, ByteWriter& w) {
        w.Put(entries[i].id);
        w.PutString(entries[i].text);
      });
}

absl::StatusOr<std::vector<StringDefEntry>> DecodeStringDefs(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  uint32_t count = r.Get<uint32_t>();
  if (!r.CanHold(count, 6)) return Malformed("StringDef", r, payload.size(), "count");
  std::vector<StringDefEntry> out;
  out.reserve(count);
  for (uint32_t i = 0; i < count && r.ok(); ++i) {
    StringDefEntry e;
    e.id = r.Get<uint32_t>();
    e.text = r.GetString();
    out.push_back(std::move(e));
  }
  FM_RETURN_IF_ERROR(CheckConsumed("StringDef", r, payload.size()));
  return out;
}

std::vector<std::vector<uint8_t>> EncodeTrackDefs(std::span<const TrackDefEntry> entries) {
  return SplitEncode(
      entries.size(), [](size_t) { return size_t{7}; },
      [&](size_t i, ByteWriter& w) {
        w.Put(entries[i].track);
        w.Put(static_cast<uint8_t>(entries[i].type));
        w.Put(entries[i].name);
      });
}

absl::StatusOr<std::vector<TrackDefEntry>> DecodeTrackDefs(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  uint32_t count = r.Get<uint32_t>();
  if (!r.CanHold(count, 7)) return Malformed("TrackDef", r, payload.size(), "count");
  std::vector<TrackDefEntry> out;
  out.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    TrackDefEntry e;
    e.track = r.Get<uint16_t>();
    uint8_t type = r.Get<uint8_t>();
    e.name = r.Get<uint32_t>();
    if (type > kMaxTrackType) {
      return absl::DataLossError(absl::StrFormat(
          "TrackDef frame: entry %d (track %d): type %d, expected 0..%d", i, e.track, type,
          kMaxTrackType));
    }
    e.type = static_cast<TrackType>(type);
    out.push_back(e);
  }
  FM_RETURN_IF_ERROR(CheckConsumed("TrackDef", r, payload.size()));
  return out;
}

std::vector<uint8_t> EncodeEvents(std::span<const Event> events) {
  FM_CHECK(events.size() <= kEventsPerFrame);
  std::vector<uint8_t> p(4 + events.size() * sizeof(Event));
  StoreLE<uint32_t>(p.data(), static_cast<uint32_t>(events.size()));
  if (!events.empty()) std::memcpy(p.data() + 4, events.data(), events.size() * sizeof(Event));
  return p;
}

absl::Status DecodeEvents(std::span<const uint8_t> payload, std::vector<Event>* out) {
  if (payload.size() < 4) {
    return absl::DataLossError(
        absl::StrFormat("Events frame: payload %d bytes, expected >= 4", payload.size()));
  }
  uint32_t count = LoadLE<uint32_t>(payload.data());
  if ((payload.size() - 4) % sizeof(Event) != 0 || (payload.size() - 4) / sizeof(Event) != count) {
    return absl::DataLossError(absl::StrFormat(
        "Events frame: count %d needs %d payload bytes, found %d", count,
        4 + uint64_t{count} * sizeof(Event), payload.size()));
  }
  size_t at = out->size();
  out->resize(at + count);
  if (count > 0) std::memcpy(out->data() + at, payload.data() + 4, count * sizeof(Event));
  return absl::OkStatus();
}

std::vector<uint8_t> EncodeStats(const Stats& s) {
  std::vector<uint8_t> p;
  ByteWriter w(&p);
  w.Put<uint32_t>(static_cast<uint32_t>(s.rings.size()));
  for (const RingStats& r : s.rings) {
    w.Put(r.ring_id);
    w.Put(r.produced);
    w.Put(r.dropped);
    w.Put(r.high_water);
  }
  w.Put<uint32_t>(static_cast<uint32_t>(s.sinks.size()));
  for (const SinkStats& k : s.sinks) {
    w.PutString(k.name);
    w.Put(k.frames_sent);
    w.Put(k.frames_dropped);
    w.Put(k.bytes);
  }
  return p;
}

absl::StatusOr<Stats> DecodeStats(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  Stats s;
  uint32_t rings = r.Get<uint32_t>();
  if (!r.CanHold(rings, 24)) return Malformed("Stats", r, payload.size(), "ring count");
  s.rings.resize(rings);
  for (RingStats& e : s.rings) {
    e.ring_id = r.Get<uint32_t>();
    e.produced = r.Get<uint64_t>();
    e.dropped = r.Get<uint64_t>();
    e.high_water = r.Get<uint32_t>();
  }
  uint32_t sinks = r.Get<uint32_t>();
  if (!r.CanHold(sinks, 26)) return Malformed("Stats", r, payload.size(), "sink count");
  s.sinks.resize(sinks);
  for (SinkStats& k : s.sinks) {
    k.name = r.GetString();
    k.frames_sent = r.Get<uint64_t>();
    k.frames_dropped = r.Get<uint64_t>();
    k.bytes = r.Get<uint64_t>();
  }
  FM_RETURN_IF_ERROR(CheckConsumed("Stats", r, payload.size()));
  return s;
}

std::vector<uint8_t> EncodeBye(const std::string& reason) {
  std::vector<uint8_t> p;
  ByteWriter(&p).PutString(reason);
  return p;
}

absl::StatusOr<std::string> DecodeBye(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  std::string reason = r.GetString();
  FM_RETURN_IF_ERROR(CheckConsumed("Bye", r, payload.size()));
  return reason;
}

std::vector<uint8_t> EncodeIndex(std::span<const IndexEntry> entries) {
  std::vector<uint8_t> p;
  ByteWriter w(&p);
  // 65535 keyframes (2 s apart: 36 hours) fit easily; beyond that the index keeps the first ones
  // and readers fall back to a linear scan for the rest.
  size_t n = std::min<size_t>(entries.size(), (kMaxPayloadBytes - 4) / 16);
  w.Put<uint32_t>(static_cast<uint32_t>(n));
  for (size_t i = 0; i < n; ++i) {
    w.Put(entries[i].offset);
    w.Put(entries[i].t_ns);
  }
  return p;
}

absl::StatusOr<std::vector<IndexEntry>> DecodeIndex(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  uint32_t count = r.Get<uint32_t>();
  if (!r.CanHold(count, 16)) return Malformed("Index", r, payload.size(), "count");
  std::vector<IndexEntry> out(count);
  for (IndexEntry& e : out) {
    e.offset = r.Get<uint64_t>();
    e.t_ns = r.Get<int64_t>();
  }
  FM_RETURN_IF_ERROR(CheckConsumed("Index", r, payload.size()));
  return out;
}

std::vector<uint8_t> EncodeScores(const Scores& s) {
  std::vector<uint8_t> p;
  ByteWriter w(&p);
  w.Put(s.request_id);
  w.Put(s.step);
  w.Put(s.chunk_begin);
  w.Put(s.chunk_count);
  w.Put(s.layers);
  w.PutBytes(s.sigma_q.data(), s.sigma_q.size());
  return p;
}

absl::StatusOr<Scores> DecodeScores(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  Scores s;
  s.request_id = r.Get<uint32_t>();
  s.step = r.Get<uint64_t>();
  s.chunk_begin = r.Get<uint64_t>();
  s.chunk_count = r.Get<uint32_t>();
  s.layers = r.Get<uint8_t>();
  uint64_t n = uint64_t{s.chunk_count} * s.layers;
  if (!r.CanHold(n, 1)) return Malformed("Scores", r, payload.size(), "chunk_count * layers");
  auto bytes = r.GetBytes(n);
  s.sigma_q.assign(bytes.begin(), bytes.end());
  FM_RETURN_IF_ERROR(CheckConsumed("Scores", r, payload.size()));
  return s;
}

std::vector<uint8_t> EncodeLabels(const Labels& l) {
  std::vector<uint8_t> p;
  ByteWriter w(&p);
  w.Put(l.request_id);
  w.Put(l.step);
  w.Put<uint32_t>(static_cast<uint32_t>(l.row_begin.size()));
  for (uint32_t v : l.row_begin) w.Put(v);
  w.Put<uint32_t>(static_cast<uint32_t>(l.chunks.size()));
  for (size_t i = 0; i < l.chunks.size(); ++i) {
    w.Put(l.chunks[i]);
    w.Put<uint16_t>(i < l.votes.size() ? l.votes[i] : 0);
  }
  return p;
}

absl::StatusOr<Labels> DecodeLabels(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  Labels l;
  l.request_id = r.Get<uint32_t>();
  l.step = r.Get<uint64_t>();
  uint32_t offsets = r.Get<uint32_t>();
  if (!r.CanHold(offsets, 4)) return Malformed("Labels", r, payload.size(), "row count");
  l.row_begin.resize(offsets);
  for (uint32_t& v : l.row_begin) v = r.Get<uint32_t>();
  uint32_t nnz = r.Get<uint32_t>();
  if (!r.CanHold(nnz, 10)) return Malformed("Labels", r, payload.size(), "chunk count");
  l.chunks.resize(nnz);
  l.votes.resize(nnz);
  for (uint32_t i = 0; i < nnz; ++i) {
    l.chunks[i] = r.Get<uint64_t>();
    l.votes[i] = r.Get<uint16_t>();
  }
  FM_RETURN_IF_ERROR(CheckConsumed("Labels", r, payload.size()));
  for (size_t i = 0; i < l.row_begin.size(); ++i) {
    bool bad = (i > 0 && l.row_begin[i] < l.row_begin[i - 1]) || l.row_begin[i] > nnz ||
               (i + 1 == l.row_begin.size() && l.row_begin[i] != nnz);
    if (bad) {
      return absl::DataLossError(absl::StrFormat(
          "Labels frame: row_begin[%d] = %d is not a valid CSR offset (%d chunks)", i,
          l.row_begin[i], nnz));
    }
  }
  return l;
}

}  // namespace fm::traces
