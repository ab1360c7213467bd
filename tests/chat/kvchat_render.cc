// kvchat_render: renders a chat template with kvserve's Jinja interpreter and prints the text.
// The test jinja_reference_test.py runs it beside python3-jinja2 and compares the bytes.
//
//   kvchat_render (--template FILE | --chatml) --messages JSON [--no_generation_prompt]
//                 [--bos TEXT] [--eos TEXT] [--now YYYY-MM-DDTHH:MM:SS] [--vars JSON]
//
// --messages is a JSON array of message objects; --vars a JSON object of extra template
// variables; --now fixes strftime_now's clock (taken as UTC, and formatted in UTC). Exit status:
// 0 with the rendered text on stdout (nothing added), 1 render error, 2 parse error or bad
// usage, 3 the template's raise_exception (its message alone on stderr).
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/chat/chat_template.h"
#include "engine/chat/chat_template_source.h"
#include "engine/chat/jinja_callable.h"
#include "nlohmann/json.hpp"

namespace {

int Usage(absl::string_view problem) {
  std::cerr << "kvchat_render: " << problem << "\n"
            << "usage: kvchat_render (--template FILE | --chatml) --messages JSON "
               "[--no_generation_prompt] [--bos TEXT] [--eos TEXT] [--now ISO] [--vars JSON]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<std::string> template_file, messages_json, vars_json, now_text;
  bool chatml = false;
  kvserve::ChatRenderOptions options;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    const auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    std::optional<std::string>* target = nullptr;
    if (arg == "--template") {
      target = &template_file;
    } else if (arg == "--messages") {
      target = &messages_json;
    } else if (arg == "--vars") {
      target = &vars_json;
    } else if (arg == "--now") {
      target = &now_text;
    } else if (arg == "--bos") {
      target = &options.bos_token;
    } else if (arg == "--eos") {
      target = &options.eos_token;
    } else if (arg == "--chatml") {
      chatml = true;
      continue;
    } else if (arg == "--no_generation_prompt") {
      options.add_generation_prompt = false;
      continue;
    } else {
      return Usage("unknown argument " + std::string(arg));
    }
    *target = value();
    if (!target->has_value()) return Usage(std::string(arg) + " needs a value");
  }
  if (chatml == template_file.has_value()) return Usage("give --template FILE or --chatml");
  if (!messages_json) return Usage("--messages is required");

  std::string source(kvserve::DefaultChatMlTemplate());
  if (template_file) {
    absl::StatusOr<std::string> text = kvserve::ReadChatTemplateFile(*template_file);
    if (!text.ok()) return Usage(std::string(text.status().message()));
    source = *std::move(text);
  }
  const nlohmann::ordered_json messages =
      nlohmann::ordered_json::parse(*messages_json, nullptr, /*allow_exceptions=*/false);
  if (messages.is_discarded()) return Usage("--messages is not valid JSON");
  if (vars_json) {
    options.extra_variables =
        nlohmann::ordered_json::parse(*vars_json, nullptr, /*allow_exceptions=*/false);
    if (options.extra_variables.is_discarded()) return Usage("--vars is not valid JSON");
  }
  if (now_text) {
    absl::Time now;
    std::string error;
    if (!absl::ParseTime("%Y-%m-%dT%H:%M:%S", *now_text, absl::UTCTimeZone(), &now, &error)) {
      return Usage("--now: " + error);
    }
    options.now = now;
    options.time_zone = absl::UTCTimeZone();
  }

  absl::StatusOr<kvserve::ChatTemplate> chat_template = kvserve::ChatTemplate::Parse(source);
  if (!chat_template.ok()) {
    std::cerr << chat_template.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<std::string> text = chat_template->RenderJson(messages, options);
  if (!text.ok()) {
    std::cerr << text.status().message();
    return kvserve::jinja::IsRaisedError(text.status()) ? 3 : 1;
  }
  std::fwrite(text->data(), 1, text->size(), stdout);
  return 0;
}
