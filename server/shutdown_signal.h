// Shutdown signals (SIGTERM, SIGINT) without signal handlers.
//
// BlockShutdownSignals() blocks both in the calling thread; every thread created afterwards (gRPC,
// the scheduler, OpenMP) inherits the mask, so the signals stay pending until a thread takes them
// with sigwait() in WaitForShutdownSignal(). No code runs in signal context, so there is nothing
// async-signal-unsafe to get wrong.
//
// Threads: call BlockShutdownSignals() in main before any thread exists; WaitForShutdownSignal()
// from one thread at a time.
#ifndef KVSERVE_SERVER_SHUTDOWN_SIGNAL_H_
#define KVSERVE_SERVER_SHUTDOWN_SIGNAL_H_

#include "absl/status/status.h"

namespace kvserve {

absl::Status BlockShutdownSignals();

// Blocks until SIGTERM or SIGINT is delivered; returns its number.
int WaitForShutdownSignal();

// "SIGTERM", "SIGINT", or "signal <n>".
const char* ShutdownSignalName(int signal_number);

}  // namespace kvserve

#endif  // KVSERVE_SERVER_SHUTDOWN_SIGNAL_H_
