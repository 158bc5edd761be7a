#include "runtime/backend/cuda/gpu_decode.h"

#include <algorithm>
#include <cstring>

#include "kernels/cuda/device.h"
#include "kernels/cuda/ops/topk_plan.h"
#include "runtime/backend/cuda/decode_kernels.cuh"
#include "runtime/backend/cuda/gpu_decode_internal.h"

namespace fm::rt::cuda {
namespace {

int64_t TotalBlocking() {
  int64_t n = 0;
  for (int r = 0; r < static_cast<int>(BlockingReason::kCount); ++r) {
    n += BlockingCallCount(static_cast<BlockingReason>(r));
  }
  return n;
}

}  // namespace

absl::StatusOr<std::unique_ptr<GpuDecodeExecutor>> GpuDecodeExecutor::Create(
    const Model& model, const GpuDecodeOptions& options) {
  FM_RETURN_IF_ERROR(kernels::FirstCudaDevice().status());
  std::unique_ptr<GpuDecodeExecutor> ex(new GpuDecodeExecutor());
  FM_RETURN_IF_ERROR(ex->Init(model, options));
  return ex;
}

absl::Status GpuDecodeExecutor::Init(const Model& model, const GpuDecodeOptions& options) {
  const auto* impl = dynamic_cast<const ModelImpl*>(&model);
  if (impl == nullptr) return absl::InvalidArgumentError("gpu decode: not a loaded flashmem Model");
  const ModelConfig& c = impl->config();
  config_ = &c;
  use_graph_ = options.use_graph;
  routed_experts_ = options.routed_experts;
  if (options.batch < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpu decode: batch=", options.batch, ", expected >= 1"));
  }
  for (size_t l = 0; l < impl->weights().layers.size(); ++l) {
    if (impl->weights().layers[l].attn.wo_a_groups.size() != static_cast<size_t>(c.o_groups)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "gpu decode: layer ", l, " has ", impl->weights().layers[l].attn.wo_a_groups.size(),
          " wo_a groups, config o_groups=", c.o_groups));
    }
  }
  const int64_t topk_k = std::max<int64_t>(1, c.index_topk);
  DecodeStepShape shape;
  shape.batch = options.batch;
  shape.max_context = options.max_context > 0 ? options.max_context : c.max_position_embeddings;
  shape.fp8_kv = impl->options().kv_mode == KvMode::kFp8;
  shape.topk_workspace_bytes = static_cast<int64_t>(kernels::cuda::TopKRadixWorkspaceBytes(topk_k));
  WeightPlacer counter(nullptr);
  w_ = std::make_unique<DeviceWeights>();
  FM_RETURN_IF_ERROR(PlaceWeights(*impl, counter, w_.get()));
  shape.weight_bytes = counter.used();
  FM_ASSIGN_OR_RETURN(plan_, PlanDecodeStep(c, shape));

  for (cudaStream_t& s : streams_) {
    FM_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  }
  for (cudaEvent_t* e : {&e_copy_, &e_publish_, &e_step_}) {
    FM_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(e, cudaEventDisableTiming));
  }
  run_ahead_ = std::max<int32_t>(0, options.run_ahead);
  step_ring_.assign(static_cast<size_t>(run_ahead_ + 1), nullptr);
  for (cudaEvent_t& e : step_ring_) {
    FM_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  }
  void* arena = nullptr;
  FM_CUDA_RETURN_IF_ERROR(cudaMalloc(&arena, static_cast<size_t>(plan_.total_bytes)));
  ++counters_.allocations;
  arena_ = static_cast<std::byte*>(arena);
  // Zero state (compressor rings start at zero, as the CPU's) before the weights land.
  FM_CUDA_RETURN_IF_ERROR(
      cudaMemsetAsync(arena_, 0, static_cast<size_t>(plan_.total_bytes), streams_[0]));
  FM_CUDA_RETURN_IF_ERROR(BlockingStreamSynchronize(streams_[0], BlockingReason::kStartup));
  WeightPlacer placer(arena_ + plan_.act.weights);
  FM_RETURN_IF_ERROR(PlaceWeights(*impl, placer, w_.get()));
  // Every layer's expert views (device pointers now) for the routed GEMV: [layer][expert][w1 w2
  // w3].
  const int64_t E = c.n_routed_experts;
  std::vector<kernels::WeightView> views;
  for (size_t l = 0; l < w_->layers.size(); ++l) {
    const auto& experts = w_->layers[l].experts;
    if (static_cast<int64_t>(experts.size()) != E) {
      return absl::InvalidArgumentError(
          absl::StrCat("gpu decode: layer ", l, " has ", experts.size(),
                       " routed experts, config n_routed_experts=", E));
    }
    for (const DeviceWeights::Expert& e : experts) {
      views.push_back(e.w1);
      views.push_back(e.w2);
      views.push_back(e.w3);
    }
  }
  if (!views.empty()) {
    FM_CUDA_RETURN_IF_ERROR(BlockingMemcpy(At<kernels::WeightView>(plan_.act.expert_views),
                                           views.data(), views.size() * sizeof(kernels::WeightView),
                                           cudaMemcpyHostToDevice, BlockingReason::kStartup));
  }

  // The hot pool: one slot = every CSA layer's block of one page (DESIGN.md §2.1).
  slot_bytes_ = std::max<int64_t>(1, plan_.n_csa) * kChunksPerPage * plan_.kv_entry_bytes;
  hot_slots_ = options.hot_slots > 0 ? options.hot_slots : options.batch * (plan_.n_pages + 2);
  void* pool = nullptr;
  FM_CUDA_RETURN_IF_ERROR(cudaMalloc(&pool, static_cast<size_t>(slot_bytes_ * hot_slots_)));
  ++counters_.allocations;
  hot_pool_ = static_cast<std::byte*>(pool);
  // Zero bytes are valid entries of both formats: a slot read before its first fill stays finite.
  FM_CUDA_RETURN_IF_ERROR(
      cudaMemsetAsync(hot_pool_, 0, static_cast<size_t>(slot_bytes_ * hot_slots_), streams_[0]));
  void* ring = nullptr;
  FM_CUDA_RETURN_IF_ERROR(
      cudaHostAlloc(&ring, static_cast<size_t>(4 * options.batch * 4), cudaHostAllocDefault));
  ++counters_.allocations;
  token_ring_ = static_cast<int32_t*>(ring);

  // Control defaults: every row valid, full mode, no page resident; block offsets per CSA layer.
  const int64_t B = options.batch;
  std::vector<int32_t> ones(static_cast<size_t>(B), 1);
  FM_CUDA_RETURN_IF_ERROR(BlockingMemcpy(At<int32_t>(plan_.act.row_valid), ones.data(), B * 4,
                                         cudaMemcpyHostToDevice, BlockingReason::kStartup));
  FM_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(At<int32_t>(plan_.act.lut), 0xff,
                                          static_cast<size_t>(B * plan_.n_pages * 4), streams_[0]));
  std::vector<int64_t> offsets;
  for (int64_t i = 0; i < plan_.n_csa; ++i)
    offsets.push_back(i * kChunksPerPage * plan_.kv_entry_bytes);
  if (!offsets.empty()) {
    FM_CUDA_RETURN_IF_ERROR(BlockingMemcpy(At<int64_t>(plan_.act.block_offset), offsets.data(),
                                           offsets.size() * 8, cudaMemcpyHostToDevice,
                                           BlockingReason::kStartup));
  }
  backend_ = std::make_unique<BackendHolder>(streams_[0]);
  backend_->be.SetWorkspace(At<void>(plan_.act.topk_workspace),
                            static_cast<size_t>(shape.topk_workspace_bytes));
  lut_host_.assign(static_cast<size_t>(plan_.n_pages), -1);
  FM_CUDA_RETURN_IF_ERROR(cudaEventRecord(e_publish_, streams_[0]));
  FM_CUDA_RETURN_IF_ERROR(BlockingStreamSynchronize(streams_[0], BlockingReason::kStartup));
  return absl::OkStatus();
}

