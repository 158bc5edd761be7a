#include "traces/zone.h"

namespace fm::traces {

#if defined(FM_HAVE_NVTX3)
nvtxDomainHandle_t NvtxDomain() {
  static nvtxDomainHandle_t domain = nvtxDomainCreateA("flashmem");
  return domain;
}
#endif

ZoneSite::ZoneSite(const char* name)
    : name_id(Intern(name))
#if defined(FM_HAVE_NVTX3)
      ,
      nvtx_domain(NvtxDomain()),
      nvtx_name(nvtxDomainRegisterStringA(NvtxDomain(), name))
#endif
{
}

}  // namespace fm::traces
