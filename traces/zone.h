#pragma once
// FM_ZONE("module.verb"): one line that times the enclosing scope as a telemetry Zone and, where
// NVTX3 is available (target fm_nvtx3 defines FM_HAVE_NVTX3), opens an NVTX range in domain
// "flashmem" so Nsight Systems shows the same names as our profiler (DESIGN.md §6).
// The site registers its name once (a function-local static); afterwards an inactive zone costs
// one branch on the telemetry side.

#include <cstdint>

#include "traces/emit.h"

#if defined(FM_HAVE_NVTX3)
#include <nvtx3/nvToolsExt.h>
#endif

namespace fm::traces {

// The per-site constants of a zone: its StringId and, with NVTX, the registered NVTX string.
struct ZoneSite {
  explicit ZoneSite(const char* name);
  uint32_t name_id;
#if defined(FM_HAVE_NVTX3)
  nvtxDomainHandle_t nvtx_domain;
  nvtxStringHandle_t nvtx_name;
#endif
};

#if defined(FM_HAVE_NVTX3)
// The "flashmem" NVTX domain, created once.
nvtxDomainHandle_t NvtxDomain();
#endif

// Times its own lifetime. Copy and move are deleted: a zone belongs to one scope on one thread.
class ScopedZone {
 public:
  explicit ScopedZone(const ZoneSite& site, uint64_t arg = 0) : site_(site), arg_(arg) {
#if defined(FM_HAVE_NVTX3)
    nvtxEventAttributes_t attr{};
    attr.version = NVTX_VERSION;
    attr.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    attr.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
    attr.message.registered = site.nvtx_name;
    nvtxDomainRangePushEx(site.nvtx_domain, &attr);
#endif
    if (Enabled()) start_ns_ = NowNs();
  }
  ~ScopedZone() {
    if (start_ns_ >= 0 && Enabled()) {
      EmitZone(site_.name_id, start_ns_, NowNs() - start_ns_, arg_);
    }
#if defined(FM_HAVE_NVTX3)
    nvtxDomainRangePop(site_.nvtx_domain);
#endif
  }
  ScopedZone(const ScopedZone&) = delete;
  ScopedZone& operator=(const ScopedZone&) = delete;
  ScopedZone(ScopedZone&&) = delete;
  ScopedZone& operator=(ScopedZone&&) = delete;

 private:
  const ZoneSite& site_;
  uint64_t arg_;
  int64_t start_ns_ = -1;  // -1: telemetry was off when the zone opened
};

}  // namespace fm::traces

#define FM_ZONE_CONCAT_INNER_(a, b) a##b
#define FM_ZONE_CONCAT_(a, b) FM_ZONE_CONCAT_INNER_(a, b)

// FM_ZONE("sched.plan") or FM_ZONE("engine.step", step): `name` must be a string literal.
#define FM_ZONE(name, ...)                                                              \
  static const ::fm::traces::ZoneSite FM_ZONE_CONCAT_(fm_zone_site_, __LINE__){name};   \
  ::fm::traces::ScopedZone FM_ZONE_CONCAT_(fm_zone_, __LINE__) {                        \
    FM_ZONE_CONCAT_(fm_zone_site_, __LINE__) __VA_OPT__(, ) __VA_ARGS__                 \
  }