GpuDecodeExecutor::~GpuDecodeExecutor() {
  for (cudaStream_t s : streams_) {
    if (s != nullptr) BlockingStreamSynchronize(s, BlockingReason::kShutdown);
  }
  for (auto& [n, g] : graphs_) cudaGraphExecDestroy(g);
  for (auto* v : {&t_start_, &t_waited_, &t_end_}) {
    for (cudaEvent_t e : *v) cudaEventDestroy(e);
  }
  for (cudaEvent_t e : {e_copy_, e_publish_, e_step_}) {
    if (e != nullptr) cudaEventDestroy(e);
  }
  for (cudaEvent_t e : step_ring_) {
    if (e != nullptr) cudaEventDestroy(e);
  }
  if (token_ring_ != nullptr) cudaFreeHost(token_ring_);
  if (hot_pool_ != nullptr) cudaFree(hot_pool_);
  if (arena_ != nullptr) cudaFree(arena_);
  for (cudaStream_t s : streams_) {
    if (s != nullptr) cudaStreamDestroy(s);
  }
}

absl::Status GpuDecodeExecutor::SetRows(absl::Span<const int64_t> positions,
                                        absl::Span<const int32_t> valid) {
  if (static_cast<int64_t>(positions.size()) > batch() || valid.size() != positions.size()) {
    return absl::InvalidArgumentError(absl::StrCat("gpu decode SetRows: ", positions.size(),
                                                   " positions and ", valid.size(), " flags for ",
                                                   batch(), " rows"));
  }
  for (int64_t p : positions) {
    if (p < 0 || p >= plan_.shape.max_context) {
      return absl::InvalidArgumentError(
          absl::StrCat("gpu decode SetRows: position ", p,
                       " outside [0, max_context=", plan_.shape.max_context, ")"));
    }
  }
  FM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(At<int64_t>(plan_.act.positions), positions.data(),
                                          positions.size() * 8, cudaMemcpyHostToDevice,
                                          streams_[0]));
  FM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(At<int32_t>(plan_.act.row_valid), valid.data(),
                                          valid.size() * 4, cudaMemcpyHostToDevice, streams_[0]));
  return absl::OkStatus();
}

