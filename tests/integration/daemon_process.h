// Child processes for the end-to-end tests: the real kvserve daemon, commands left running in the
// background (a kvctl stream to SIGKILL mid-way), and one-shot commands (kvctl).
//
// BackgroundCommand::Start spawns `binary args...` (posix_spawn, no shell) with stdout/stderr going
// to files in a directory it then owns. The destructor SIGKILLs the command if it is still
// running, reaps it, and removes the directory.
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

class BackgroundCommand {
 public:
  // `dir` must exist; it receives stdout.log and stderr.log and is removed with the object.
  static absl::StatusOr<std::unique_ptr<BackgroundCommand>> Start(
      const std::string& binary, const std::vector<std::string>& args, const std::string& dir);
  // A new empty directory under $TMPDIR (or /tmp).
  static absl::StatusOr<std::string> MakeTempDir();

  BackgroundCommand(const BackgroundCommand&) = delete;
  BackgroundCommand& operator=(const BackgroundCommand&) = delete;
  ~BackgroundCommand();

  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  // kill(pid, signal) while the command has not been reaped; false otherwise.
  bool Signal(int signal_number);
  // Waits up to `timeout` for the command to exit; its waitpid status, or nullopt on timeout.
  std::optional<int> WaitForExit(absl::Duration timeout);
  // Whether it is still running (reaps it if it has exited).
  bool Running();
  // What it has written so far.
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  BackgroundCommand() = default;

  pid_t pid_ = -1;
  bool reaped_ = false;
  std::optional<int> status_;
  std::string dir_;
};

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

  int port() const { return port_; }
  // The Prometheus endpoint's port (StartWithMetrics), or 0.
  int metrics_port() const { return metrics_port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return process_->pid(); }

  // See BackgroundCommand.
  bool Signal(int signal_number) { return process_->Signal(signal_number); }
  std::optional<int> WaitForExit(absl::Duration timeout) { return process_->WaitForExit(timeout); }
  std::string Stderr() const { return process_->Stderr(); }

 private:
  DaemonProcess() = default;
  static absl::StatusOr<std::unique_ptr<DaemonProcess>> StartImpl(
      const std::string& binary, const std::vector<std::string>& flags,
      absl::Duration startup_timeout, bool with_metrics);

  std::unique_ptr<BackgroundCommand> process_;
  int port_ = 0;
  int metrics_port_ = 0;
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
