#include "traces/snapshot.h"

#include <algorithm>
#include <bit>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/little_endian.h"
#include "traces/byte_io.h"
#include "traces/wire_schema.h"

namespace fm::traces {
namespace {

constexpr size_t kSnapshotHeadBytes = 4 + 2 + 2 + 8;
constexpr size_t kSectionHeadBytes = 2 + 4;

// Writes a section header with a length patched when `body` finishes.
template <typename Body>
void PutSection(ByteWriter& w, SnapshotSection type, Body body) {
  w.Put<uint16_t>(static_cast<uint16_t>(type));
  size_t len_at = w.size_bytes();
  w.Put<uint32_t>(0);
  body();
  StoreLE<uint32_t>(w.buffer()->data() + len_at,
                    static_cast<uint32_t>(w.size_bytes() - len_at - 4));
}

size_t ResidencyEntryBytes(const ResidencyEntry& e) {
  return 4 + 4 + 1 + e.page_states.size() + e.l2_use.size();
}

void PutResidencyEntry(ByteWriter& w, const ResidencyEntry& e) {
  w.Put(e.request_id);
  w.Put<uint32_t>(static_cast<uint32_t>(e.page_states.size()));
  w.Put(e.l2_layers);
  w.PutBytes(e.page_states.data(), e.page_states.size());
  w.PutBytes(e.l2_use.data(), e.l2_use.size());
}

void PutHistogram(ByteWriter& w, const std::vector<uint64_t>& h) {
  w.Put<uint16_t>(static_cast<uint16_t>(std::min<size_t>(h.size(), kLatencyBuckets)));
  for (size_t i = 0; i < h.size() && i < static_cast<size_t>(kLatencyBuckets); ++i) w.Put(h[i]);
}

bool GetHistogram(ByteReader& r, std::vector<uint64_t>* h) {
  uint16_t n = r.Get<uint16_t>();
  if (n > kLatencyBuckets || !r.CanHold(n, 8)) return false;
  h->resize(n);
  for (uint64_t& v : *h) v = r.Get<uint64_t>();
  return r.ok();
}

absl::Status SectionError(SnapshotSection type, const char* field, size_t at) {
  return absl::DataLossError(absl::StrFormat(
      "Snapshot frame: section %d field '%s' at section byte %d: truncated or out of range",
      static_cast<int>(type), field, at));
}

absl::Status DecodeSection(SnapshotSection type, std::span<const uint8_t> body, Snapshot* s) {
  ByteReader r(body);
  switch (type) {
    case SnapshotSection::kPools: {
      PoolsSection p;
      p.slot_bytes = r.Get<uint64_t>();
      p.slots_total = r.Get<uint32_t>();
      p.slots_used = r.Get<uint32_t>();
      p.slots_fetching = r.Get<uint32_t>();
      p.slots_dirty = r.Get<uint32_t>();
      p.cold_used_bytes = r.Get<uint64_t>();
      p.cold_total_bytes = r.Get<uint64_t>();
      if (!r.ok()) return SectionError(type, "Pools", r.position());
      s->pools = p;
      return absl::OkStatus();
    }
    case SnapshotSection::kParams: {
      ParamsSection p;
      p.tau_steps = r.Get<uint32_t>();
      p.delta_steps = r.Get<uint32_t>();
      p.threshold = r.Get<double>();
      p.kmax_pages = r.Get<uint32_t>();
      p.kmax_max_pages = r.Get<uint32_t>();
      p.tail_pages = r.Get<uint32_t>();
      p.sink = r.Get<uint8_t>();
      p.ensemble = r.Get<uint8_t>();
      if (!r.ok()) return SectionError(type, "Params", r.position());
      s->params = p;
      return absl::OkStatus();
    }
    case SnapshotSection::kRequests: {
      uint32_t count = r.Get<uint32_t>();
      if (!r.CanHold(count, 32)) return SectionError(type, "count", r.position());
      std::vector<RequestRow> rows(count);
      for (RequestRow& q : rows) {
        q.id = r.Get<uint32_t>();
        q.row = r.Get<uint32_t>();
        q.context_tokens = r.Get<uint64_t>();
        q.pages = r.Get<uint32_t>();
        q.phase = r.Get<uint32_t>();
        q.generation = r.Get<uint32_t>();
        r.Get<uint32_t>();  // padding keeps rows 32 bytes for readers that map them directly
      }
      if (!r.ok()) return SectionError(type, "rows", r.position());
      s->requests = std::move(rows);
      return absl::OkStatus();
    }
    case SnapshotSection::kResidency: {
      uint32_t count = r.Get<uint32_t>();
      if (!r.CanHold(count, 9)) return SectionError(type, "request count", r.position());
      for (uint32_t i = 0; i < count; ++i) {
        ResidencyEntry e;
        e.request_id = r.Get<uint32_t>();
        uint32_t pages = r.Get<uint32_t>();
        e.l2_layers = r.Get<uint8_t>();
        if (!r.CanHold(pages, 1 + uint64_t{e.l2_layers})) {
          return SectionError(type, "page count", r.position());
        }
        auto states = r.GetBytes(pages);
        for (uint8_t st : states) {
          if (st > kMaxPageState) {
            return absl::DataLossError(absl::StrFormat(
                "Snapshot frame: residency of request %d: page state %d, expected 0..%d",
                e.request_id, st, kMaxPageState));
          }
        }
        e.page_states.assign(states.begin(), states.end());
        auto use = r.GetBytes(uint64_t{pages} * e.l2_layers);
        e.l2_use.assign(use.begin(), use.end());
        s->residency.push_back(std::move(e));
      }
      if (!r.ok()) return SectionError(type, "entries", r.position());
      return absl::OkStatus();
    }
    case SnapshotSection::kLatency: {
      LatencyHistograms h;
      if (!GetHistogram(r, &h.fetch_ns) || !GetHistogram(r, &h.copy_ns)) {
        return SectionError(type, "histogram", r.position());
      }
      s->latency = std::move(h);
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();  // unknown section: skipped by length (a newer writer)
}

}  // namespace

int LatencyBucketOf(uint64_t ns) {
  if (ns < 8) return static_cast<int>(ns);
  int e = 63 - std::countl_zero(ns);  // floor(log2 ns) >= 3
  int sub = static_cast<int>((ns >> (e - 3)) & 7);
  return 8 + (e - 3) * 8 + sub;
}

uint64_t LatencyBucketLowerNs(int bucket) {
  if (bucket < 8) return static_cast<uint64_t>(bucket);
  int e = (bucket - 8) / 8 + 3;
  int sub = (bucket - 8) % 8;
  return (uint64_t{8} + static_cast<uint64_t>(sub)) << (e - 3);
}

void LatencyHistograms::Add(std::vector<uint64_t>* hist, uint64_t ns) {
  size_t b = static_cast<size_t>(LatencyBucketOf(ns));
  if (hist->size() <= b) hist->resize(b + 1, 0);
  ++(*hist)[b];
}

std::vector<std::vector<uint8_t>> EncodeSnapshot(const Snapshot& s) {
  std::vector<std::vector<uint8_t>> parts;
  auto begin_part = [&]() {
    parts.emplace_back();
    ByteWriter w(&parts.back());
    w.Put(s.snapshot_id);
    w.Put<uint16_t>(0);  // part, patched at the end
    w.Put<uint16_t>(1);  // parts, patched at the end
    w.Put(s.t_ns);
  };
  begin_part();
  {
    ByteWriter w(&parts.back());
    if (s.pools) {
      const PoolsSection& p = *s.pools;
      PutSection(w, SnapshotSection::kPools, [&] {
        w.Put(p.slot_bytes);
        w.Put(p.slots_total);
        w.Put(p.slots_used);
        w.Put(p.slots_fetching);
        w.Put(p.slots_dirty);
        w.Put(p.cold_used_bytes);
        w.Put(p.cold_total_bytes);
      });
    }
    if (s.params) {
      const ParamsSection& p = *s.params;
      PutSection(w, SnapshotSection::kParams, [&] {
        w.Put(p.tau_steps);
        w.Put(p.delta_steps);
        w.Put(p.threshold);
        w.Put(p.kmax_pages);
        w.Put(p.kmax_max_pages);
        w.Put(p.tail_pages);
        w.Put(p.sink);
        w.Put(p.ensemble);
      });
    }
    if (s.requests) {
      // 32 bytes per row: a request table beyond ~32k rows is cut (max_bs is far smaller).
      size_t n = std::min<size_t>(s.requests->size(), 30000);
      PutSection(w, SnapshotSection::kRequests, [&] {
        w.Put<uint32_t>(static_cast<uint32_t>(n));
        for (size_t i = 0; i < n; ++i) {
          const RequestRow& q = (*s.requests)[i];
          w.Put(q.id);
          w.Put(q.row);
          w.Put(q.context_tokens);
          w.Put(q.pages);
          w.Put(q.phase);
          w.Put(q.generation);
          w.Put<uint32_t>(0);
        }
      });
    }
    if (s.latency) {
      PutSection(w, SnapshotSection::kLatency, [&] {
        PutHistogram(w, s.latency->fetch_ns);
        PutHistogram(w, s.latency->copy_ns);
      });
    }
  }
  // Residency: greedily pack entries into sections, opening a new part when the next entry does
  // not fit in what is left of the current one.
  size_t i = 0;
  while (i < s.residency.size()) {
    const size_t need = kSectionHeadBytes + 4 + ResidencyEntryBytes(s.residency[i]);
    if (parts.back().size() + need > kMaxPayloadBytes && parts.back().size() > kSnapshotHeadBytes) {
      begin_part();
    }
    ByteWriter w(&parts.back());
    PutSection(w, SnapshotSection::kResidency, [&] {
      size_t count_at = w.size_bytes();
      w.Put<uint32_t>(0);
      uint32_t count = 0;
      while (i < s.residency.size()) {
        const ResidencyEntry& e = s.residency[i];
        size_t room = kMaxPayloadBytes - w.size_bytes();
        if (ResidencyEntryBytes(e) <= room) {
          PutResidencyEntry(w, e);
        } else if (count > 0) {
          break;  // goes to the next part
        } else {
          ResidencyEntry cut;  // alone in a part and still too large: drop l2_use, then pages
          cut.request_id = e.request_id;
          size_t pages = std::min(e.page_states.size(), room - 9);
          cut.page_states.assign(e.page_states.begin(), e.page_states.begin() + pages);
          PutResidencyEntry(w, cut);
        }
        ++i;
        ++count;
      }
      StoreLE<uint32_t>(w.buffer()->data() + count_at, count);
    });
  }
  for (size_t p = 0; p < parts.size(); ++p) {
    StoreLE<uint16_t>(parts[p].data() + 4, static_cast<uint16_t>(p));
    StoreLE<uint16_t>(parts[p].data() + 6, static_cast<uint16_t>(parts.size()));
  }
  return parts;
}

absl::StatusOr<Snapshot> DecodeSnapshot(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  Snapshot s;
  s.snapshot_id = r.Get<uint32_t>();
  s.part = r.Get<uint16_t>();
  s.parts = r.Get<uint16_t>();
  s.t_ns = r.Get<int64_t>();
  if (!r.ok() || s.parts == 0 || s.part >= s.parts) {
    return absl::DataLossError(absl::StrFormat(
        "Snapshot frame: header (%d payload bytes, part %d of %d) malformed, expected %d bytes and "
        "part < parts",
        payload.size(), s.part, s.parts, kSnapshotHeadBytes));
  }
  while (r.remaining_bytes() > 0) {
    uint16_t type = r.Get<uint16_t>();
    uint32_t len = r.Get<uint32_t>();
    auto body = r.GetBytes(len);
    if (!r.ok()) {
      return absl::DataLossError(absl::StrFormat(
          "Snapshot frame: section type %d length %d overruns the payload (%d bytes)", type, len,
          payload.size()));
    }
    if (absl::Status st = DecodeSection(static_cast<SnapshotSection>(type), body, &s); !st.ok()) {
      return st;
    }
  }
  return s;
}

}  // namespace fm::traces