absl::Status GpuDecodeExecutor::SetTokens(absl::Span<const int32_t> tokens) {
  if (static_cast<int64_t>(tokens.size()) > batch()) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpu decode SetTokens: ", tokens.size(), " tokens for ", batch(), " rows"));
  }
  for (int32_t t : tokens) {
    if (t < 0 || t >= config_->vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("gpu decode SetTokens: token id ", t,
                       " outside [0, vocab_size=", config_->vocab_size, ")"));
    }
  }
  FM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(At<int32_t>(plan_.act.tokens), tokens.data(),
                                          tokens.size() * 4, cudaMemcpyHostToDevice, streams_[0]));
  return absl::OkStatus();
}

absl::Status GpuDecodeExecutor::FillSyntheticContext(int64_t n_tokens, uint64_t seed) {
  if (n_tokens < 1 || n_tokens >= plan_.shape.max_context) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpu decode FillSyntheticContext: n_tokens=", n_tokens,
                     ", expected [1, max_context=", plan_.shape.max_context, ")"));
  }
  const ModelConfig& c = *config_;
  const int64_t B = batch(), nope = c.nope_head_dim(), rope = c.qk_rope_head_dim;
  const bool fp8 = plan_.shape.fp8_kv;
  cudaStream_t s = streams_[0];
  for (size_t l = 0; l < plan_.layers.size(); ++l) {
    const DecodeLayerRegions& r = plan_.layers[l];
    const uint64_t ls = seed * 1000003u + l * 7919u;
    FM_CUDA_RETURN_IF_ERROR(LaunchFillSynthetic(At<uint8_t>(r.window), B * c.sliding_window, nope,
                                                rope, plan_.kv_entry_bytes, fp8, false, ls, 1.0f,
                                                s));
    if (r.compressed >= 0) {
      FM_CUDA_RETURN_IF_ERROR(LaunchFillSynthetic(At<uint8_t>(r.compressed), B * r.comp_capacity,
                                                  nope, rope, plan_.kv_entry_bytes, fp8, false,
                                                  ls + 1, 1.0f, s));
    }
    if (r.index_keys >= 0) {
      FM_CUDA_RETURN_IF_ERROR(LaunchFillSynthetic(
          At<uint8_t>(r.index_keys), B * plan_.shape.max_context / 4, c.index_head_dim, 0,
          plan_.index_entry_bytes, fp8, true, ls + 2, 1.0f, s));
    }
  }
  const std::vector<int64_t> pos(static_cast<size_t>(B), n_tokens);
  FM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(At<int64_t>(plan_.act.positions), pos.data(), B * 8,
                                          cudaMemcpyHostToDevice, s));
  return absl::OkStatus();
}

