#pragma once
// Gather of page-sized byte blocks: dst block i = src block index[i]. The hot pool's page fetch and
// the offload write-back are this op (DESIGN.md §2.2). Plain C++ POD shared by cpu/ and cuda/.

#include <cstdint>

namespace fm::kernels {

struct GatherPagesParams {
  const uint8_t* src = nullptr;    // [n_src_pages][page_bytes]
  uint8_t* dst = nullptr;          // [n_pages][page_bytes]
  const int32_t* index = nullptr;  // [n_pages] source page of each destination page
  int64_t n_pages = 0;
  int64_t page_bytes = 0;          // a multiple of 16 (slots and page blocks are 256-B multiples)
};

}  // namespace fm::kernels
