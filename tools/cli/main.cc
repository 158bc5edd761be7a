// flashmem: the command-line entry point. Flags are parsed here only (libraries never read flags
// or the environment); every subcommand lives in its own cmd_*.cc file.

#include <cstdio>
#include <exception>

#include "tools/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"flashmem: DeepSeek-V4-Flash decoding with Lookahead Sparse Attention"};
  app.require_subcommand(1);
  fm::cli::Action action;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);  // prints usage or the error; non-zero for errors
  }
  if (!action) {
    std::fprintf(stderr, "flashmem: no subcommand selected\n");
    return 2;
  }
  try {
    return action();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flashmem: %s\n", e.what());
    return 1;
  }
}