std::vector<PageCopy> GpuDecodeExecutor::PageCopiesFromStore(int64_t row, int64_t page,
                                                             int32_t slot) const {
  std::vector<PageCopy> copies;
  for (const DecodeLayerRegions& r : plan_.layers) {
    if (!r.csa) continue;
    const int64_t first = page * kChunksPerPage;
    const int64_t n = std::min<int64_t>(kChunksPerPage, r.comp_capacity - first);
    if (n <= 0) continue;
    PageCopy pc;
    pc.src = arena_ + r.compressed + (row * r.comp_capacity + first) * plan_.kv_entry_bytes;
    pc.slot = slot;
    pc.offset = r.csa_ordinal * kChunksPerPage * plan_.kv_entry_bytes;
    pc.bytes = n * plan_.kv_entry_bytes;
    copies.push_back(pc);
  }
  return copies;
}

absl::Status GpuDecodeExecutor::EnableTiming(int64_t max_steps) {
  if (max_steps < 1) return absl::InvalidArgumentError("gpu decode EnableTiming: max_steps < 1");
  for (auto* v : {&t_start_, &t_waited_, &t_end_}) {
    while (static_cast<int64_t>(v->size()) < max_steps) {
      cudaEvent_t e = nullptr;
      FM_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e));
      v->push_back(e);
    }
  }
  t_publish_.assign(static_cast<size_t>(max_steps), false);
  timed_steps_ = 0;
  return absl::OkStatus();
}

