#include "clients/kvsoak/soak_check.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.pb.h"

namespace kvserve::soak {
namespace {

bool Allowed(const SoakPlan& plan, const SoakObservation& seen) {
  const auto code = static_cast<grpc::StatusCode>(seen.status_code);
  switch (plan.kind) {
    case SoakKind::kNormal:
      return code == grpc::StatusCode::OK;
    case SoakKind::kCancel:
      return code == grpc::StatusCode::OK ||
             (seen.cancel_sent && code == grpc::StatusCode::CANCELLED);
    case SoakKind::kDeadline:
      return code == grpc::StatusCode::OK || code == grpc::StatusCode::DEADLINE_EXCEEDED;
    case SoakKind::kInvalid:
      return code == grpc::StatusCode::INVALID_ARGUMENT;
  }
  return false;
}

// Every sample may generate max_tokens.
int64_t MaxTokens(const SoakPlan& plan) {
  return int64_t{plan.request.max_tokens()} * std::max(plan.request.n(), 1);
}

void CheckOk(const SoakPlan& plan, const SoakObservation& seen, std::vector<std::string>& out) {
  const int64_t max_tokens = MaxTokens(plan);
  if (seen.finish_reason == kvserve::v1::FINISH_REASON_UNSPECIFIED) {
    out.push_back("OK stream without a finish_reason");
  }
  if (!seen.has_usage) {
    out.push_back("OK stream without usage");
  } else {
    if (seen.tokens != seen.usage_completion_tokens) {
      out.push_back(absl::StrCat("received ", seen.tokens,
                                 " tokens but usage.completion_tokens is ",
                                 seen.usage_completion_tokens));
    }
    if (seen.usage_prompt_tokens != plan.prompt_len) {
      out.push_back(absl::StrCat("usage.prompt_tokens is ", seen.usage_prompt_tokens,
                                 ", the prompt has ", plan.prompt_len));
    }
  }
  if (seen.final_fields_split) out.push_back("finish_reason and usage on different messages");
  if (plan.request.ignore_eos() && plan.request.stop_token_ids_size() == 0 &&
      plan.request.stop_size() == 0) {
    if (seen.tokens != max_tokens) {
      out.push_back(
          absl::StrCat("ignore_eos stream got ", seen.tokens, " tokens, asked for ", max_tokens));
    }
    if (seen.finish_reason != kvserve::v1::FINISH_REASON_LENGTH) {
      out.push_back(absl::StrCat("ignore_eos stream finished with reason ", seen.finish_reason,
                                 ", expected LENGTH"));
    }
  }
}

}  // namespace

std::vector<std::string> CheckRequest(const SoakPlan& plan, const SoakObservation& seen) {
  std::vector<std::string> out;
  if (!seen.started) {
    out.push_back("never started: the run timed out first");
    return out;
  }
  if (seen.aborted) {
    out.push_back("still running at the run's timeout (then cancelled by kvsoak)");
    return out;
  }
  if (seen.done_calls != 1) {
    out.push_back(absl::StrCat(seen.done_calls, " terminal statuses, expected exactly 1"));
    if (seen.done_calls == 0) return out;
  }
  if (!Allowed(plan, seen)) {
    out.push_back(absl::StrCat("status ", seen.status_code, " (", seen.status_message,
                               ") not allowed for a ", SoakKindName(plan.kind), " request"));
  }
  if (seen.tokens > MaxTokens(plan) && plan.kind != SoakKind::kInvalid) {
    out.push_back(absl::StrCat("received ", seen.tokens,
                               " tokens, more than max_tokens × n = ", MaxTokens(plan)));
  }
  if (seen.message_after_final) out.push_back("a message followed the final one");
  if (seen.request_id_mismatch) out.push_back("a message carried another request_id");
  if (plan.kind == SoakKind::kInvalid) {
    if (seen.messages != 0) {
      out.push_back(absl::StrCat(seen.messages, " messages before INVALID_ARGUMENT"));
    }
    if (seen.status_code == static_cast<int32_t>(grpc::StatusCode::INVALID_ARGUMENT) &&
        !absl::StartsWith(seen.status_message, ExpectedField(plan.invalid))) {
      out.push_back(absl::StrCat("INVALID_ARGUMENT message \"", seen.status_message,
                                 "\" does not start with \"", ExpectedField(plan.invalid), "\""));
    }
  }
  if (seen.status_code == static_cast<int32_t>(grpc::StatusCode::OK)) CheckOk(plan, seen, out);
  return out;
}

}  // namespace kvserve::soak
