#pragma once
// CPU reference of GatherPages (kernels/gather_pages.h): memcpy per page.

#include "kernels/gather_pages.h"

namespace fm::kernels::cpu {

void GatherPages(const GatherPagesParams& p);

}  // namespace fm::kernels::cpu