absl::Status GpuDecodeExecutor::Step(const StepWork& work, int64_t n_rows) {
  const int64_t n = n_rows <= 0 ? batch() : n_rows;
  if (n > batch()) {
    return absl::InvalidArgumentError(absl::StrCat("gpu decode Step: ", n, " rows for ", batch()));
  }
  for (const PageCopy& pc : work.stage) {
    if (pc.slot < 0 || pc.slot >= hot_slots_ || pc.bytes < 0 || pc.offset < 0 ||
        pc.offset + pc.bytes > slot_bytes_) {
      return absl::InvalidArgumentError(absl::StrCat("gpu decode Step: page copy to slot ", pc.slot,
                                                     " of ", pc.bytes, " B (", hot_slots_,
                                                     " slots of ", slot_bytes_, " B)"));
    }
  }
  for (const LutUpdate& u : work.publish) {
    if (u.row < 0 || u.row >= batch() ||
        static_cast<int64_t>(u.slot_of_page.size()) > plan_.n_pages) {
      return absl::InvalidArgumentError(absl::StrCat("gpu decode Step: LUT of row ", u.row,
                                                     " with ", u.slot_of_page.size(), " pages (",
                                                     plan_.n_pages, " max)"));
    }
    for (int32_t slot : u.slot_of_page) {
      if (slot >= hot_slots_) {
        return absl::InvalidArgumentError(
            absl::StrCat("gpu decode Step: LUT slot ", slot, " >= ", hot_slots_, " hot slots"));
      }
    }
  }
  const int64_t blocking_before = TotalBlocking() - BlockingCallCount(BlockingReason::kRunAhead);
  const int64_t allocs_before = counters_.allocations;
  const size_t ring_slot = static_cast<size_t>(counters_.steps % (run_ahead_ + 1));
  if (run_ahead_ > 0 && counters_.steps >= run_ahead_ + 1) {
    // The slot's event is step t - (D + 1)'s; waiting for it leaves D steps queued.
    FM_CUDA_RETURN_IF_ERROR(
        BlockingEventSynchronize(step_ring_[ring_slot], BlockingReason::kRunAhead));
    ++counters_.run_ahead_waits;
  }
  const bool timed = timed_steps_ < static_cast<int64_t>(t_start_.size());
  const size_t ti = static_cast<size_t>(timed_steps_);
  const DecodeStepEvents ev{!work.stage.empty(), !work.publish.empty(), !work.offload.empty()};
  const std::vector<DecodeOrderRecord> order = PlanStepOrder(ev);
  std::vector<cudaEvent_t> recorded(order.size(), nullptr);
  bool started = false;
  for (size_t i = 0; i < order.size(); ++i) {
    const DecodeOrderRecord& rec = order[i];
    cudaStream_t s = streams_[static_cast<int>(rec.stream)];
    if (timed && !started && rec.stream == DecodeStream::kCompute) {
      FM_CUDA_RETURN_IF_ERROR(cudaEventRecord(t_start_[ti], s));
      started = true;
    }
    switch (rec.op) {
      case DecodeStreamOp::kWaitEvent: {
        cudaEvent_t e = rec.waits_on == kWaitPreviousCopy ? e_copy_
                        : rec.waits_on == kWaitPreviousPublish
                            ? e_publish_
                            : recorded[static_cast<size_t>(rec.waits_on)];
        FM_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(s, e, 0));
        break;
      }
      case DecodeStreamOp::kStagePages:
        for (const PageCopy& pc : work.stage) {
          FM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(hot_slot(pc.slot) + pc.offset, pc.src,
                                                  static_cast<size_t>(pc.bytes), cudaMemcpyDefault,
                                                  s));
        }
        break;
      case DecodeStreamOp::kRecordCopy:
        FM_CUDA_RETURN_IF_ERROR(cudaEventRecord(e_copy_, s));
        recorded[i] = e_copy_;
        break;
      case DecodeStreamOp::kPublishLut:
        for (const LutUpdate& u : work.publish) {
          std::fill(lut_host_.begin(), lut_host_.end(), -1);
          std::copy(u.slot_of_page.begin(), u.slot_of_page.end(), lut_host_.begin());
          const int32_t lsa = u.lsa ? 1 : 0;
          FM_CUDA_RETURN_IF_ERROR(
              cudaMemcpyAsync(At<int32_t>(plan_.act.lut) + u.row * plan_.n_pages, lut_host_.data(),
                              lut_host_.size() * 4, cudaMemcpyHostToDevice, s));
          FM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(At<int32_t>(plan_.act.lsa_rows) + u.row, &lsa, 4,
                                                  cudaMemcpyHostToDevice, s));
          const int32_t count = static_cast<int32_t>(std::count_if(
              u.slot_of_page.begin(), u.slot_of_page.end(), [](int32_t v) { return v >= 0; }));
          FM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(At<int32_t>(plan_.act.resident_pages) + u.row,
                                                  &count, 4, cudaMemcpyHostToDevice, s));
        }
        break;
      case DecodeStreamOp::kRecordPublish:
        FM_CUDA_RETURN_IF_ERROR(cudaEventRecord(e_publish_, s));
        recorded[i] = e_publish_;
        break;
      case DecodeStreamOp::kLaunchStep:
        if (timed) FM_CUDA_RETURN_IF_ERROR(cudaEventRecord(t_waited_[ti], s));
        FM_RETURN_IF_ERROR(LaunchStep(n));
        break;
      case DecodeStreamOp::kRecordStep:
        FM_CUDA_RETURN_IF_ERROR(cudaEventRecord(e_step_, s));
        FM_CUDA_RETURN_IF_ERROR(cudaEventRecord(step_ring_[ring_slot], s));
        recorded[i] = e_step_;
        if (timed) FM_CUDA_RETURN_IF_ERROR(cudaEventRecord(t_end_[ti], s));
        break;
      case DecodeStreamOp::kReadTokens: {
        int32_t* dst = token_ring_ + (counters_.steps % 4) * batch();
        FM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, At<int32_t>(plan_.act.next_token),
                                                static_cast<size_t>(n * 4), cudaMemcpyDeviceToHost,
                                                s));
        break;
      }
      case DecodeStreamOp::kOffloadTail:
        for (const TailCopy& tc : work.offload) {
          FM_CUDA_RETURN_IF_ERROR(
              cudaMemcpyAsync(tc.dst, tc.src, static_cast<size_t>(tc.bytes), cudaMemcpyDefault, s));
        }
        break;
    }
  }
  if (timed) {
    t_publish_[ti] = ev.publish;
    ++timed_steps_;
  }
  ++counters_.steps;
  counters_.blocking_calls_in_steps +=
      TotalBlocking() - BlockingCallCount(BlockingReason::kRunAhead) - blocking_before;
  counters_.allocations_in_steps += counters_.allocations - allocs_before;
  return absl::OkStatus();
}

