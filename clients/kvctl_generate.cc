#include "clients/kvctl_generate.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "clients/generate_call.h"
#include "clients/kvctl_commands.h"
#include "clients/kvctl_output.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.grpc.pb.h"

namespace kvserve {
namespace {

// The bounds kvserve.v1 documents (proto/kvserve/v1/kvserve.proto).
constexpr int32_t kMaxSamples = 16;
constexpr int32_t kMaxLogprobs = 20;
constexpr size_t kMaxStopStrings = 16;
constexpr size_t kMaxStopStringBytes = 256;
constexpr float kMaxAbsPenalty = 2.0f;

// "--name must be in [lo, hi], not v"; NaN fails every comparison, so it is refused too.
template <typename T>
absl::Status InRange(const char* name, T value, T lo, T hi) {
  if (value >= lo && value <= hi) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--", name, " must be in [", lo, ", ", hi, "], not ", value));
}

// "--name must be a finite number >= 0, not v".
template <typename T>
absl::Status NotNegative(const char* name, T value) {
  if (value >= 0 && std::isfinite(static_cast<double>(value))) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--", name, " must be a finite number >= 0, not ", value));
}

bool HasSampling(const GenerateCommand& c) {
  return c.temperature != 0.0f || c.top_k != 0 || c.top_p != 0.0f || c.seed != 0 ||
         c.min_p != 0.0f || c.repetition_penalty != 0.0f || c.presence_penalty != 0.0f ||
         c.frequency_penalty != 0.0f || !c.logit_bias.empty();
}

// What kvctl has shown of one sample so far.
struct ShownSample {
  SampleRecord record;  // with its text and logprobs
  bool ends_with_newline = true;
};

void WriteText(const std::string& text, std::FILE* out) {
  std::fwrite(text.data(), 1, text.size(), out);
}

}  // namespace

absl::Status ValidateGenerateCommand(const GenerateCommand& c) {
  const int prompts = static_cast<int>(c.prompt_text.has_value()) +
                      static_cast<int>(c.prompt_tokens.has_value()) +
                      static_cast<int>(c.chat.has_value());
  if (prompts != 1) {
    return absl::InvalidArgumentError(absl::StrCat("give either a prompt or --token_ids, not ",
                                                   prompts == 0 ? "neither" : "both"));
  }
  if (c.chat.has_value() && c.chat->empty()) {
    return absl::InvalidArgumentError("no chat messages (--system, --user, --message, --messages)");
  }
  // max_tokens is the server's to check: its bound depends on the prompt and the model.
  absl::Status s = NotNegative("temperature", c.temperature);
  if (s.ok()) s = InRange("top_p", c.top_p, 0.0f, 1.0f);
  if (s.ok()) s = NotNegative("top_k", c.top_k);
  if (s.ok()) s = InRange("min_p", c.min_p, 0.0f, 1.0f);
  if (s.ok()) s = NotNegative("repetition_penalty", c.repetition_penalty);
  if (s.ok()) s = InRange("presence_penalty", c.presence_penalty, -kMaxAbsPenalty, kMaxAbsPenalty);
  if (s.ok()) {
    s = InRange("frequency_penalty", c.frequency_penalty, -kMaxAbsPenalty, kMaxAbsPenalty);
  }
  if (s.ok()) s = InRange("n", c.n, 1, kMaxSamples);
  if (s.ok()) s = InRange("min_tokens", c.min_tokens, 0, c.max_tokens);
  if (s.ok() && c.logprobs.has_value()) s = InRange("logprobs", *c.logprobs, 0, kMaxLogprobs);
  if (s.ok() && c.prompt_logprobs.has_value()) {
    s = InRange("prompt_logprobs", *c.prompt_logprobs, 0, kMaxLogprobs);
  }
  if (!s.ok()) return s;
  if (c.stop.size() > kMaxStopStrings) {
    return absl::InvalidArgumentError(
        absl::StrCat("--stop given ", c.stop.size(), " times, more than ", kMaxStopStrings));
  }
  for (const std::string& stop : c.stop) {
    if (stop.empty() || stop.size() > kMaxStopStringBytes) {
      return absl::InvalidArgumentError(absl::StrCat("--stop ", QuoteText(stop), " has ",
                                                     stop.size(), " bytes; want 1 to ",
                                                     kMaxStopStringBytes));
    }
  }
  return absl::OkStatus();
}

v1::GenerateRequest MakeGenerateRequest(const GenerateCommand& c) {
  v1::GenerateRequest request;
  request.set_request_id(c.request_id);
  if (c.prompt_text.has_value()) request.set_text(*c.prompt_text);
  if (c.prompt_tokens.has_value()) {
    request.mutable_token_ids()->mutable_ids()->Add(c.prompt_tokens->begin(),
                                                    c.prompt_tokens->end());
  }
  if (c.chat.has_value()) {
    v1::ChatPrompt* chat = request.mutable_chat();
    for (const v1::ChatMessage& m : *c.chat) *chat->add_messages() = m;
    chat->set_no_generation_prompt(c.no_generation_prompt);
  }
  request.set_max_tokens(c.max_tokens);
  if (HasSampling(c)) {
    v1::SamplingParams* sampling = request.mutable_sampling();
    sampling->set_temperature(c.temperature);
    sampling->set_top_k(c.top_k);
    sampling->set_top_p(c.top_p);
    sampling->set_seed(c.seed);
    sampling->set_min_p(c.min_p);
    sampling->set_repetition_penalty(c.repetition_penalty);
    sampling->set_presence_penalty(c.presence_penalty);
    sampling->set_frequency_penalty(c.frequency_penalty);
    for (const auto& [id, bias] : c.logit_bias) (*sampling->mutable_logit_bias())[id] = bias;
  }
  request.mutable_stop_token_ids()->Add(c.stop_token_ids.begin(), c.stop_token_ids.end());
  request.set_ignore_eos(c.ignore_eos);
  for (const std::string& stop : c.stop) request.add_stop(stop);
  request.set_include_stop_str_in_output(c.include_stop_str_in_output);
  request.set_min_tokens(c.min_tokens);
  if (c.n > 1) request.set_n(c.n);
  if (c.logprobs.has_value()) request.set_logprobs(*c.logprobs);
  if (c.prompt_logprobs.has_value()) request.set_prompt_logprobs(*c.prompt_logprobs);
  return request;
}

int RunGenerate(const std::shared_ptr<grpc::Channel>& channel, const GenerateCommand& command,
                std::FILE* out, std::FILE* err) {
  if (absl::Status s = ValidateGenerateCommand(command); !s.ok()) {
    std::fprintf(err, "error: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  std::unique_ptr<v1::Generation::Stub> stub = v1::Generation::NewStub(channel);
  const int32_t n = std::max(1, command.n);
  const bool show_logprobs = command.logprobs.has_value();
  std::vector<ShownSample> shown(static_cast<size_t>(n));
  bool streamed_text = false;  // n = 1: some text went to `out`

  // Runs on the call's callback thread, one message at a time.
  const auto on_response = [&](const v1::GenerateResponse& response, int) {
    if (response.prompt_logprobs_size() > 0) {
      const std::vector<v1::TokenLogprob> entries(response.prompt_logprobs().begin(),
                                                  response.prompt_logprobs().end());
      WriteText(FormatLogprobTable("prompt logprobs", entries, /*first_pos=*/1), out);
    }
    const int32_t index = response.index();
    if (index < 0 || index >= n) return true;  // the record notes the breach
    ShownSample& sample = shown[static_cast<size_t>(index)];
    const bool finished = AppendToSample(response, /*keep_output=*/true, &sample.record);
    if (!response.text().empty()) sample.ends_with_newline = response.text().back() == '\n';
    if (n == 1) {
      if (!response.text().empty()) {
        WriteText(response.text(), out);
        streamed_text = true;
      }
    } else if (finished) {
      std::fprintf(out, "[%d] %s tokens=%lld\n", index, FinishText(sample.record).c_str(),
                   static_cast<long long>(sample.record.tokens));
      WriteText(sample.record.text, out);
      if (!sample.ends_with_newline) std::fputc('\n', out);
      if (show_logprobs) {
        WriteText(
            FormatLogprobTable(absl::StrCat("logprobs [", index, "]"), sample.record.logprobs),
            out);
      }
    }
    std::fflush(out);
    return true;
  };
  const GenerateRecord record = RunGenerateCall(
      *stub, MakeGenerateRequest(command),
      GenerateCallOptions{.deadline_ms = command.timeout_ms, .keep_output = true}, on_response);
  if (n == 1) {
    const ShownSample& sample = shown[0];
    // A newline after the text for a terminal, or to set the table apart.
    if (streamed_text && !sample.ends_with_newline && (show_logprobs || ::isatty(::fileno(out)))) {
      std::fputc('\n', out);
    }
    if (show_logprobs && record.status.ok()) {
      WriteText(FormatLogprobTable("logprobs", sample.record.logprobs), out);
    }
  }
  std::fflush(out);
  if (!record.status.ok()) {
    std::fprintf(err, "error: %s: %s\n", StatusCodeName(record.status.error_code()).c_str(),
                 record.status.error_message().c_str());
    return 1;
  }

  const double ttft_ms = std::max(0.0, record.FirstTokenSeconds() * 1000);
  const std::string what =
      n == 1 ? FinishText(record.samples.empty() ? SampleRecord() : record.samples[0])
             : absl::StrCat("n=", n);
  std::fprintf(err,
               "[%s prompt_tokens=%d completion_tokens=%d cached=%d ttft_ms=%.1f "
               "total_ms=%.1f]\n",
               what.c_str(), record.usage.prompt_tokens(), record.usage.completion_tokens(),
               record.usage.cached_prompt_tokens(), ttft_ms, record.end_s * 1000);

  std::vector<std::string> broken;
  if (!record.AllSamplesFinished()) broken.push_back("a sample never got its finish_reason");
  if (!record.has_usage) broken.push_back("no usage");
  if (record.tokens != record.usage.completion_tokens()) {
    broken.push_back(absl::StrCat(record.tokens, " tokens received, usage says ",
                                  record.usage.completion_tokens()));
  }
  if (record.message_after_final) broken.push_back("a message followed its sample's last");
  if (record.final_fields_split) broken.push_back("usage not on the last sample's finish");
  if (record.index_out_of_range) broken.push_back(absl::StrCat("an index outside [0, ", n, ")"));
  if (record.request_id_mismatch && !command.request_id.empty()) {
    broken.push_back("a message with another request_id");
  }
  if (!broken.empty()) {
    std::fprintf(err, "error: the stream broke the contract: %s\n",
                 absl::StrJoin(broken, "; ").c_str());
    return 1;
  }
  return 0;
}

}  // namespace kvserve
