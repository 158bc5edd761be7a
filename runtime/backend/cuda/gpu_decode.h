#pragma once
// GpuDecodeExecutor: the LSA decode step of a loaded Model on one GPU (DESIGN.md §4-§5, issue 8).
// It copies the model's weights to the device once (FP8 / MXFP4 stay packed), lays out every
// buffer of the step in one allocation (decode_step_plan.h), and runs one decode step for up to
// B requests with CudaBackend ops in the CPU forward's order (runtime/model: layer.cc,
// attention.cc, compressor.cc, moe.cc, sequence.cc), plus the device-indexed kernels of
// decode_kernels.cuh:
//  - the window, compressor rings and compressed stores are device buffers indexed by the
//    device-resident positions, which the step advances itself;
//  - Level 2 scores every causal c4 chunk of the row and masks, on LSA rows, the chunks whose page
//    has no hot slot in the row's LUT to -inf before the top-k (score-resident, spec §5.3); the
//    picked entries are gathered through the LUT from the hot pool (fp8 bytes as paged in);
//  - new c4 entries go to the row's store and, when their page has a slot, to its pool cell.
// The step is captured once per row count into a CUDA graph; later steps only launch it. A cycle
// change writes the fixed LUT buffer on the compute stream after waiting the copy event (the
// order of PlanStepOrder), never re-captures. Steps allocate nothing and make no host wait; the
// counters below prove it.
//
// Known differences from the CPU forward (documented tolerances in the parity test): the routed
// experts' GEMV is a plain warp-per-row kernel (not the Linear op's), the Level-2 picks are
// attended in top-k order (the CPU sorts them ascending), and fp32 sums run in other orders than
// the CPU's AVX2 code. Level 2 scores every chunk of the row's capacity and masks (the spec's
// full-history mode, §5.3), so its cost follows max_context, not KMAX.

#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/backend/cuda/decode_step_plan.h"
#include "runtime/model/model.h"

namespace fm::rt::cuda {

struct GpuDecodeOptions {
  int64_t batch = 1;        // B rows (the largest bucket)
  int64_t max_context = 0;  // 0: the model's max_position_embeddings
  int64_t hot_slots = 0;    // hot-pool slots; 0: B * (pages per row + 2)
  bool use_graph = true;    // false: every step enqueues the ops eagerly
  // Run-ahead bound D (DESIGN.md §4 step 1): step t first waits until step t - D finished (the
  // one host wait a step may make, reason run_ahead; the GPU still has D - 1 steps queued).
  // 0: unbounded.
  int32_t run_ahead = 3;
  // Routed experts by device-side expert id (a GEMV over each (row, slot) pair's expert, then a
  // combine in the CPU's sum order); false: every expert densely over the batch, with a zero
  // routing weight for rows that did not pick it (E-fold work, kept as a cross-check).
  bool routed_experts = true;
};

// One page copy into a hot slot (the prefetch of a generation): src is any address the GPU can
// read (pinned cold-pool page or device memory), bytes <= slot_bytes.
struct PageCopy {
  const void* src = nullptr;
  int32_t slot = 0;
  int64_t offset = 0;  // bytes into the slot (a CSA layer's block, or 0 for a whole page)
  int64_t bytes = 0;
};

// A row's new page -> slot table (-1: not resident) and whether Level 2 is restricted to it.
struct LutUpdate {
  int64_t row = 0;
  std::vector<int32_t> slot_of_page;  // at most plan().n_pages entries (the rest become -1)
  bool lsa = true;
};

// A completed tail page written back to host memory after the step (offload, D2H).
struct TailCopy {
  void* dst = nullptr;
  const void* src = nullptr;
  int64_t bytes = 0;
};

struct StepWork {
  std::vector<PageCopy> stage;
  std::vector<LutUpdate> publish;
  std::vector<TailCopy> offload;
};

struct GpuDecodeCounters {
  int64_t steps = 0;
  int64_t graph_launches = 0;
  int64_t captures = 0;
  int64_t allocations = 0;              // device/pinned allocations, all made in Create
  int64_t allocations_in_steps = 0;     // must stay 0
  int64_t blocking_calls_in_steps = 0;  // blocking.h calls inside Step() other than run_ahead
                                        // (must stay 0: no GPU->host sync on the decode path)
  int64_t run_ahead_waits = 0;          // the bounded run-ahead waits (allowed)
};

class GpuDecodeExecutor {
 public:
  // Unavailable without a CUDA device; InvalidArgument for a model the step cannot run (a layer
  // kind it does not cover, names the layer) or a bad option (names it). The model must outlive
  // the executor (its config is read at every capture); its host weights are not used after.
  static absl::StatusOr<std::unique_ptr<GpuDecodeExecutor>> Create(const Model& model,
                                                                   const GpuDecodeOptions& options);
  ~GpuDecodeExecutor();
  GpuDecodeExecutor(const GpuDecodeExecutor&) = delete;
  GpuDecodeExecutor& operator=(const GpuDecodeExecutor&) = delete;

