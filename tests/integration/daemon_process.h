// Child processes for the end-to-end tests: the real kvserve daemon, and one-shot commands (kvctl).
//
// DaemonProcess::Start spawns kvserve (posix_spawn, no shell) with the given flags plus
// --port 0 --port_file <temp dir>/port, its stdout/stderr going to files in that temp dir, and
// waits (bounded) for the port file. StartWithMetrics also passes --metrics_port 0
// --metrics_port_file <temp dir>/metrics_port (the daemon writes that file before the port file)
// and reads the metrics port back. The destructor SIGKILLs the daemon if it is still running,
// reaps it, and removes the temp dir, so a failing test never leaves a daemon behind.
//
// Threads: use each object from one thread.
#ifndef KVSERVE_TESTS_INTEGRATION_DAEMON_PROCESS_H_
#define KVSERVE_TESTS_INTEGRATION_DAEMON_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kvserve::testing {

class DaemonProcess {
 public:
  static absl::StatusOr<std::unique_ptr<DaemonProcess>> Start(
      const std::string& binary, const std::vector<std::string>& flags,
      absl::Duration startup_timeout = absl::Seconds(60));
  static absl::StatusOr<std::unique_ptr<DaemonProcess>> StartWithMetrics(
      const std::string& binary, const std::vector<std::string>& flags,
      absl::Duration startup_timeout = absl::Seconds(60));

  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;
  ~DaemonProcess();

  int port() const { return port_; }
  // The Prometheus endpoint's port (StartWithMetrics), or 0.
  int metrics_port() const { return metrics_port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }

  // kill(pid, signal) while the daemon has not been reaped; false otherwise.
  bool Signal(int signal_number);
  // Waits up to `timeout` for the daemon to exit; its waitpid status, or nullopt on timeout.
  std::optional<int> WaitForExit(absl::Duration timeout);
  // What the daemon has written to stderr so far.
  std::string Stderr() const;

 private:
  DaemonProcess() = default;
  static absl::StatusOr<std::unique_ptr<DaemonProcess>> StartImpl(
      const std::string& binary, const std::vector<std::string>& flags,
      absl::Duration startup_timeout, bool with_metrics);

  pid_t pid_ = -1;
  bool reaped_ = false;
  int port_ = 0;
  int metrics_port_ = 0;
  std::string dir_;
};

struct CommandResult {
  int exit_code = -1;  // -1 if it did not exit normally (or timed out and was killed)
  std::string out;
  std::string err;
};

// Runs `binary args...` to completion (killed after `timeout`), capturing stdout and stderr.
CommandResult RunCommand(const std::string& binary, const std::vector<std::string>& args,
                         absl::Duration timeout = absl::Seconds(60));

}  // namespace kvserve::testing

#endif  // KVSERVE_TESTS_INTEGRATION_DAEMON_PROCESS_H_
