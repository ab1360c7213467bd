// Log: one line to stderr, prefixed with the program's tag. There is no absl/log in the Abseil
// this project builds against (20220623), so the server logs through this helper.
//
// Threads: safe from any thread (one fprintf per line, which stdio locks). Not async-signal-safe:
// never call it from a signal handler.
#ifndef KVSERVE_SERVER_LOG_H_
#define KVSERVE_SERVER_LOG_H_

#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"

namespace kvserve {

template <typename... Args>
void Log(const absl::FormatSpec<Args...>& format, const Args&... args) {
  const std::string line = absl::StrFormat(format, args...);
  std::fprintf(stderr, "kvserve: %s\n", line.c_str());
}

}  // namespace kvserve

#endif  // KVSERVE_SERVER_LOG_H_
