#pragma once
// Status propagation macros (Debian's absl 20220623 ships none of its own) and Annotate().

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define FM_STATUS_CONCAT_INNER_(a, b) a##b
#define FM_STATUS_CONCAT_(a, b) FM_STATUS_CONCAT_INNER_(a, b)

// Returns `expr` from the enclosing function when it is not OK.
#define FM_RETURN_IF_ERROR(expr)                                  \
  do {                                                            \
    if (::absl::Status fm_s_ = (expr); !fm_s_.ok()) return fm_s_; \
  } while (false)

// FM_ASSIGN_OR_RETURN(lhs, expr): evaluates a StatusOr expression, returns its status on error,
// otherwise moves the value into `lhs` (which may be a declaration).
#define FM_ASSIGN_OR_RETURN(lhs, expr) \
  FM_ASSIGN_OR_RETURN_IMPL_(FM_STATUS_CONCAT_(fm_sor_, __LINE__), lhs, expr)
#define FM_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return std::move(tmp).status();  \
  lhs = std::move(tmp).value()

namespace fm {

// Prefixes `context` to the message of a non-OK status, keeping its code:
// Annotate(NotFound("x.safetensors: ..."), "loading checkpoint") -> "loading checkpoint: x.safetensors: ...".
inline absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      std::string(context) + ": " + std::string(status.message()));
}

}  // namespace fm
