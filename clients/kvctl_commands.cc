#include "clients/kvctl_commands.h"

#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "clients/kvctl_output.h"
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

// "3 tokens: 1,2,3"
template <typename Ids>
std::string IdLine(const Ids& ids) {
  return absl::StrCat(ids.size(),
                      ids.size() == 1 ? " token: " : " tokens: ", absl::StrJoin(ids, ","), "\n");
}

}  // namespace

std::string StatusCodeName(grpc::StatusCode code) {
  // grpc::StatusCode and absl::StatusCode share google.rpc.Code's numbering.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
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
      case google::protobuf::FieldDescriptor::CPPTYPE_BOOL:
        value = reflection->GetBool(info, field) ? "true" : "false";
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

int RunTokenize(const std::shared_ptr<grpc::Channel>& channel, const v1::TokenizeRequest& request,
                int64_t timeout_ms, std::FILE* out, std::FILE* err) {
  std::unique_ptr<v1::Generation::Stub> stub = v1::Generation::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(&context, timeout_ms);
  v1::TokenizeResponse response;
  const grpc::Status status = stub->Tokenize(&context, request, &response);
  if (!status.ok()) return PrintError(err, status);
  std::fputs(IdLine(response.token_ids()).c_str(), out);
  for (int i = 0; i < response.token_ids_size(); ++i) {
    const std::string piece = i < response.pieces_size() ? QuoteText(response.pieces(i)) : "?";
    std::fprintf(out, "  %5d  %8d  %s\n", i, response.token_ids(i), piece.c_str());
  }
  return 0;
}

int RunDetokenize(const std::shared_ptr<grpc::Channel>& channel,
                  const v1::DetokenizeRequest& request, int64_t timeout_ms, std::FILE* out,
                  std::FILE* err) {
  std::unique_ptr<v1::Generation::Stub> stub = v1::Generation::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(&context, timeout_ms);
  v1::DetokenizeResponse response;
  const grpc::Status status = stub->Detokenize(&context, request, &response);
  if (!status.ok()) return PrintError(err, status);
  std::fwrite(response.text().data(), 1, response.text().size(), out);
  if (::isatty(::fileno(out)) && (response.text().empty() || response.text().back() != '\n')) {
    std::fputc('\n', out);
  }
  return 0;
}

int RunRenderChat(const std::shared_ptr<grpc::Channel>& channel, const v1::ChatPrompt& prompt,
                  int64_t timeout_ms, std::FILE* out, std::FILE* err) {
  std::unique_ptr<v1::Generation::Stub> stub = v1::Generation::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(&context, timeout_ms);
  v1::RenderedChat rendered;
  const grpc::Status status = stub->RenderChat(&context, prompt, &rendered);
  if (!status.ok()) return PrintError(err, status);
  std::fwrite(rendered.text().data(), 1, rendered.text().size(), out);
  if (rendered.text().empty() || rendered.text().back() != '\n') std::fputc('\n', out);
  std::fputs(IdLine(rendered.token_ids()).c_str(), out);
  return 0;
}

}  // namespace kvserve
