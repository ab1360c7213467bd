// kvctl: a command-line client for kvserve (see kUsage below, or kvctl --help).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "clients/chat_messages.h"
#include "clients/client_channel.h"
#include "clients/client_security_flags.h"
#include "clients/command_line.h"
#include "clients/flag_values.h"
#include "clients/kvctl_commands.h"
#include "clients/kvctl_generate.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "The kvserve daemon, HOST:PORT.");
ABSL_FLAG(int64_t, timeout_ms, 0, "Deadline for the call in milliseconds; 0 = none.");
// generate and chat.
ABSL_FLAG(int32_t, max_tokens, 64, "generate/chat: most tokens to generate (per sample).");
ABSL_FLAG(float, temperature, 0.0f, "generate/chat: sampling temperature; 0 = greedy.");
ABSL_FLAG(float, top_p, 0.0f, "generate/chat: nucleus sampling mass in (0, 1]; 0 = off.");
ABSL_FLAG(int32_t, top_k, 0, "generate/chat: sample among the K most likely tokens; 0 = off.");
ABSL_FLAG(float, min_p, 0.0f,
          "generate/chat: drop tokens below min_p x the top token's probability, in (0, 1]; "
          "0 = off.");
ABSL_FLAG(float, repetition_penalty, 0.0f,
          "generate/chat: HF/CTRL penalty on tokens of the prompt and output (> 0; 0 or 1 = off).");
ABSL_FLAG(float, presence_penalty, 0.0f,
          "generate/chat: OpenAI presence penalty over the output, in [-2, 2].");
ABSL_FLAG(float, frequency_penalty, 0.0f,
          "generate/chat: OpenAI frequency penalty over the output, in [-2, 2].");
ABSL_FLAG(std::string, logit_bias, "",
          "generate/chat: biases added to token logits, ID:BIAS,... e.g. 13:-100,42:2.5 "
          "(bias in [-100, 100]).");
ABSL_FLAG(uint64_t, seed, 0,
          "generate/chat: sampling seed; 0 = chosen by the server. The same seed gives the same "
          "n samples.");
ABSL_FLAG(bool, ignore_eos, false, "generate/chat: keep generating past the model's EOS token.");
ABSL_FLAG(std::string, token_ids, "",
          "generate: the prompt as token ids, e.g. 1,2,3 (instead of a text prompt).");
ABSL_FLAG(std::string, stop_token_ids, "",
          "generate/chat: stop after any of these ids, e.g. 10,46.");
ABSL_FLAG(std::string, stop, "",
          "generate/chat: stop when the text contains this string; repeatable (--stop A --stop "
          "B, up to 16); C escapes are decoded, so --stop '\\n\\n' is two newlines.");
ABSL_FLAG(bool, include_stop_str_in_output, false,
          "generate/chat: keep the matched stop string in the text.");
ABSL_FLAG(int32_t, min_tokens, 0,
          "generate/chat: EOS, stop ids and stop strings cannot end a sample before this many "
          "tokens.");
ABSL_FLAG(int32_t, n, 1,
          "generate/chat: independent samples of the prompt (1 to 16). With n > 1 each sample is "
          "printed once it has finished, under a line \"[INDEX] finish=... tokens=K\".");
ABSL_FLAG(std::optional<int32_t>, logprobs, std::nullopt,
          "generate/chat: print a table of each generated token's log-probability and its N most "
          "likely alternatives (0 to 20).");
ABSL_FLAG(std::optional<int32_t>, prompt_logprobs, std::nullopt,
          "generate/chat: the same for the prompt tokens (0 to 20), printed before the text.");
ABSL_FLAG(std::string, request_id, "",
          "generate/chat: request id; the server assigns one if empty.");
// chat.
ABSL_FLAG(std::string, system, "", "chat: a system message; repeatable, kept in order.");
ABSL_FLAG(std::string, user, "", "chat: a user message; repeatable, kept in order.");
ABSL_FLAG(std::string, assistant, "", "chat: an assistant message; repeatable, kept in order.");
ABSL_FLAG(std::string, message, "",
          "chat: a message as ROLE:CONTENT (e.g. tool:42); repeatable, kept in order.");
ABSL_FLAG(std::string, messages, "",
          "chat: a JSON file ('-' = stdin) with a list of {\"role\": ..., \"content\": ...}; its "
          "messages come before those of --system/--user/--assistant/--message.");
