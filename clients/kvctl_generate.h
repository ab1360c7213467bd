// kvctl generate and kvctl chat (without --render_only): one Generate stream, shown as it arrives.
//
// Output, n = 1: the text on `out` as each message arrives (flushed); with prompt_logprobs their
// table first, with logprobs the table after the text; then a summary line on `err`:
//   [finish=stop stop="\n\n" prompt_tokens=5 completion_tokens=16 cached=0 ttft_ms=3.1
//   total_ms=40.2]
// Output, n > 1: each sample once it has finished (samples finish in any order), as a header line
// and its text on `out`:
//   [1] finish=length tokens=16
//   ...the text of sample 1...
// then its logprob table if asked; at the end the summary line on `err` with n=N in front.
//
// Exit code: 0 on OK; 1 if the call failed ("error: CODE_NAME: message" on `err`) or the stream
// broke the message protocol; 2 for a command that ValidateGenerateCommand refuses.
//
// Threads: each call uses only its arguments; run them from one thread.
#ifndef KVSERVE_CLIENTS_KVCTL_GENERATE_H_
#define KVSERVE_CLIENTS_KVCTL_GENERATE_H_

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.pb.h"

namespace kvserve {

struct GenerateCommand {
  // Exactly one prompt.
  std::optional<std::string> prompt_text;
  std::optional<std::vector<int32_t>> prompt_tokens;
  std::optional<std::vector<v1::ChatMessage>> chat;  // kvctl chat
  bool no_generation_prompt = false;                 // with chat
  std::string request_id;
  int32_t max_tokens = 64;
  // Sampling; 0 is each one's "off" (see kvserve.v1.SamplingParams).
  float temperature = 0.0f;
  int32_t top_k = 0;
  float top_p = 0.0f;
  uint64_t seed = 0;
  float min_p = 0.0f;
  float repetition_penalty = 0.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::map<int32_t, float> logit_bias;
  // Stopping.
  bool ignore_eos = false;
  std::vector<int32_t> stop_token_ids;
  std::vector<std::string> stop;  // already unescaped
  bool include_stop_str_in_output = false;
  int32_t min_tokens = 0;
  // Output.
  int32_t n = 1;
  std::optional<int32_t> logprobs;
  std::optional<int32_t> prompt_logprobs;
  int64_t timeout_ms = 0;  // 0: no deadline
};

// The bounds kvserve.v1 documents for each field, so that a typo is refused before any call:
// INVALID_ARGUMENT naming the flag (e.g. "--n must be in [1, 16], not 0").
absl::Status ValidateGenerateCommand(const GenerateCommand& command);

// The request for `command` (sampling set only when some sampling field is not its default).
v1::GenerateRequest MakeGenerateRequest(const GenerateCommand& command);

int RunGenerate(const std::shared_ptr<grpc::Channel>& channel, const GenerateCommand& command,
                std::FILE* out, std::FILE* err);

}  // namespace kvserve

#endif  // KVSERVE_CLIENTS_KVCTL_GENERATE_H_
