#pragma once
// FM_CHECK aborts on a broken internal invariant of flashmem itself. Never use it for input: bad
// input gets an absl::Status naming the file, field and value (DESIGN.md §9).

#include <cstdio>
#include <cstdlib>

#define FM_CHECK(cond)                                                                  \
  do {                                                                                  \
    if (!(cond)) [[unlikely]] {                                                         \
      std::fprintf(stderr, "FM_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)

#define FM_CHECK_MSG(cond, msg)                                                          \
  do {                                                                                   \
    if (!(cond)) [[unlikely]] {                                                          \
      std::fprintf(stderr, "FM_CHECK failed at %s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, \
                   (msg));                                                               \
      std::abort();                                                                      \
    }                                                                                    \
  } while (false)
