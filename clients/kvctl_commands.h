// kvctl's subcommands other than generate (kvctl_generate.h), separated from flag parsing so each
// is a plain function over a channel.
//
//   info        GetServerInfo as "key: value" lines on `out`.
//   tokenize    Tokenize: "N tokens: id,id,..." then one line per token (position, id, its
//               piece quoted) on `out`.
//   detokenize  Detokenize: the text on `out` (a newline after it on a terminal).
//   chat --render_only
//               RenderChat: the rendered prompt on `out`, then "N tokens: id,id,...".
// Each returns the process exit code: 0 on OK; otherwise it prints "error: CODE_NAME: message" on
// `err` and returns 1.
//
// Threads: each call uses only its arguments; run them from one thread.
#ifndef KVSERVE_CLIENTS_KVCTL_COMMANDS_H_
#define KVSERVE_CLIENTS_KVCTL_COMMANDS_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.pb.h"

namespace kvserve {

int RunInfo(const std::shared_ptr<grpc::Channel>& channel, int64_t timeout_ms, std::FILE* out,
            std::FILE* err);
int RunTokenize(const std::shared_ptr<grpc::Channel>& channel, const v1::TokenizeRequest& request,
                int64_t timeout_ms, std::FILE* out, std::FILE* err);
int RunDetokenize(const std::shared_ptr<grpc::Channel>& channel,
                  const v1::DetokenizeRequest& request, int64_t timeout_ms, std::FILE* out,
                  std::FILE* err);
int RunRenderChat(const std::shared_ptr<grpc::Channel>& channel, const v1::ChatPrompt& prompt,
                  int64_t timeout_ms, std::FILE* out, std::FILE* err);

// "INVALID_ARGUMENT", "UNAVAILABLE", ...
std::string StatusCodeName(grpc::StatusCode code);

}  // namespace kvserve

#endif  // KVSERVE_CLIENTS_KVCTL_COMMANDS_H_
