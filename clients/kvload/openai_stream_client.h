// OpenAiStreamClient: kvload's client for an OpenAI-compatible HTTP server (`kvload --api
// openai`): each request is one `stream: true` POST to /v1/completions (or /v1/chat/completions
// with `chat`) on a connection of its own (HTTP/1.1 has one stream per connection), its SSE chunks
// recorded into the same GenerateRecord a gRPC GenerateCall fills, so that the report, the plots
// and the checks are the same for both front ends.
//
// Mapping: every chunk with a choice is one message of one token (the OpenAI stream has no token
// ids; kvserve sends one chunk per token), its finish_reason the sample's; the usage chunk
// (stream_options.include_usage) is the record's usage; `data: [DONE]` after a 200 is status OK.
// An HTTP error status maps back to the gRPC code (400 INVALID_ARGUMENT, 401 UNAUTHENTICATED,
// 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED, others
// INTERNAL) with the error's message; an error event mid-stream likewise; a connection that fails
// or closes before [DONE] is UNAVAILABLE. The deadline and cancel_after_tokens of
// GenerateCallOptions close the connection (DEADLINE_EXCEEDED / CANCELLED with cancel_sent).
//
// Threads: one libevent loop thread owns every connection. Start() and AbortAll() may be called
// from any thread (they hand the work to the loop); `done` and `on_tokens` run on the loop thread,
// `done` exactly once per started request. The destructor aborts what is left and joins the loop.
#ifndef KVSERVE_CLIENTS_KVLOAD_OPENAI_STREAM_CLIENT_H_
#define KVSERVE_CLIENTS_KVLOAD_OPENAI_STREAM_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "clients/generate_call.h"
#include "kvserve/v1/kvserve.pb.h"

namespace kvserve::load {

class OpenAiStreamClient {
 public:
  using Done = std::function<void(int64_t tag, GenerateRecord record)>;
  using OnTokens = std::function<void(int64_t tokens)>;

  struct Options {
    std::string host = "127.0.0.1";
    int32_t port = 8000;
    std::string model;         // the request's "model"; empty: none sent
    std::string bearer_token;  // empty: no Authorization header
  };

  // INVALID_ARGUMENT for a bad port; INTERNAL if libevent cannot start.
  static absl::StatusOr<std::unique_ptr<OpenAiStreamClient>> Create(const Options& options,
                                                                    Done done, OnTokens on_tokens);
  ~OpenAiStreamClient();
  OpenAiStreamClient(const OpenAiStreamClient&) = delete;
  OpenAiStreamClient& operator=(const OpenAiStreamClient&) = delete;

  // Sends `request` (its prompt, max_tokens, sampling, stop, n, ignore_eos) as an OpenAI request.
  void Start(const v1::GenerateRequest& request, const GenerateCallOptions& options);
  // Ends every request in flight: each gets `aborted` and status CANCELLED.
  void AbortAll();

  // The OpenAI JSON body for `request` (streaming, with include_usage), and its path.
  static std::string Body(const v1::GenerateRequest& request, const std::string& model);
  static const char* Path(const v1::GenerateRequest& request);

 private:
  class Impl;
  explicit OpenAiStreamClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_OPENAI_STREAM_CLIENT_H_
