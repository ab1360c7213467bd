// kvctl's subcommands, separated from flag parsing so each is a plain function over a channel.
//
//   generate  streams one Generate call: text to `out` as each message arrives (flushed), then a
//             usage line on `err`:
//             [finish=length prompt_tokens=5 completion_tokens=16 cached=0 ttft_ms=3.1
//             total_ms=40.2]
//   info      GetServerInfo as "key: value" lines on `out`.
// Both return the process exit code: 0 on OK; otherwise they print "error: CODE_NAME: message" on
// `err` and return 1 (2 for bad command-line input).
//
// Threads: each call uses only its arguments; run them from one thread.
#ifndef KVSERVE_CLIENTS_KVCTL_COMMANDS_H_
#define KVSERVE_CLIENTS_KVCTL_COMMANDS_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"

namespace kvserve {

struct GenerateCommand {
  std::optional<std::string> prompt_text;  // exactly one of these two
  std::optional<std::vector<int32_t>> prompt_tokens;
  std::string request_id;
  int32_t max_tokens = 64;
  float temperature = 0.0f;
  int32_t top_k = 0;
  float top_p = 0.0f;
  uint64_t seed = 0;
  bool ignore_eos = false;
  std::vector<int32_t> stop_token_ids;
  int64_t timeout_ms = 0;  // 0: no deadline
};

int RunGenerate(const std::shared_ptr<grpc::Channel>& channel, const GenerateCommand& command,
                std::FILE* out, std::FILE* err);
int RunInfo(const std::shared_ptr<grpc::Channel>& channel, int64_t timeout_ms, std::FILE* out,
            std::FILE* err);

// "1,2, 3" → {1, 2, 3}; empty text → {}. INVALID_ARGUMENT naming the bad item.
absl::StatusOr<std::vector<int32_t>> ParseIdList(absl::string_view text);

// "INVALID_ARGUMENT", "UNAVAILABLE", ...
std::string StatusCodeName(grpc::StatusCode code);

}  // namespace kvserve

#endif  // KVSERVE_CLIENTS_KVCTL_COMMANDS_H_
