// WriteFileAtomically: writes `contents` to `path` so that a reader sees either no file or the
// whole contents: it writes a temporary file next to it, then renames it over `path`. The daemon
// uses it for --port_file, which test fixtures poll for.
//
// Threads: safe from any thread for distinct paths.
#ifndef KVSERVE_SERVER_PORT_FILE_H_
#define KVSERVE_SERVER_PORT_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kvserve {

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

}  // namespace kvserve

#endif  // KVSERVE_SERVER_PORT_FILE_H_
