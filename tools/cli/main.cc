// flashmem: the command-line entry point. Flags are parsed here only (libraries never read flags
// or the environment); every subcommand lives in its own cmd_*.cc file and registers itself.

#include <cstdio>
#include <exception>

#include "tools/cli/commands.h"

namespace fm::cli {
std::vector<AddCommandFn>& CommandRegistry() {
  static std::vector<AddCommandFn> registry;
  return registry;
}
}  // namespace fm::cli

int main(int argc, char** argv) {
  CLI::App app{"flashmem: DeepSeek-V4-Flash decoding with Lookahead Sparse Attention"};
  app.require_subcommand(1);
  fm::cli::Action action;
  for (fm::cli::AddCommandFn add : fm::cli::CommandRegistry()) add(app, &action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help prints usage and exits 0; any parse error is bad input: exit 2 (CLI11's own codes
    // would leak through otherwise, e.g. 106 for a missing subcommand).
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (!action) {
    std::fprintf(stderr, "flashmem: no subcommand selected (see flashmem --help)\n");
    return 2;
  }
  try {
    return action();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flashmem: %s\n", e.what());
    return 1;
  }
}
