#include "traces/control.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"
#include "traces/byte_io.h"

namespace fm::traces {
namespace {

bool IsInteger(double v) { return std::isfinite(v) && std::floor(v) == v; }

absl::Status IntegerInRange(const std::string& name, double v, double lo, double hi) {
  if (!IsInteger(v) || v < lo || v > hi) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Control SetParam '%s': value %g, expected an integer in [%g, %g]", name, v, lo, hi));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<uint8_t> EncodeControl(const ControlMessage& m) {
  std::vector<uint8_t> p;
  ByteWriter w(&p);
  w.Put<uint16_t>(static_cast<uint16_t>(m.op));
  switch (m.op) {
    case ControlOp::kSetParam:
      w.PutString(m.param);
      w.Put(m.value);
      w.Put(m.request_id);
      break;
    case ControlOp::kRequestSnapshot:
      break;
    case ControlOp::kSetSnapshotPeriod:
      w.Put(m.snapshot_period_ms);
      break;
    case ControlOp::kSetCategories:
      w.Put(m.categories);
      break;
    case ControlOp::kSetPaused:
      w.Put<uint8_t>(m.paused ? 1 : 0);
      break;
  }
  return p;
}

absl::StatusOr<ControlMessage> DecodeControl(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  ControlMessage m;
  uint16_t op = r.Get<uint16_t>();
  if (!r.ok()) return absl::DataLossError("Control frame: payload shorter than the u16 op");
  if (op == 0 || op > kMaxControlOp) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Control frame: op %d, expected 1..%d", op, kMaxControlOp));
  }
  m.op = static_cast<ControlOp>(op);
  switch (m.op) {
    case ControlOp::kSetParam:
      m.param = r.GetString();
      m.value = r.Get<double>();
      m.request_id = r.Get<uint32_t>();
      break;
    case ControlOp::kRequestSnapshot:
      break;
    case ControlOp::kSetSnapshotPeriod:
      m.snapshot_period_ms = r.Get<uint32_t>();
      break;
    case ControlOp::kSetCategories:
      m.categories = r.Get<uint64_t>();
      break;
    case ControlOp::kSetPaused: {
      uint8_t v = r.Get<uint8_t>();
      if (v > 1) return absl::InvalidArgumentError(absl::StrFormat("Control SetPaused: %d, expected 0 or 1", v));
      m.paused = v == 1;
      break;
    }
  }
  if (!r.ok() || r.remaining_bytes() != 0) {
    return absl::DataLossError(absl::StrFormat(
        "Control frame (op %d): payload %d bytes does not match the op's layout", op,
        payload.size()));
  }
  return m;
}

absl::Status ValidateControl(const ControlMessage& m, const ControlLimits& limits) {
  switch (m.op) {
    case ControlOp::kSetParam: {
      const std::string& n = m.param;
      // With a page bound, the other of τ and Δ takes its share of the page's tokens.
      auto page_share = [&](double cap, uint32_t other) {
        return limits.tokens_per_page == 0
                   ? cap
                   : std::min(cap, static_cast<double>(limits.tokens_per_page) - other);
      };
      if (n == kParamTau) return IntegerInRange(n, m.value, 8, page_share(256, limits.delta_steps));
      if (n == kParamDelta) {
        return IntegerInRange(n, m.value, 1, page_share(limits.tau_steps, limits.tau_steps));
      }
      if (n == kParamKmax) return IntegerInRange(n, m.value, 1, limits.kmax_max_pages);
      if (n == kParamTail) return IntegerInRange(n, m.value, 0, limits.kmax_max_pages);
      if (n == kParamThreshold) {
        if (!(m.value > 0 && m.value < 1)) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "Control SetParam 'threshold': value %g, expected 0 < threshold < 1", m.value));
        }
        return absl::OkStatus();
      }
      return absl::InvalidArgumentError(absl::StrFormat(
          "Control SetParam: parameter '%s' unknown, expected one of tau, delta, threshold, kmax, "
          "tail",
          n));
    }
    case ControlOp::kSetSnapshotPeriod:
      if (m.snapshot_period_ms < 10 || m.snapshot_period_ms > 60000) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "Control SetSnapshotPeriod: %d ms, expected [10, 60000]", m.snapshot_period_ms));
      }
      return absl::OkStatus();
    case ControlOp::kRequestSnapshot:
    case ControlOp::kSetCategories:
    case ControlOp::kSetPaused:
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError("Control: unknown op");
}

std::vector<uint8_t> EncodeControlReply(const ControlReply& r) {
  std::vector<uint8_t> p;
  ByteWriter w(&p);
  w.Put(r.control_seq);
  w.Put<uint16_t>(static_cast<uint16_t>(r.code));
  w.PutString(r.message);
  return p;
}

absl::StatusOr<ControlReply> DecodeControlReply(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  ControlReply out;
  out.control_seq = r.Get<uint32_t>();
  uint16_t code = r.Get<uint16_t>();
  out.message = r.GetString();
  if (!r.ok() || r.remaining_bytes() != 0 || code > 16) {
    return absl::DataLossError(absl::StrFormat(
        "ControlReply frame: %d payload bytes, status code %d: malformed (codes are 0..16)",
        payload.size(), code));
  }
  out.code = static_cast<absl::StatusCode>(code);
  return out;
}

absl::Status ControlQueue::Submit(ControlMessage m) {
  MutexLock lock(&mu_);
  if (absl::Status st = ValidateControl(m, limits_); !st.ok()) return st;
  if (queue_.size() >= kCapacity) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "Control queue full (%d messages): the runtime has not reached a cycle boundary",
        kCapacity));
  }
  queue_.push_back(std::move(m));
  return absl::OkStatus();
}

size_t ControlQueue::Poll(std::vector<ControlMessage>* out) {
  MutexLock lock(&mu_);
  size_t n = queue_.size();
  for (ControlMessage& m : queue_) out->push_back(std::move(m));
  queue_.clear();
  return n;
}

void ControlQueue::SetLimits(const ControlLimits& limits) {
  MutexLock lock(&mu_);
  limits_ = limits;
}

ControlLimits ControlQueue::limits() const {
  MutexLock lock(&mu_);
  return limits_;
}

void ControlQueue::PostReply(uint32_t client_id, ControlReply reply) {
  MutexLock lock(&mu_);
  if (replies_.size() >= kCapacity) replies_.pop_front();
  replies_.emplace_back(client_id, std::move(reply));
}

size_t ControlQueue::TakeReplies(std::vector<std::pair<uint32_t, ControlReply>>* out) {
  MutexLock lock(&mu_);
  size_t n = replies_.size();
  for (auto& r : replies_) out->push_back(std::move(r));
  replies_.clear();
  return n;
}

}  // namespace fm::traces
