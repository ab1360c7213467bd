#include "clients/kvctl_commands.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/generate_call.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "kvserve/v1/kvserve.grpc.pb.h"

namespace kvserve {
namespace {

int PrintError(std::FILE* err, const grpc::Status& status) {
  std::fprintf(err, "error: %s: %s\n", StatusCodeName(status.error_code()).c_str(),
               status.error_message().c_str());
  return 1;
}

void SetDeadline(grpc::ClientContext* context, int64_t timeout_ms) {
  if (timeout_ms > 0) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  }
}

const char* FinishName(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_LENGTH:
      return "length";
    case v1::FINISH_REASON_STOP:
      return "stop";
    default:
      return "unspecified";
  }
}

v1::GenerateRequest MakeRequest(const GenerateCommand& command) {
  v1::GenerateRequest request;
  request.set_request_id(command.request_id);
  if (command.prompt_text.has_value()) request.set_text(*command.prompt_text);
  if (command.prompt_tokens.has_value()) {
    request.mutable_token_ids()->mutable_ids()->Add(command.prompt_tokens->begin(),
                                                    command.prompt_tokens->end());
  }
  request.set_max_tokens(command.max_tokens);
  if (command.temperature != 0.0f || command.top_k != 0 || command.top_p != 0.0f ||
      command.seed != 0) {
    v1::SamplingParams* sampling = request.mutable_sampling();
    sampling->set_temperature(command.temperature);
    sampling->set_top_k(command.top_k);
    sampling->set_top_p(command.top_p);
    sampling->set_seed(command.seed);
  }
  request.mutable_stop_token_ids()->Add(command.stop_token_ids.begin(),
                                        command.stop_token_ids.end());
  request.set_ignore_eos(command.ignore_eos);
  return request;
}

}  // namespace

std::string StatusCodeName(grpc::StatusCode code) {
  // grpc::StatusCode and absl::StatusCode share google.rpc.Code's numbering.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

absl::StatusOr<std::vector<int32_t>> ParseIdList(absl::string_view text) {
  std::vector<int32_t> ids;
  if (absl::StripAsciiWhitespace(text).empty()) return ids;
  int index = 0;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(item), &id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("item ", index, " ('", item, "') is not an integer"));
    }
    ids.push_back(id);
    ++index;
  }
  return ids;
}

int RunGenerate(const std::shared_ptr<grpc::Channel>& channel, const GenerateCommand& command,
                std::FILE* out, std::FILE* err) {
  if (command.prompt_text.has_value() == command.prompt_tokens.has_value()) {
    std::fprintf(err, "error: give either a prompt or --token_ids, not %s\n",
                 command.prompt_text.has_value() ? "both" : "neither");
    return 2;
  }
  std::unique_ptr<v1::Generation::Stub> stub = v1::Generation::NewStub(channel);
  // The text is written as it arrives, from the call's callback thread (one message at a time).
  bool wrote_text = false;
  const GenerateRecord record = RunGenerateCall(
      *stub, MakeRequest(command), GenerateCallOptions{.deadline_ms = command.timeout_ms},
      [&](const v1::GenerateResponse& response, int) {
        if (!response.text().empty()) {
          std::fwrite(response.text().data(), 1, response.text().size(), out);
          std::fflush(out);
          wrote_text = true;
        }
        return true;
      });
  if (wrote_text && ::isatty(::fileno(out))) std::fputc('\n', out);
  std::fflush(out);
  if (!record.status.ok()) return PrintError(err, record.status);

  const double ttft_ms = std::max(0.0, record.FirstTokenSeconds() * 1000);
  const auto finish = static_cast<v1::FinishReason>(record.finish_reason);
  std::fprintf(err,
               "[finish=%s prompt_tokens=%d completion_tokens=%d cached=%d ttft_ms=%.1f "
               "total_ms=%.1f]\n",
               FinishName(finish), record.usage.prompt_tokens(), record.usage.completion_tokens(),
               record.usage.cached_prompt_tokens(), ttft_ms, record.end_s * 1000);
  if (finish == v1::FINISH_REASON_UNSPECIFIED ||
      record.tokens != record.usage.completion_tokens()) {
    std::fprintf(err, "error: the stream broke the contract: %lld tokens received, usage says %d\n",
                 static_cast<long long>(record.tokens), record.usage.completion_tokens());
    return 1;
  }
  return 0;
}

int RunInfo(const std::shared_ptr<grpc::Channel>& channel, int64_t timeout_ms, std::FILE* out,
            std::FILE* err) {
  std::unique_ptr<v1::Generation::Stub> stub = v1::Generation::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(&context, timeout_ms);
  v1::ServerInfo info;
  const grpc::Status status = stub->GetServerInfo(&context, v1::GetServerInfoRequest(), &info);
  if (!status.ok()) return PrintError(err, status);
  // Every field in declaration order, zeros included (proto3 has no presence for scalars).
  const google::protobuf::Descriptor* descriptor = info.GetDescriptor();
  const google::protobuf::Reflection* reflection = info.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(i);
    std::string value;
    switch (field->cpp_type()) {
      case google::protobuf::FieldDescriptor::CPPTYPE_INT32:
        value = absl::StrCat(reflection->GetInt32(info, field));
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_INT64:
        value = absl::StrCat(reflection->GetInt64(info, field));
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_STRING:
        value = reflection->GetString(info, field);
        break;
      default:
        continue;  // ServerInfo has only the types above
    }
    std::fprintf(out, "%s: %s\n", field->name().c_str(), value.c_str());
  }
  return 0;
}

}  // namespace kvserve
