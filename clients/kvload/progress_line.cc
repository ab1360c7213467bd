#include "clients/kvload/progress_line.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"

namespace kvserve::load {

ProgressLine ProgressLine::ForStderr(bool enabled) {
  const bool tty = enabled && isatty(fileno(stderr)) == 1;
  return ProgressLine(tty ? stderr : nullptr, "kvload");
}

ProgressLine::ProgressLine(std::FILE* out, std::string label)
    : out_(out), label_(std::move(label)) {}

double EstimateSecondsLeft(const ProgressSnapshot& s) {
  if (s.total > 0 && s.done > 0) {
    const double by_count = s.elapsed_s * static_cast<double>(s.total - s.done) / s.done;
    return s.duration_s > 0 ? std::min(by_count, std::max(0.0, s.duration_s - s.elapsed_s))
                            : by_count;
  }
  if (s.duration_s > 0) return std::max(0.0, s.duration_s - s.elapsed_s);
  return -1;
}

std::string ProgressLine::Format(const std::string& label, const ProgressSnapshot& s,
                                 double tokens_per_s) {
  const std::string total = s.total > 0 ? absl::StrFormat("/%d", s.total) : "";
  std::string line =
      absl::StrFormat("%s: %d%s done  %.0f tok/s  %d errors  %d in flight  %.0fs elapsed", label,
                      s.done, total, tokens_per_s, s.errors, s.in_flight, s.elapsed_s);
  if (const double left = EstimateSecondsLeft(s); left >= 0) {
    absl::StrAppendFormat(&line, "  ETA %.0fs", left);
  }
  return line;
}

void ProgressLine::Update(const ProgressSnapshot& snapshot, bool force) {
  if (out_ == nullptr) return;
  const Clock::time_point now = Clock::now();
  if (shown_ && !force && now - last_time_ < kMinInterval) return;
  const double dt = shown_ ? std::chrono::duration<double>(now - last_time_).count() : 0;
  const double rate = dt > 0 ? static_cast<double>(snapshot.tokens - last_tokens_) / dt : 0;
  std::string line = Format(label_, snapshot, rate);
  // Pad over the remains of a longer previous line.
  const size_t width = line.size();
  if (width < last_width_) line.append(last_width_ - width, ' ');
  std::fprintf(out_, "\r%s", line.c_str());
  std::fflush(out_);
  last_width_ = width;
  last_time_ = now;
  last_tokens_ = snapshot.tokens;
  shown_ = true;
}

void ProgressLine::Finish() {
  if (out_ == nullptr || !shown_) return;
  std::fprintf(out_, "\r%s\r", std::string(last_width_, ' ').c_str());
  std::fflush(out_);
  shown_ = false;
  last_width_ = 0;
}

}  // namespace kvserve::load
