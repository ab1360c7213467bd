#include "server/request_parser.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/proto_buffer_reader.h"

namespace kvserve {
namespace {

// The offset of the first byte that is not part of a well-formed UTF-8 sequence (RFC 3629: no
// overlongs, no surrogates, nothing above U+10FFFF), or nullopt if `s` is valid UTF-8.
std::optional<size_t> FirstInvalidUtf8Byte(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    int length = 0;
    uint8_t lower = 0x80, upper = 0xBF;  // allowed range of the second byte
    if (b >= 0xC2 && b <= 0xDF) {
      length = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      length = 3;
      if (b == 0xE0) lower = 0xA0;
      if (b == 0xED) upper = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      length = 4;
      if (b == 0xF0) lower = 0x90;
      if (b == 0xF4) upper = 0x8F;
    } else {
      return i;
    }
    if (i + length > s.size()) return i;
    for (int k = 1; k < length; ++k) {
      const auto c = static_cast<uint8_t>(s[i + k]);
      if (c < (k == 1 ? lower : 0x80) || c > (k == 1 ? upper : 0xBF)) return i;
    }
    i += length;
  }
  return std::nullopt;
}

// Why `bytes`, which request->ParseFrom... refused, is not a `request`.
absl::Status ExplainParseFailure(absl::string_view bytes,
                                 const google::protobuf::Message& request) {
  const google::protobuf::Descriptor& descriptor = *request.GetDescriptor();
  google::protobuf::UnknownFieldSet fields;
  if (!fields.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the request is not a valid ", descriptor.full_name(), ": malformed protobuf wire format"));
  }
  for (int i = 0; i < fields.field_count(); ++i) {
    const google::protobuf::UnknownField& field = fields.field(i);
    const google::protobuf::FieldDescriptor* known = descriptor.FindFieldByNumber(field.number());
    if (known == nullptr || known->type() != google::protobuf::FieldDescriptor::TYPE_STRING ||
        field.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    if (const std::optional<size_t> bad = FirstInvalidUtf8Byte(field.length_delimited())) {
      const google::protobuf::OneofDescriptor* oneof = known->containing_oneof();
      const bool prompt_text = known->full_name() == "kvserve.v1.GenerateRequest.text";
      return absl::InvalidArgumentError(
          absl::StrCat(oneof != nullptr ? absl::StrCat(oneof->name(), ".") : "", known->name(),
                       " is not valid UTF-8 (byte ", *bad, " of ", field.length_delimited().size(),
                       ")", prompt_text ? "; send raw bytes as prompt.token_ids instead" : ""));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("the request is not a valid ", descriptor.full_name(),
                   ": a field has the wrong wire type or a nested message is malformed"));
}

}  // namespace

absl::Status ParseRequest(absl::string_view bytes, google::protobuf::Message* request) {
  // Protobuf would log every invalid-UTF-8 string it meets; the caller gets the error instead.
  google::protobuf::LogSilencer quiet;
  if (request->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::OkStatus();
  }
  return ExplainParseFailure(bytes, *request);
}

absl::Status ParseRequest(const grpc::ByteBuffer& buffer, google::protobuf::Message* request) {
  grpc::ByteBuffer copy(buffer);  // shares the slices; the reader needs a mutable buffer
  {
    google::protobuf::LogSilencer quiet;  // see above
    grpc::ProtoBufferReader reader(&copy);
    if (request->ParseFromZeroCopyStream(&reader)) return absl::OkStatus();
  }
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) {
    return absl::InvalidArgumentError("the request could not be read");
  }
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return ExplainParseFailure(bytes, *request);
}

}  // namespace kvserve