ABSL_FLAG(bool, render_only, false,
          "chat: print the prompt rendered with the model's chat template and its ids "
          "(RenderChat), without generating.");
ABSL_FLAG(bool, no_generation_prompt, false,
          "chat: leave out the assistant turn's opening (e.g. to continue a partial assistant "
          "message).");
// tokenize.
ABSL_FLAG(bool, add_special_tokens, false,
          "tokenize: prepend BOS (if the vocabulary has one), as Hugging Face's add_special_tokens "
          "does. By default the ids are exactly those of a Generate text prompt, which never adds "
          "BOS.");
ABSL_FLAG(bool, no_special_tokens, false,
          "tokenize: the default, said explicitly: no BOS (refused with --add_special_tokens).");

namespace {

constexpr char kUsage[] =
    "command-line client for the kvserve daemon.\n"
    "  kvctl generate \"prompt\"|- [--max_tokens N --temperature T --top_p P --top_k K --min_p P\n"
    "                 --seed S --repetition_penalty R --presence_penalty P --frequency_penalty F\n"
    "                 --logit_bias ID:BIAS,... --stop STR (repeatable, C escapes)\n"
    "                 --include_stop_str_in_output --min_tokens N --stop_token_ids 1,2\n"
    "                 --ignore_eos --n N --logprobs N --prompt_logprobs N --token_ids 1,2,3]\n"
    "      n = 1 streams the text; n > 1 prints each sample, \"[INDEX] finish=...\" then its\n"
    "      text, once it has finished. The finish/usage line goes to stderr.\n"
    "  kvctl chat [\"user message\" | -] [--system S] [--user U] [--assistant A]\n"
    "                 [--message ROLE:CONTENT] [--messages FILE|-] [--render_only]\n"
    "                 [--no_generation_prompt] [the generation flags of generate]\n"
    "      Messages in command-line order (a --messages file first, the positional one last;\n"
    "      '-' reads it from stdin); --render_only prints the rendered prompt and its ids.\n"
    "  kvctl tokenize \"text\" | -   [--add_special_tokens: prepend BOS]\n"
    "  kvctl detokenize 1 2 3        (or 1,2,3)\n"
    "  kvctl info\n"
    "Every command takes --target HOST:PORT and --timeout_ms MS.\n"
    "Security: --tls_ca CA.pem [--tls_cert C.pem --tls_key K.pem] --auth_token_file TOKEN\n"
    "Exit status: 0 OK, 1 the call failed, 2 bad command-line input.";

// The flags that may be given more than once (absl keeps only a flag's last value).
const std::vector<std::string> kRepeatedFlags = {"stop", "system", "user", "assistant", "message"};

int Usage(const std::string& problem) {
  std::fprintf(stderr, "error: %s\n%s\n", problem.c_str(), kUsage);
  return 2;
}

int BadInput(const std::string& problem) {
  std::fprintf(stderr, "error: %s\n(kvctl --help lists the commands and flags)\n", problem.c_str());
  return 2;
}

std::string ReadAll(std::istream& in) {
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

absl::StatusOr<std::string> ReadFileOrStdin(const std::string& path) {
  if (path == "-") return ReadAll(std::cin);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat("cannot open '", path, "'"));
  std::string text;
  char buffer[65536];
  for (size_t got; (got = std::fread(buffer, 1, sizeof(buffer), f)) > 0;) text.append(buffer, got);
  std::fclose(f);
  return text;
}

// The generation flags (shared by generate and chat) into `command`; a message on bad values.
absl::Status GenerationFromFlags(const kvserve::ExtractedArgs& extracted,
                                 kvserve::GenerateCommand* command) {
  absl::StatusOr<std::vector<int32_t>> stops =
      kvserve::ParseIdList(absl::GetFlag(FLAGS_stop_token_ids));
  if (!stops.ok())
    return absl::InvalidArgumentError("--stop_token_ids: " + std::string(stops.status().message()));
  command->stop_token_ids = *std::move(stops);
  for (const std::string& stop : extracted.Values("stop")) {
    absl::StatusOr<std::string> text = kvserve::UnescapeFlagText(stop);
    if (!text.ok())
      return absl::InvalidArgumentError("--stop: " + std::string(text.status().message()));
    command->stop.push_back(*std::move(text));
  }
  absl::StatusOr<std::map<int32_t, float>> bias =
      kvserve::ParseLogitBias(absl::GetFlag(FLAGS_logit_bias));
  if (!bias.ok())
    return absl::InvalidArgumentError("--logit_bias: " + std::string(bias.status().message()));
  command->logit_bias = *std::move(bias);
  command->request_id = absl::GetFlag(FLAGS_request_id);
  command->max_tokens = absl::GetFlag(FLAGS_max_tokens);
  command->temperature = absl::GetFlag(FLAGS_temperature);
  command->top_p = absl::GetFlag(FLAGS_top_p);
  command->top_k = absl::GetFlag(FLAGS_top_k);
  command->seed = absl::GetFlag(FLAGS_seed);
  command->min_p = absl::GetFlag(FLAGS_min_p);
  command->repetition_penalty = absl::GetFlag(FLAGS_repetition_penalty);
  command->presence_penalty = absl::GetFlag(FLAGS_presence_penalty);
  command->frequency_penalty = absl::GetFlag(FLAGS_frequency_penalty);
  command->ignore_eos = absl::GetFlag(FLAGS_ignore_eos);
  command->include_stop_str_in_output = absl::GetFlag(FLAGS_include_stop_str_in_output);
  command->min_tokens = absl::GetFlag(FLAGS_min_tokens);
  command->n = absl::GetFlag(FLAGS_n);
  command->logprobs = absl::GetFlag(FLAGS_logprobs);
  command->prompt_logprobs = absl::GetFlag(FLAGS_prompt_logprobs);
  command->timeout_ms = absl::GetFlag(FLAGS_timeout_ms);
  return kvserve::ValidateGenerateCommand(*command);
}

// kvctl chat's messages: the --messages file, the message flags in order, then the positional
// one (rest[0]; '-' = stdin).
absl::StatusOr<std::vector<kvserve::v1::ChatMessage>> ChatFromFlags(
    const kvserve::ExtractedArgs& extracted, const std::vector<std::string>& rest) {
  std::vector<kvserve::v1::ChatMessage> messages;
  const std::string file = absl::GetFlag(FLAGS_messages);
  if (!file.empty()) {
    if (file == "-" && !rest.empty() && rest[0] == "-") {
      return absl::InvalidArgumentError("stdin can be either --messages - or the prompt -");
    }
    absl::StatusOr<std::string> json = ReadFileOrStdin(file);
    if (!json.ok())
      return absl::InvalidArgumentError("--messages: " + std::string(json.status().message()));
    absl::StatusOr<std::vector<kvserve::v1::ChatMessage>> parsed =
        kvserve::ParseChatMessagesJson(*json);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--messages '", file, "': ", parsed.status().message()));
    }
    messages = *std::move(parsed);
  }
  for (const kvserve::RepeatedFlag& flag : extracted.flags) {
    if (flag.name == "message") {
      absl::StatusOr<kvserve::v1::ChatMessage> m = kvserve::ParseRoleContent(flag.value);
      if (!m.ok())
        return absl::InvalidArgumentError("--message: " + std::string(m.status().message()));
      messages.push_back(*std::move(m));
    } else if (flag.name != "stop") {
      messages.push_back(kvserve::MakeChatMessage(flag.name, flag.value));
    }
  }
  if (!rest.empty()) {
    messages.push_back(
        kvserve::MakeChatMessage("user", rest[0] == "-" ? ReadAll(std::cin) : rest[0]));
  }
  if (messages.empty()) {
    return absl::InvalidArgumentError(
        "chat needs messages: a prompt, --user, --system, --message or --messages");
  }
  return messages;
}

