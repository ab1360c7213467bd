#include "server/shutdown_signal.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "server/log.h"

namespace kvserve {
namespace {

sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);  // taken and ignored (see the header), never the default "exit at once"
  return set;
}

}  // namespace

absl::Status BlockShutdownSignals() {
  const sigset_t set = ShutdownSignals();
  if (const int error = pthread_sigmask(SIG_BLOCK, &set, nullptr); error != 0) {
    return absl::InternalError(absl::StrCat("pthread_sigmask: ", std::strerror(error)));
  }
  return absl::OkStatus();
}

int WaitForShutdownSignal() {
  const sigset_t set = ShutdownSignals();
  for (;;) {
    int signal_number = 0;
    if (sigwait(&set, &signal_number) != 0) continue;
    if (signal_number != SIGHUP) return signal_number;
    Log("SIGHUP ignored: kvserve has no configuration to reload and keeps serving; SIGTERM or "
        "SIGINT drains and stops it");
    // sigwait only fails for an invalid set; retry rather than spin on a transient error.
  }
}

const char* ShutdownSignalName(int signal_number) {
  switch (signal_number) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    default:
      return "a signal";
  }
}

}  // namespace kvserve