  const DecodeStepPlan& plan() const { return plan_; }
  int64_t batch() const { return plan_.shape.batch; }
  int64_t slot_bytes() const { return slot_bytes_; }
  int64_t hot_slots() const { return hot_slots_; }
  std::byte* hot_slot(int64_t slot) const { return hot_pool_ + slot * slot_bytes_; }
  cudaStream_t compute_stream() const { return streams_[0]; }

  // Row setup, stream-ordered on the compute stream (host memory may be reused on return):
  // positions of the next step's tokens, row validity, the tokens themselves. A step feeds its
  // greedy next token back into `tokens`; SetTokens overrides that (teacher forcing).
  absl::Status SetRows(absl::Span<const int64_t> positions, absl::Span<const int32_t> valid);
  absl::Status SetTokens(absl::Span<const int32_t> tokens);
  // Benchmarks: every row looks as if `n_tokens` tokens had been decoded (window, compressed
  // entries and index keys filled with pseudo-random entries, compressor rings zero), positions
  // set to n_tokens. The logits then carry no meaning, the cost is that of the context length.
  absl::Status FillSyntheticContext(int64_t n_tokens, uint64_t seed);

  // Copies of page `page` of `row`'s own c4 store (every CSA layer's 64 entries) into `slot`:
  // what a prefetch from the cold pool puts there.
  std::vector<PageCopy> PageCopiesFromStore(int64_t row, int64_t page, int32_t slot) const;

  // One decode step for rows [0, n_rows) (0: all), carrying out PlanStepOrder for `work`.
  absl::Status Step(const StepWork& work = {}, int64_t n_rows = 0);

  // Blocking reads (reason eval), after the stream drained: logits [n_rows][vocab] of the last
  // step, and the greedy next tokens.
  absl::Status ReadLogits(int64_t n_rows, float* out);
  absl::Status ReadNextTokens(int64_t n_rows, int32_t* out);
  // Waits (reason bench) until every stream is idle.
  absl::Status Drain();

  // Per-step device timing (benchmarks): events recorded at the start of the step on the compute
  // stream, after its publish wait, and after the step; up to `max_steps` steps are kept.
  absl::Status EnableTiming(int64_t max_steps);
  struct StepTiming {
    double stall_ms = 0;     // start -> after the copy wait and LUT write
    double step_ms = 0;      // after the wait -> end of the step
    double interval_ms = 0;  // end of the previous step -> end of this one (0 for the first)
    bool publish = false;
  };
  absl::StatusOr<std::vector<StepTiming>> ReadTimings();

  const GpuDecodeCounters& counters() const { return counters_; }

  struct DeviceWeights;  // the weights' device copies (gpu_decode.cc)

 private:
  GpuDecodeExecutor() = default;
  absl::Status Init(const Model& model, const GpuDecodeOptions& options);
  absl::Status EnqueueForward(int64_t n_rows);
  absl::Status EnqueueLayer(size_t l, int64_t n_rows);
  absl::Status EnqueueAttention(size_t l, int64_t n_rows);
  absl::Status EnqueueMoe(size_t l, int64_t n_rows);
  absl::Status LaunchStep(int64_t n_rows);
  template <typename T>
  T* At(int64_t offset) const {
    return reinterpret_cast<T*>(arena_ + offset);
  }

  DecodeStepPlan plan_;
  std::unique_ptr<DeviceWeights> w_;
  const ModelConfig* config_ = nullptr;
  std::byte* arena_ = nullptr;
  std::byte* hot_pool_ = nullptr;
  int64_t slot_bytes_ = 0, hot_slots_ = 0;
  int32_t* token_ring_ = nullptr;  // pinned [4][B]: the async next-token readback
  cudaStream_t streams_[3] = {nullptr, nullptr, nullptr};  // compute, h2d, d2h (DecodeStream)
  cudaEvent_t e_copy_ = nullptr, e_publish_ = nullptr, e_step_ = nullptr;
  int32_t run_ahead_ = 3;
  std::vector<cudaEvent_t> step_ring_;  // [run_ahead + 1]: E_step of the last steps
  struct BackendHolder;
  std::unique_ptr<BackendHolder> backend_;
  std::map<int64_t, cudaGraphExec_t> graphs_;  // per row count
  bool use_graph_ = true;
  bool routed_experts_ = true;
  std::vector<int32_t> lut_host_;  // staging of a publish (pageable: copied on enqueue)
  // Timing.
  std::vector<cudaEvent_t> t_start_, t_waited_, t_end_;
  std::vector<bool> t_publish_;
  int64_t timed_steps_ = 0;
  GpuDecodeCounters counters_;
};

}  // namespace fm::rt::cuda
