// ParseGenerateRequest: the wire bytes of a Generate call → kvserve.v1.GenerateRequest, with an
// error that says what is wrong.
//
// Why not let gRPC parse it: when a callback server-streaming method's request fails to
// deserialize, gRPC 1.51 ends the call with UNIMPLEMENTED and an empty message — e.g. for a prompt
// `text` that is not valid UTF-8 (proto3 `string` fields must be). So the Generate method is
// registered raw (grpc::ByteBuffer in) and parsed here instead; a request that does not parse is
// INVALID_ARGUMENT saying which field is not UTF-8 (with the byte offset), or that the bytes are
// not a GenerateRequest at all.
//
// Threads: pure functions; call them from any thread.
#ifndef KVSERVE_SERVER_GENERATE_REQUEST_PARSER_H_
#define KVSERVE_SERVER_GENERATE_REQUEST_PARSER_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "kvserve/v1/kvserve.pb.h"

namespace grpc {
class ByteBuffer;
}  // namespace grpc

namespace kvserve {

// OK and `*request` filled, or INVALID_ARGUMENT: "request_id is not valid UTF-8 (byte N)",
// "prompt.text is not valid UTF-8 (byte N) ...", or "the request is not a valid
// kvserve.v1.GenerateRequest: ...". `*request` is unspecified after an error.
absl::Status ParseGenerateRequest(absl::string_view bytes, v1::GenerateRequest* request);

// The same for the bytes of a gRPC call (parsed without flattening them first; flattened only
// to explain a failure).
absl::Status ParseGenerateRequest(const grpc::ByteBuffer& buffer, v1::GenerateRequest* request);

}  // namespace kvserve

#endif  // KVSERVE_SERVER_GENERATE_REQUEST_PARSER_H_
