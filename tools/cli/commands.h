#pragma once
// Subcommand registration for the `flashmem` CLI. Each cmd_*.cc file registers itself with
// FM_REGISTER_COMMAND(AddXxxCommand); main() calls every registered function, which adds one
// subcommand to `root` and, when that subcommand is chosen, sets `*action` from its callback.
// Actions return the exit code: 0 ok, 1 runtime failure, 2 bad input (flag, file, value); they
// print errors to stderr, naming the file, field and value.

#include <functional>
#include <vector>

#include <CLI/CLI.hpp>

namespace fm::cli {

using Action = std::function<int()>;
using AddCommandFn = void (*)(CLI::App& root, Action* action);

// Every registered subcommand adder, in registration order.
std::vector<AddCommandFn>& CommandRegistry();

struct CommandRegistrar {
  explicit CommandRegistrar(AddCommandFn fn) { CommandRegistry().push_back(fn); }
};

}  // namespace fm::cli

#define FM_REGISTER_COMMAND(fn) \
  static ::fm::cli::CommandRegistrar fm_command_registrar_##fn { fn }
