#pragma once
// Subcommand registration for the `flashmem` CLI. Each Add*Command registers one subcommand on
// `root`; when that subcommand is chosen, parsing sets `*action`, which main() then runs. Actions
// return the process exit code (0 ok, 1 runtime failure, 2 bad input), printing errors to stderr.

#include <functional>

#include <CLI/CLI.hpp>

namespace fm::cli {

using Action = std::function<int()>;

}  // namespace fm::cli
