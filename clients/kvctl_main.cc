// kvctl: a command-line client for kvserve.
//
//   kvctl generate --target HOST:PORT "prompt" [--max_tokens N --temperature T --top_p P
//                  --top_k K --seed S --ignore_eos --stop_token_ids 1,2 --token_ids 1,2,3]
//   kvctl info --target HOST:PORT
// Both take --tls_ca [--tls_cert --tls_key] for TLS and --auth_token_file for a bearer token.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_join.h"
#include "clients/client_channel.h"
#include "clients/client_security_flags.h"
#include "clients/kvctl_commands.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "The kvserve daemon, HOST:PORT.");
ABSL_FLAG(int64_t, timeout_ms, 0, "Deadline for the call in milliseconds; 0 = none.");
ABSL_FLAG(int32_t, max_tokens, 64, "generate: most tokens to generate.");
ABSL_FLAG(float, temperature, 0.0f, "generate: sampling temperature; 0 = greedy.");
ABSL_FLAG(float, top_p, 0.0f, "generate: nucleus sampling mass in (0, 1]; 0 = off.");
ABSL_FLAG(int32_t, top_k, 0, "generate: sample among the K most likely tokens; 0 = off.");
ABSL_FLAG(uint64_t, seed, 0, "generate: sampling seed; 0 = chosen by the server.");
ABSL_FLAG(bool, ignore_eos, false, "generate: keep generating past the model's EOS token.");
ABSL_FLAG(std::string, token_ids, "",
          "generate: the prompt as token ids, e.g. 1,2,3 (instead of a text prompt).");
ABSL_FLAG(std::string, stop_token_ids, "", "generate: stop after any of these ids, e.g. 10,46.");
ABSL_FLAG(std::string, request_id, "", "generate: request id; the server assigns one if empty.");

namespace {

constexpr char kUsage[] =
    "command-line client for the kvserve daemon.\n"
    "  kvctl generate --target HOST:PORT \"prompt\" [--max_tokens N --temperature T --top_p P\n"
    "                 --top_k K --seed S --ignore_eos --stop_token_ids 1,2 --token_ids 1,2,3]\n"
    "  kvctl info --target HOST:PORT\n"
    "Security: --tls_ca CA.pem [--tls_cert C.pem --tls_key K.pem] --auth_token_file TOKEN";

int Usage(const char* problem) {
  std::fprintf(stderr, "error: %s\n%s\n", problem, kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return Usage("missing command (generate or info)");
  const std::string command = args[1];
  std::vector<std::string> rest(args.begin() + 2, args.end());
  absl::StatusOr<kvserve::ClientChannelFactory> channels =
      kvserve::ClientChannelFactory::Create(kvserve::SecurityOptionsFromFlags());
  if (!channels.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(channels.status().message()).c_str());
    return 2;
  }
  auto channel = channels->NewChannel(absl::GetFlag(FLAGS_target));

  if (command == "info") {
    if (!rest.empty()) return Usage("info takes no arguments");
    return kvserve::RunInfo(channel, absl::GetFlag(FLAGS_timeout_ms), stdout, stderr);
  }
  if (command != "generate") return Usage("unknown command; use generate or info");

  kvserve::GenerateCommand generate;
  if (rest.size() > 1) return Usage("generate takes one prompt (quote it)");
  if (rest.size() == 1) generate.prompt_text = rest[0];
  if (const std::string ids = absl::GetFlag(FLAGS_token_ids); !ids.empty()) {
    absl::StatusOr<std::vector<int32_t>> parsed = kvserve::ParseIdList(ids);
    if (!parsed.ok())
      return Usage(("--token_ids: " + std::string(parsed.status().message())).c_str());
    generate.prompt_tokens = *std::move(parsed);
  }
  absl::StatusOr<std::vector<int32_t>> stops =
      kvserve::ParseIdList(absl::GetFlag(FLAGS_stop_token_ids));
  if (!stops.ok()) {
    return Usage(("--stop_token_ids: " + std::string(stops.status().message())).c_str());
  }
  generate.stop_token_ids = *std::move(stops);
  generate.request_id = absl::GetFlag(FLAGS_request_id);
  generate.max_tokens = absl::GetFlag(FLAGS_max_tokens);
  generate.temperature = absl::GetFlag(FLAGS_temperature);
  generate.top_p = absl::GetFlag(FLAGS_top_p);
  generate.top_k = absl::GetFlag(FLAGS_top_k);
  generate.seed = absl::GetFlag(FLAGS_seed);
  generate.ignore_eos = absl::GetFlag(FLAGS_ignore_eos);
  generate.timeout_ms = absl::GetFlag(FLAGS_timeout_ms);
  return kvserve::RunGenerate(channel, generate, stdout, stderr);
}
