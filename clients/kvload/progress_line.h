// ProgressLine: a one-line live status on a terminal, rewritten in place with '\r'.
//
//   kvload: 312/500 done  2291 tok/s  0 errors  64 in flight  12s elapsed  ETA 7s
//
// The ETA: with a known request count, the elapsed time scaled by the requests still to finish
// (elapsed × (total − done) / done, once one is done); else, for a --duration run, the time left
// of the duration; else none.
//
// Enabled only when asked and the stream is a TTY (see ForStderr); disabled, every method does
// nothing, so callers need not check. Update() rewrites the line at most 4 times a second;
// "tok/s" is the token rate since the previous rewrite.
//
// Threads: owned and used by one thread (the load runner's driver thread).
#ifndef KVSERVE_CLIENTS_KVLOAD_PROGRESS_LINE_H_
#define KVSERVE_CLIENTS_KVLOAD_PROGRESS_LINE_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace kvserve::load {

struct ProgressSnapshot {
  int64_t done = 0;
  int64_t total = 0;   // 0 = unknown (time-bounded run)
  int64_t tokens = 0;  // output tokens received so far
  int64_t errors = 0;
  int64_t in_flight = 0;
  double elapsed_s = 0;
  double duration_s = 0;  // the run's --duration, 0 = none
};

// Seconds left by the rule above; negative when there is no estimate.
double EstimateSecondsLeft(const ProgressSnapshot& snapshot);

class ProgressLine {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kMinInterval{250};

  // Writes to stderr if `enabled` and stderr is a terminal; otherwise stays silent.
  static ProgressLine ForStderr(bool enabled);
  // Writes to `out` (nullptr = silent) whatever it is; for tests.
  ProgressLine(std::FILE* out, std::string label);

  bool enabled() const { return out_ != nullptr; }
  // Rewrites the line if kMinInterval has passed since the last rewrite (or `force`).
  void Update(const ProgressSnapshot& snapshot, bool force = false);
  // Clears the line so that what is printed next starts on a clean line.
  void Finish();

  // The text of the line (no '\r'), for a snapshot and a token rate.
  static std::string Format(const std::string& label, const ProgressSnapshot& snapshot,
                            double tokens_per_s);

 private:
  std::FILE* out_;
  std::string label_;
  Clock::time_point last_time_{};
  int64_t last_tokens_ = 0;
  size_t last_width_ = 0;
  bool shown_ = false;
};

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_PROGRESS_LINE_H_
