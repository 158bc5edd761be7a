#pragma once
// The control channel from the profiler UI to the runtime (DESIGN.md §5, §7). traces/ decodes and
// validates Control frames; the runtime polls the ControlQueue and applies each message at the
// affected request's next cycle boundary, confirming with a Param event.

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "traces/mutex.h"
#include "traces/wire_schema.h"

namespace fm::traces {

// SetParam names understood by the runtime.
inline constexpr char kParamTau[] = "tau";              // cycle length in steps, integer [8, 256]
inline constexpr char kParamDelta[] = "delta";          // publish delay in steps, integer [1, tau]
inline constexpr char kParamThreshold[] = "threshold";  // Level-1 sigma threshold, (0, 1)
inline constexpr char kParamKmax[] = "kmax";            // pages selected, integer [1, kmax_max]
inline constexpr char kParamTail[] = "tail";            // forced recency tail pages, [0, kmax_max]

struct ControlMessage {
  ControlOp op = ControlOp::kRequestSnapshot;
  std::string param;                  // kSetParam
  double value = 0;                   // kSetParam
  uint32_t request_id = kAllRequests; // kSetParam
  uint32_t snapshot_period_ms = 0;    // kSetSnapshotPeriod
  uint64_t categories = 0;            // kSetCategories
  bool paused = false;                // kSetPaused
  // Filled by the server, not on the wire: who sent it and the seq of its frame (for replies).
  uint32_t client_id = 0;
  uint32_t frame_seq = 0;
  friend bool operator==(const ControlMessage&, const ControlMessage&) = default;
};

std::vector<uint8_t> EncodeControl(const ControlMessage& m);
// DataLoss for a malformed payload, InvalidArgument for an unknown op.
absl::StatusOr<ControlMessage> DecodeControl(std::span<const uint8_t> payload);

// What validation needs from the runtime's current configuration.
struct ControlLimits {
  uint32_t kmax_max_pages = 0;  // size of the device tables (DESIGN.md §2.2): KMAX cannot exceed it
  uint32_t tau_steps = 64;      // current tau: delta must stay within [1, tau]
  // When non-zero, tau + delta must fit in one page's tokens (decode between two publishes goes to
  // the tail and spare pages, DESIGN.md §2.2): tau <= tokens_per_page - delta_steps and
  // delta <= tokens_per_page - tau_steps. 0: no such bound (the runtime checks it later).
  uint32_t tokens_per_page = 0;
  uint32_t delta_steps = 0;  // current delta, for the bound above
};

// InvalidArgument naming the parameter, the value and the accepted range (DESIGN.md §5):
// tau in [8, 256]; threshold in (0, 1); kmax in [1, kmax_max]; delta in [1, tau]; tail in
// [0, kmax_max]; integers where the parameter counts steps or pages; snapshot period [10, 60000] ms;
// tau + delta <= tokens_per_page when the limits give one.
absl::Status ValidateControl(const ControlMessage& m, const ControlLimits& limits);

struct ControlReply {
  uint32_t control_seq = 0;  // seq of the Control frame this answers
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;
  friend bool operator==(const ControlReply&, const ControlReply&) = default;
};
std::vector<uint8_t> EncodeControlReply(const ControlReply& r);
absl::StatusOr<ControlReply> DecodeControlReply(std::span<const uint8_t> payload);

// Validated Control messages waiting for the runtime. Bounded (kCapacity); the socket server
// pushes from the telemetry drain thread, the runtime polls from its own thread. Thread-safe.
class ControlQueue {
 public:
  static constexpr size_t kCapacity = 256;

  // Validates against the current limits and enqueues. InvalidArgument when invalid,
  // ResourceExhausted when the runtime has not polled for kCapacity messages.
  absl::Status Submit(ControlMessage m);

  // Moves every queued message into *out (appending) and returns how many. Never blocks on I/O.
  size_t Poll(std::vector<ControlMessage>* out);

  // The runtime updates the limits whenever tau or kmax_max change.
  void SetLimits(const ControlLimits& limits);
  ControlLimits limits() const;

  // The runtime's own answer to a message it polled but could not apply: a limit only it knows
  // (τ + Δ within a page, a request that left, an op it does not implement). The socket server
  // sends it to client `client_id` as a second ControlReply for the same control_seq, or drops it
  // when that client is gone. Bounded by kCapacity (the oldest reply goes first).
  void PostReply(uint32_t client_id, ControlReply reply);
  // Moves the posted replies, oldest first, into *out (appending); returns how many.
  size_t TakeReplies(std::vector<std::pair<uint32_t, ControlReply>>* out);

 private:
  mutable Mutex mu_;
  std::deque<ControlMessage> queue_ ABSL_GUARDED_BY(mu_);
  ControlLimits limits_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<uint32_t, ControlReply>> replies_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fm::traces
