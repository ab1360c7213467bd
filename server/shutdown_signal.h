// Shutdown signals (SIGTERM, SIGINT) without signal handlers, and SIGHUP ignored.
//
// SIGHUP follows the daemon convention of "not a stop": by default it would kill the process at
// once (no drain, no log line) when a terminal closes or an operator sends it expecting a reload.
// kvserve has nothing to reload, so WaitForShutdownSignal takes it, logs that it was ignored and
// keeps waiting; only SIGTERM and SIGINT drain and stop the daemon.
//
// BlockShutdownSignals() blocks all three in the calling thread; every thread created afterwards
// (gRPC, the scheduler, OpenMP) inherits the mask, so the signals stay pending until a thread takes
// them with sigwait() in WaitForShutdownSignal(). No code runs in signal context, so there is
// nothing async-signal-unsafe to get wrong.
//
// Threads: call BlockShutdownSignals() in main before any thread exists; WaitForShutdownSignal()
// from one thread at a time.
#ifndef KVSERVE_SERVER_SHUTDOWN_SIGNAL_H_
#define KVSERVE_SERVER_SHUTDOWN_SIGNAL_H_

#include "absl/status/status.h"

namespace kvserve {

absl::Status BlockShutdownSignals();

// Blocks until SIGTERM or SIGINT is delivered; returns its number. Each SIGHUP meanwhile is logged
// and ignored.
int WaitForShutdownSignal();

// "SIGTERM", "SIGINT", or "signal <n>".
const char* ShutdownSignalName(int signal_number);

}  // namespace kvserve

#endif  // KVSERVE_SERVER_SHUTDOWN_SIGNAL_H_
