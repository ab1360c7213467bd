// RecordingSink: the test TokenSink of the scheduler tests. It records every call (tokens, the
// finish reason and usage, or the error) and counts terminal calls, so a test can check that a
// request got exactly one and no token after it; `done` is notified at the terminal call.
//
// Threads: the scheduler calls it on its thread; a test reads it after `done` (Wait(), or after
// driving Step() itself on the same thread): the notification orders every earlier call before.
#ifndef KVSERVE_TESTS_SUPPORT_RECORDING_SINK_H_
#define KVSERVE_TESTS_SUPPORT_RECORDING_SINK_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/sched/token_sink.h"
#include "gtest/gtest.h"

namespace kvserve {

// Collects everything a request's sink receives.
class RecordingSink : public TokenSink {
 public:
  void OnTokens(absl::Span<const int32_t> tokens) override {
    EXPECT_EQ(terminal_calls, 0) << "tokens after the terminal call";
    this->tokens.insert(this->tokens.end(), tokens.begin(), tokens.end());
  }
  void OnFinish(FinishReason reason, const Usage& usage) override {
    ++terminal_calls;
    finish = reason;
    this->usage = usage;
    done.Notify();
  }
  void OnError(const absl::Status& status) override {
    ++terminal_calls;
    error = status;
    done.Notify();
  }

  // Whether the terminal call came within `timeout` (for a scheduler running its own thread).
  bool Wait(absl::Duration timeout = absl::Seconds(30)) {
    return done.WaitForNotificationWithTimeout(timeout);
  }

  std::vector<int32_t> tokens;
  int terminal_calls = 0;
  FinishReason finish = FinishReason::kNone;
  Usage usage;
  absl::Status error;
  absl::Notification done;
};

}  // namespace kvserve

#endif  // KVSERVE_TESTS_SUPPORT_RECORDING_SINK_H_
