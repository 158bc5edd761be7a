#pragma once
// Runtime discovery (DESIGN.md §7): runtimes listen on "<dir>/<pid>.sock"; a restarted runtime has
// a new pid and so a new socket, which is why following "the runtime" means re-listing the folder
// on every reconnect attempt rather than remembering one path.

#include <optional>
#include <string>

namespace fm::ui {

// The most recently modified "*.sock" entry in `dir` (a socket or, in tests, any file), or nullopt
// when there is none or the folder cannot be read. Never throws.
std::optional<std::string> NewestSocket(const std::string& dir);

}  // namespace fm::ui
