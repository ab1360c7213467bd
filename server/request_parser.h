// ParseRequest: the wire bytes of a call → its request message, with an error that says what is
// wrong.
//
// Why not let gRPC parse them: when a callback method's request fails to deserialize, gRPC 1.51
// ends the call with UNIMPLEMENTED and an empty message — e.g. for a GenerateRequest whose prompt
// `text` is not valid UTF-8 (proto3 `string` fields must be). So the Generation service registers
// its methods raw (grpc::ByteBuffer in and out) and parses here instead; bytes that do not parse
// are INVALID_ARGUMENT saying which string field is not UTF-8 (with the byte offset), or that the
// bytes are not that message at all. Protobuf's own log line for invalid UTF-8 is silenced: the
// client gets the error instead.
//
// Threads: pure functions; call them from any thread.
#ifndef KVSERVE_SERVER_REQUEST_PARSER_H_
#define KVSERVE_SERVER_REQUEST_PARSER_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace grpc {
class ByteBuffer;
}  // namespace grpc

namespace kvserve {

// OK and `*request` filled, or INVALID_ARGUMENT: "<field> is not valid UTF-8 (byte N of M)" (a
// field inside a oneof is named "<oneof>.<field>", e.g. "prompt.text"; for the prompt text a hint
// to send token ids follows), or "the request is not a valid <message type>: ...". `*request` is
// unspecified after an error.
absl::Status ParseRequest(absl::string_view bytes, google::protobuf::Message* request);

// The same for the bytes of a gRPC call (parsed without flattening them first; flattened only
// to explain a failure).
absl::Status ParseRequest(const grpc::ByteBuffer& buffer, google::protobuf::Message* request);

}  // namespace kvserve

#endif  // KVSERVE_SERVER_REQUEST_PARSER_H_
