// RecordingSink: the test TokenSink of the scheduler tests. It records every call (each sample's
// tokens, text and finish, the usage, or the error) and counts terminal calls, so a test can check
// that a request got exactly one, no output after it and none for a sample after its finish;
// `done` is notified at the terminal call.
//
// Threads: the scheduler calls it on its thread; a test reads it after `done` (Wait(), or after
// driving Step() itself on the same thread): the notification orders every earlier call before.
#ifndef KVSERVE_TESTS_SUPPORT_RECORDING_SINK_H_
#define KVSERVE_TESTS_SUPPORT_RECORDING_SINK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/sched/token_sink.h"
#include "gtest/gtest.h"

namespace kvserve {

// What one sample received.
struct RecordedSample {
  std::vector<int32_t> tokens;
  std::string text;
  FinishReason finish = FinishReason::kNone;
  int32_t stop_token_id = -1;
  int32_t stop_string = -1;
  std::vector<TokenLogprobs> logprobs;  // one per token when the request asked for them
  int outputs_after_finish = 0;         // must stay 0
};

// Collects everything a request's sink receives. `tokens` and `finish` are sample 0's (what a
// request with n = 1 streams); `samples` has every sample's.
class RecordingSink : public TokenSink {
 public:
  void OnOutput(const SampleOutput& output) override {
    EXPECT_EQ(terminal_calls, 0) << "output after the terminal call";
    EXPECT_GE(output.index, 0);
    if (output.index < 0) return;
    if (static_cast<size_t>(output.index) >= samples.size()) samples.resize(output.index + 1);
    RecordedSample& sample = samples[output.index];
    if (sample.finish != FinishReason::kNone) ++sample.outputs_after_finish;
    EXPECT_EQ(sample.outputs_after_finish, 0) << "sample " << output.index << " after its finish";
    sample.tokens.push_back(output.token);
    if (output.logprobs != nullptr) sample.logprobs.push_back(*output.logprobs);
    if (!output.prompt_logprobs.empty()) {
      EXPECT_TRUE(prompt_logprobs.empty()) << "prompt logprobs sent twice";
      prompt_logprobs.assign(output.prompt_logprobs.begin(), output.prompt_logprobs.end());
    }
    sample.text.append(output.text);
    sample.finish = output.finish;
    sample.stop_token_id = output.stop_token_id;
    sample.stop_string = output.stop_string;
    if (output.index == 0) {
      tokens.push_back(output.token);
      finish = output.finish;
    }
  }
  void OnFinish(const Usage& usage) override {
    ++terminal_calls;
    for (size_t i = 0; i < samples.size(); ++i) {
      EXPECT_NE(samples[i].finish, FinishReason::kNone) << "sample " << i << " never finished";
    }
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
  FinishReason finish = FinishReason::kNone;
  std::vector<RecordedSample> samples;
  std::vector<TokenLogprobs> prompt_logprobs;
  int terminal_calls = 0;
  Usage usage;
  absl::Status error;
  absl::Notification done;
};

}  // namespace kvserve

#endif  // KVSERVE_TESTS_SUPPORT_RECORDING_SINK_H_
