#include "tools/tune/tune_synth.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "scheduler/geometry.h"
#include "traces/payloads.h"
#include "traces/trace_file_writer.h"
#include "traces/wire_schema.h"

namespace fm::tune {
namespace {

constexpr int32_t kChunksPerPage = 64;
constexpr int32_t kTokensPerChunk = 4;
constexpr int32_t kNewestPicked = 64;
constexpr uint8_t kPlantedQ = 140;  // 0.549
constexpr uint8_t kDecoyQ = 115;    // 0.451
constexpr uint8_t kNoiseMaxQ = 89;  // 0.349

uint64_t Mix(uint64_t x) {  // splitmix64 finaliser: deterministic, cheap noise
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Pages eligible for planting: the prompt's pages outside the forced recency tail (the last
// 40 pages) so that only the learned part of the selection can cover them.
int64_t EligiblePages(const SynthTuneOptions& o) {
  return o.prompt_tokens / kTokensPerChunk / kChunksPerPage - 40;
}

// Decoys occupy the even slots of a stride, planted pages the odd ones: never the same page.
int64_t PageFor(const SynthTuneOptions& o, uint32_t rid, int64_t key, bool decoy) {
  const int64_t half = EligiblePages(o) / 2;
  const int64_t k = static_cast<int64_t>(Mix(o.seed * 7919 + rid * 104729 + key) % half);
  return 2 * k + (decoy ? 0 : 1);
}

std::vector<int64_t> DecoyPages(const SynthTuneOptions& o, uint32_t rid) {
  std::vector<int64_t> pages;
  for (int64_t key = 1'000'000; static_cast<int32_t>(pages.size()) < o.planted_pages / 2; ++key) {
    const int64_t p = PageFor(o, rid, key, true);
    if (std::find(pages.begin(), pages.end(), p) == pages.end()) pages.push_back(p);
  }
  std::sort(pages.begin(), pages.end());
  return pages;
}

}  // namespace

absl::Status SynthTuneOptions::Validate() const {
  auto bad = [](const char* field, int64_t v, const char* expected) {
    return absl::InvalidArgumentError(
        absl::StrFormat("synth trace: %s = %d, expected %s", field, v, expected));
  };
  if (prompt_tokens < 64 * 1024 || prompt_tokens > (int64_t{1} << 22))
    return bad("prompt_tokens", prompt_tokens, "in [65536, 4194304]");
  if (steps < 1 || steps > 1'000'000) return bad("steps", steps, "in [1, 1000000]");
  if (score_interval_steps < 1 || score_interval_steps > 256)
    return bad("score_interval_steps", score_interval_steps, "in [1, 256]");
  if (planted_pages < 4 || planted_pages > EligiblePages(*this) / 4)
    return bad("planted_pages", planted_pages, "in [4, eligible pages / 4]");
  if (phase_steps < 1) return bad("phase_steps", phase_steps, ">= 1");
  if (picks_per_step <= kNewestPicked || picks_per_step > 4096)
    return bad("picks_per_step", picks_per_step, "in [65, 4096]");
  if (layers < 1 || layers > 8) return bad("layers", layers, "in [1, 8]");
  if (requests < 1 || requests > 64) return bad("requests", requests, "in [1, 64]");
  return absl::OkStatus();
}

std::vector<int64_t> PlantedPages(const SynthTuneOptions& o, uint32_t rid, int64_t step) {
  // Phase k keeps the pages of keys [k * q, k * q + n): a quarter replaced per phase.
  const int64_t quarter = std::max(1, o.planted_pages / 4);
  const int64_t first_key = step / o.phase_steps * quarter;
  std::vector<int64_t> pages;
  for (int64_t key = first_key; static_cast<int32_t>(pages.size()) < o.planted_pages; ++key) {
    const int64_t p = PageFor(o, rid, key, false);
    if (std::find(pages.begin(), pages.end(), p) == pages.end()) pages.push_back(p);
  }
  std::sort(pages.begin(), pages.end());
  return pages;
}

absl::Status WriteSynthTuneTrace(const SynthTuneOptions& o, const std::string& path) {
  FM_RETURN_IF_ERROR(o.Validate());
  FM_ASSIGN_OR_RETURN(std::unique_ptr<traces::TraceFileWriter> w,
                      traces::TraceFileWriter::Create(path, 0));
  traces::Hello hello;
  hello.program = "flashmem tune --synth-trace";
  hello.csa_layers = 21;
  hello.chunk_tokens = kTokensPerChunk;
  hello.page_chunks = kChunksPerPage;
  hello.slot_bytes = static_cast<uint64_t>(sched::GeometryConfig{}.slot_bytes());
  hello.capabilities = traces::kCapScores;
  FM_RETURN_IF_ERROR(w->WriteFrame(traces::FrameKind::kHello, traces::EncodeHello(hello)));

  for (uint32_t rid = 0; rid < static_cast<uint32_t>(o.requests); ++rid) {
    const std::vector<int64_t> decoys = DecoyPages(o, rid);
    for (int64_t step = 0; step < o.steps; ++step) {
      const int64_t n_chunks = (o.prompt_tokens + step) / kTokensPerChunk;
      const std::vector<int64_t> planted = PlantedPages(o, rid, step);
      if (step % o.score_interval_steps == 0) {
        // One frame per layer-range that fits in a payload.
        const int64_t per_frame = (traces::kMaxPayloadBytes - 64) / o.layers;
        for (int64_t begin = 0; begin < n_chunks; begin += per_frame) {
          const int64_t count = std::min(per_frame, n_chunks - begin);
          traces::Scores s;
          s.request_id = rid;
          s.step = static_cast<uint64_t>(step);
          s.chunk_begin = static_cast<uint64_t>(begin);
          s.chunk_count = static_cast<uint32_t>(count);
          s.layers = static_cast<uint8_t>(o.layers);
          s.sigma_q.resize(static_cast<size_t>(count * o.layers));
          for (int32_t l = 0; l < o.layers; ++l) {
            uint8_t* row = s.sigma_q.data() + int64_t{l} * count;
            for (int64_t j = 0; j < count; ++j) {
              const int64_t c = begin + j;
              row[j] = static_cast<uint8_t>(Mix(o.seed ^ (uint64_t(c) << 8) ^ l ^ (step << 40)) %
                                            (kNoiseMaxQ + 1));
            }
          }
          auto set = [&](int64_t page, int32_t layer, uint8_t q, int stride) {
            for (int64_t c = page * kChunksPerPage; c < (page + 1) * kChunksPerPage; c += stride) {
              if (c >= begin && c < begin + count)
                s.sigma_q[int64_t{layer} * count + c - begin] = q;
            }
          };
          for (int64_t p : decoys) set(p, 0, kDecoyQ, 1);
          for (int64_t p : planted) set(p, static_cast<int32_t>(p % o.layers), kPlantedQ, 2);
          FM_RETURN_IF_ERROR(w->WriteFrame(traces::FrameKind::kScores, traces::EncodeScores(s)));
        }
      }
      traces::Labels picks;
      picks.request_id = rid;
      picks.step = static_cast<uint64_t>(step);
      picks.row_begin = {0};
      const int32_t spread = o.picks_per_step - kNewestPicked;
      for (int32_t i = 0; i < spread; ++i) {
        const int64_t page = planted[static_cast<size_t>(i) % planted.size()];
        const int64_t offset = static_cast<int64_t>(Mix(o.seed + step * 4096 + i) % kChunksPerPage);
        picks.chunks.push_back(static_cast<uint64_t>(page * kChunksPerPage + offset));
      }
      for (int64_t c = n_chunks - kNewestPicked; c < n_chunks; ++c) {
        picks.chunks.push_back(static_cast<uint64_t>(c));
      }
      picks.votes.assign(picks.chunks.size(), 1);
      picks.row_begin.push_back(static_cast<uint32_t>(picks.chunks.size()));
      FM_RETURN_IF_ERROR(w->WriteFrame(traces::FrameKind::kLabels, traces::EncodeLabels(picks)));
    }
  }
  return w->Close();
}

}  // namespace fm::tune