int Tokenize(const std::shared_ptr<grpc::Channel>& channel, const std::vector<std::string>& rest) {
  if (rest.size() != 1) return Usage("tokenize takes one text (quote it), or - for stdin");
  if (absl::GetFlag(FLAGS_add_special_tokens) && absl::GetFlag(FLAGS_no_special_tokens)) {
    return BadInput("--add_special_tokens and --no_special_tokens contradict each other");
  }
  kvserve::v1::TokenizeRequest request;
  request.set_text(rest[0] == "-" ? ReadAll(std::cin) : rest[0]);
  request.set_add_special_tokens(absl::GetFlag(FLAGS_add_special_tokens));
  return kvserve::RunTokenize(channel, request, absl::GetFlag(FLAGS_timeout_ms), stdout, stderr);
}

int Detokenize(const std::shared_ptr<grpc::Channel>& channel,
               const std::vector<std::string>& rest) {
  kvserve::v1::DetokenizeRequest request;
  for (const std::string& arg : rest) {
    absl::StatusOr<std::vector<int32_t>> ids = kvserve::ParseIdList(arg);
    if (!ids.ok()) return BadInput(absl::StrCat("detokenize: ", ids.status().message()));
    request.mutable_token_ids()->Add(ids->begin(), ids->end());
  }
  if (request.token_ids().empty()) return Usage("detokenize takes token ids: 1 2 3 or 1,2,3");
  return kvserve::RunDetokenize(channel, request, absl::GetFlag(FLAGS_timeout_ms), stdout, stderr);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  absl::StatusOr<kvserve::ExtractedArgs> extracted =
      kvserve::ExtractRepeatedFlags(argc, argv, kRepeatedFlags);
  if (!extracted.ok()) return BadInput(std::string(extracted.status().message()));
  // absl exits with status 1 on a flag value it cannot parse; kvctl's bad input is status 2.
  if (absl::Status s = kvserve::CheckFlagValues(extracted->argv); !s.ok()) {
    return BadInput(std::string(s.message()));
  }
  std::vector<char*> args =
      absl::ParseCommandLine(static_cast<int>(extracted->argv.size()), extracted->argv.data());
  if (args.size() < 2) return Usage("missing command (generate, chat, tokenize, detokenize, info)");
  const std::string command = args[1];
  const std::vector<std::string> rest(args.begin() + 2, args.end());
  const bool has_chat_flags =
      std::any_of(extracted->flags.begin(), extracted->flags.end(),
                  [](const kvserve::RepeatedFlag& f) { return f.name != "stop"; });
  if (command != "chat" && has_chat_flags) {
    return BadInput("--system, --user, --assistant and --message are for chat");
  }
  if (command != "generate" && command != "chat" && command != "tokenize" &&
      command != "detokenize" && command != "info") {
    return Usage("unknown command '" + command + "'");
  }
  absl::StatusOr<kvserve::ClientChannelFactory> channels =
      kvserve::ClientChannelFactory::Create(kvserve::SecurityOptionsFromFlags());
  if (!channels.ok()) return BadInput(std::string(channels.status().message()));
  auto channel = channels->NewChannel(absl::GetFlag(FLAGS_target));

  if (command == "info") {
    if (!rest.empty()) return Usage("info takes no arguments");
    return kvserve::RunInfo(channel, absl::GetFlag(FLAGS_timeout_ms), stdout, stderr);
  }
  if (command == "tokenize") return Tokenize(channel, rest);
  if (command == "detokenize") return Detokenize(channel, rest);

  kvserve::GenerateCommand generate;
  if (command == "chat") {
    if (rest.size() > 1) return Usage("chat takes at most one user message (quote it)");
    absl::StatusOr<std::vector<kvserve::v1::ChatMessage>> messages =
        ChatFromFlags(*extracted, rest);
    if (!messages.ok()) return BadInput(std::string(messages.status().message()));
    kvserve::v1::ChatPrompt prompt;
    for (const kvserve::v1::ChatMessage& m : *messages) *prompt.add_messages() = m;
    prompt.set_no_generation_prompt(absl::GetFlag(FLAGS_no_generation_prompt));
    if (absl::GetFlag(FLAGS_render_only)) {
      return kvserve::RunRenderChat(channel, prompt, absl::GetFlag(FLAGS_timeout_ms), stdout,
                                    stderr);
    }
    generate.chat = *std::move(messages);
    generate.no_generation_prompt = prompt.no_generation_prompt();
  } else {
    if (rest.size() > 1) return Usage("generate takes one prompt (quote it)");
    if (rest.size() == 1) generate.prompt_text = rest[0] == "-" ? ReadAll(std::cin) : rest[0];
    if (const std::string ids = absl::GetFlag(FLAGS_token_ids); !ids.empty()) {
      absl::StatusOr<std::vector<int32_t>> parsed = kvserve::ParseIdList(ids);
      if (!parsed.ok()) return BadInput("--token_ids: " + std::string(parsed.status().message()));
      generate.prompt_tokens = *std::move(parsed);
    }
  }
  if (absl::Status s = GenerationFromFlags(*extracted, &generate); !s.ok()) {
    return BadInput(std::string(s.message()));
  }
  return kvserve::RunGenerate(channel, generate, stdout, stderr);
}
