#include "tests/integration/daemon_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace kvserve::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::StatusOr<std::string> NewTempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp", "/kvserve_test.XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  return pattern;
}

// posix_spawn of `binary args...` with stdout and stderr redirected to files and the shutdown
// signals in their default state (whatever the test runner did to its own).
absl::StatusOr<pid_t> Spawn(const std::string& binary, const std::vector<std::string>& args,
                            const std::string& out_path, const std::string& err_path) {
  std::vector<std::string> argv_storage = {binary};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int error = posix_spawn(&pid, binary.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (error != 0) {
    return absl::InternalError(absl::StrCat("posix_spawn ", binary, ": ", std::strerror(error)));
  }
  return pid;
}

// waitpid with a timeout (polling); the status, or nullopt if `pid` is still running.
std::optional<int> WaitPid(pid_t pid, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (absl::Now() >= end) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

// A positive port number from a file written atomically by the daemon.
absl::StatusOr<int> ReadPortFile(const std::string& path) {
  int port = 0;
  const std::string text = ReadFile(path);
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port) || port <= 0) {
    return absl::InternalError("unreadable port file " + path + ": '" + text + "'");
  }
  return port;
}

}  // namespace

absl::StatusOr<std::string> BackgroundCommand::MakeTempDir() { return NewTempDir(); }

absl::StatusOr<std::unique_ptr<BackgroundCommand>> BackgroundCommand::Start(
    const std::string& binary, const std::vector<std::string>& args, const std::string& dir) {
  std::unique_ptr<BackgroundCommand> command(new BackgroundCommand());
  command->dir_ = dir;  // owned (removed) from here on, even if the spawn fails
  absl::StatusOr<pid_t> pid = Spawn(binary, args, dir + "/stdout.log", dir + "/stderr.log");
  if (!pid.ok()) return pid.status();
  command->pid_ = *pid;
  return command;
}

BackgroundCommand::~BackgroundCommand() {
  if (pid_ > 0 && !reaped_) {
    // Exited on its own and nobody looked: a crash (or a sanitizer's report) the test only saw as
    // refused connections. Its stderr, which is about to be removed, says why.
    if (std::optional<int> status = WaitPid(pid_, absl::ZeroDuration()); status.has_value()) {
      if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
        const std::string err = ReadFile(dir_ + "/stderr.log");
        constexpr size_t kTail = 16 * 1024;
        std::cerr << "background command " << pid_ << " had exited by itself (wait status "
                  << *status << "); the end of its stderr:\n"
                  << (err.size() > kTail ? err.substr(err.size() - kTail) : err) << "\n";
      }
    } else {
      ::kill(pid_, SIGKILL);
      WaitPid(pid_, absl::Seconds(10));
    }
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

bool BackgroundCommand::Signal(int signal_number) {
  return pid_ > 0 && !reaped_ && ::kill(pid_, signal_number) == 0;
}

std::optional<int> BackgroundCommand::WaitForExit(absl::Duration timeout) {
  if (pid_ <= 0) return std::nullopt;
  if (reaped_) return status_;
  std::optional<int> status = WaitPid(pid_, timeout);
  if (status.has_value()) {
    reaped_ = true;
    status_ = status;
  }
  return status;
}

bool BackgroundCommand::Running() {
  return pid_ > 0 && !WaitForExit(absl::ZeroDuration()).has_value();
}

std::string BackgroundCommand::Stdout() const { return ReadFile(dir_ + "/stdout.log"); }
std::string BackgroundCommand::Stderr() const { return ReadFile(dir_ + "/stderr.log"); }

absl::StatusOr<std::unique_ptr<DaemonProcess>> DaemonProcess::Start(
    const std::string& binary, const std::vector<std::string>& flags,
    absl::Duration startup_timeout) {
  return StartImpl(binary, flags, startup_timeout, /*with_metrics=*/false);
}

absl::StatusOr<std::unique_ptr<DaemonProcess>> DaemonProcess::StartWithMetrics(
    const std::string& binary, const std::vector<std::string>& flags,
    absl::Duration startup_timeout) {
  return StartImpl(binary, flags, startup_timeout, /*with_metrics=*/true);
}

absl::StatusOr<std::unique_ptr<DaemonProcess>> DaemonProcess::StartImpl(
    const std::string& binary, const std::vector<std::string>& flags,
    absl::Duration startup_timeout, bool with_metrics) {
  absl::StatusOr<std::string> dir = NewTempDir();
  if (!dir.ok()) return dir.status();
  const std::string port_file = *dir + "/port";
  const std::string metrics_port_file = *dir + "/metrics_port";
  std::vector<std::string> args = {"--host=127.0.0.1", "--port=0", "--port_file=" + port_file};
  if (with_metrics) {
    args.push_back("--metrics_port=0");
    args.push_back("--metrics_port_file=" + metrics_port_file);
  }
  args.insert(args.end(), flags.begin(), flags.end());
  absl::StatusOr<std::unique_ptr<BackgroundCommand>> process =
      BackgroundCommand::Start(binary, args, *dir);
  if (!process.ok()) return process.status();
  std::unique_ptr<DaemonProcess> daemon(new DaemonProcess());
  daemon->process_ = *std::move(process);

  const absl::Time end = absl::Now() + startup_timeout;
  while (absl::Now() < end) {
    if (::access(port_file.c_str(), R_OK) == 0) {
      // Written atomically (tmp + rename), so the content is complete once the file exists.
      absl::StatusOr<int> port = ReadPortFile(port_file);
      if (!port.ok()) return port.status();
      daemon->port_ = *port;
      if (with_metrics) {
        absl::StatusOr<int> metrics_port = ReadPortFile(metrics_port_file);
        if (!metrics_port.ok()) return metrics_port.status();
        daemon->metrics_port_ = *metrics_port;
      }
      return daemon;
    }
    if (std::optional<int> status = daemon->WaitForExit(absl::ZeroDuration())) {
      return absl::InternalError(absl::StrCat("kvserve exited during start-up (wait status ",
                                              *status, "):\n", daemon->Stderr()));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "no port file after ", absl::FormatDuration(startup_timeout), ":\n", daemon->Stderr()));
}

CommandResult RunCommand(const std::string& binary, const std::vector<std::string>& args,
                         absl::Duration timeout) {
  CommandResult result;
  absl::StatusOr<std::string> dir = NewTempDir();
  if (!dir.ok()) {
    result.err = std::string(dir.status().message());
    return result;
  }
  absl::StatusOr<pid_t> pid = Spawn(binary, args, *dir + "/out", *dir + "/err");
  if (!pid.ok()) {
    result.err = std::string(pid.status().message());
  } else {
    std::optional<int> status = WaitPid(*pid, timeout);
    if (!status.has_value()) {
      ::kill(*pid, SIGKILL);
      WaitPid(*pid, absl::Seconds(10));
    } else if (WIFEXITED(*status)) {
      result.exit_code = WEXITSTATUS(*status);
    }
    result.out = ReadFile(*dir + "/out");
    result.err = ReadFile(*dir + "/err");
  }
  std::error_code ignored;
  std::filesystem::remove_all(*dir, ignored);
  return result;
}

}  // namespace kvserve::testing