absl::Status GpuDecodeExecutor::LaunchStep(int64_t n_rows) {
  cudaStream_t s = streams_[0];
  if (!use_graph_) return EnqueueForward(n_rows);
  auto it = graphs_.find(n_rows);
  if (it == graphs_.end()) {
    // Captured once per row count; ThreadLocal mode leaves other threads' copies legal.
    FM_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    const absl::Status enq = EnqueueForward(n_rows);
    cudaGraph_t graph = nullptr;
    const cudaError_t end = cudaStreamEndCapture(s, &graph);
    FM_RETURN_IF_ERROR(enq);
    FM_CUDA_RETURN_IF_ERROR(end);
    cudaGraphExec_t exec = nullptr;
    const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    FM_CUDA_RETURN_IF_ERROR(inst);
    it = graphs_.emplace(n_rows, exec).first;
    ++counters_.captures;
  }
  FM_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(it->second, s));
  ++counters_.graph_launches;
  return absl::OkStatus();
}

absl::Status GpuDecodeExecutor::ReadLogits(int64_t n_rows, float* out) {
  FM_RETURN_IF_ERROR(Drain());
  const size_t bytes = static_cast<size_t>(n_rows * config_->vocab_size * 4);
  FM_CUDA_RETURN_IF_ERROR(BlockingMemcpy(out, At<float>(plan_.act.logits), bytes,
                                         cudaMemcpyDeviceToHost, BlockingReason::kEval));
  return absl::OkStatus();
}

absl::Status GpuDecodeExecutor::ReadNextTokens(int64_t n_rows, int32_t* out) {
  FM_RETURN_IF_ERROR(Drain());
  FM_CUDA_RETURN_IF_ERROR(BlockingMemcpy(out, At<int32_t>(plan_.act.next_token),
                                         static_cast<size_t>(n_rows * 4), cudaMemcpyDeviceToHost,
                                         BlockingReason::kEval));
  return absl::OkStatus();
}

absl::Status GpuDecodeExecutor::Drain() {
  for (cudaStream_t s : streams_) {
    FM_CUDA_RETURN_IF_ERROR(BlockingStreamSynchronize(s, BlockingReason::kBench));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<GpuDecodeExecutor::StepTiming>> GpuDecodeExecutor::ReadTimings() {
  FM_RETURN_IF_ERROR(Drain());
  std::vector<StepTiming> out;
  for (int64_t i = 0; i < timed_steps_; ++i) {
    const size_t k = static_cast<size_t>(i);
    StepTiming t;
    float ms = 0;
    FM_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, t_start_[k], t_waited_[k]));
    t.stall_ms = ms;
    FM_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, t_waited_[k], t_end_[k]));
    t.step_ms = ms;
    if (i > 0) {
      FM_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, t_end_[k - 1], t_end_[k]));
      t.interval_ms = ms;
    }
    t.publish = t_publish_[k];
    out.push_back(t);
  }
  return out;
}

}  // namespace fm::rt::cuda
