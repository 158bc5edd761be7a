#include "kernels/cpu/gather_pages.h"

#include <cstring>

namespace fm::kernels::cpu {

void GatherPages(const GatherPagesParams& p) {
  for (int64_t i = 0; i < p.n_pages; ++i) {
    std::memcpy(p.dst + i * p.page_bytes, p.src + static_cast<int64_t>(p.index[i]) * p.page_bytes,
                static_cast<size_t>(p.page_bytes));
  }
}

}  // namespace fm::kernels::cpu
