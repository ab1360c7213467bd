#include "clients/kvload/load_call.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "clients/generate_call.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.pb.h"

namespace kvserve::load {

v1::GenerateRequest MakeGenerateRequest(const RequestPlan& plan, const CallOptions& options) {
  v1::GenerateRequest request;
  request.set_request_id("kvload-" + std::to_string(plan.index));
  if (options.chat) {
    v1::ChatMessage* message = request.mutable_chat()->add_messages();
    message->set_role("user");
    message->set_content(plan.prompt_text);
  } else if (plan.prompt_text.empty()) {
    request.mutable_token_ids()->mutable_ids()->Add(plan.prompt_ids.begin(), plan.prompt_ids.end());
  } else {
    request.set_text(plan.prompt_text);
  }
  request.set_max_tokens(plan.max_tokens);
  request.set_ignore_eos(options.ignore_eos);
  for (const std::string& stop : options.stop) request.add_stop(stop);
  if (options.n > 1) request.set_n(options.n);
  if (options.temperature > 0) {
    request.mutable_sampling()->set_temperature(options.temperature);
    request.mutable_sampling()->set_seed(plan.sampling_seed);
  }
  return request;
}

GenerateCallOptions MakeCallOptions(const RequestPlan& plan, const CallOptions& options) {
  return GenerateCallOptions{.deadline_ms = options.deadline_ms,
                             .cancel_after_tokens = plan.cancel_after_tokens,
                             .tag = plan.index};
}

RequestRecord PlannedRecord(const RequestPlan& plan) {
  RequestRecord record;
  record.index = plan.index;
  record.prompt_len = plan.prompt_len;
  record.max_tokens = plan.max_tokens;
  record.cancel_after_tokens = plan.cancel_after_tokens;
  return record;
}

RequestRecord ToRequestRecord(RequestRecord planned, const GenerateRecord& call,
                              std::chrono::steady_clock::time_point clock_zero) {
  RequestRecord r = std::move(planned);
  r.start_s = std::chrono::duration<double>(call.start - clock_zero).count();
  r.end_s = call.end_s;
  r.messages.clear();
  r.messages.reserve(call.messages.size());
  for (const MessageArrival& m : call.messages) {
    if (m.tokens > 0) r.messages.push_back({m.t_s, m.tokens, m.index});
  }
  r.tokens = call.tokens;
  r.n = std::max<int32_t>(1, static_cast<int32_t>(call.samples.size()));
  r.sample_tokens.clear();
  for (const SampleRecord& sample : call.samples) r.sample_tokens.push_back(sample.tokens);
  r.status_code = static_cast<int32_t>(call.status.error_code());
  r.finish_reason = call.finish_reason;
  if (call.has_usage) {
    r.usage_prompt_tokens = call.usage.prompt_tokens();
    r.usage_completion_tokens = call.usage.completion_tokens();
    r.usage_cached_prompt_tokens = call.usage.cached_prompt_tokens();
  }
  if (call.status.ok()) {
    r.outcome = Outcome::kOk;
  } else {
    r.status_message = call.status.error_message();
    if (call.aborted) {
      r.outcome = Outcome::kAborted;
    } else if (call.cancel_sent && call.status.error_code() == grpc::StatusCode::CANCELLED) {
      r.outcome = Outcome::kCancelled;
    } else {
      r.outcome = Outcome::kError;
    }
  }
  return r;
}

}  // namespace kvserve::load
