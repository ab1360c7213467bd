#include "engine/chat/chat_template_source.h"

#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace kvserve {
namespace {

namespace fs = std::filesystem;

constexpr char kChatTemplateFile[] = "chat_template.jinja";
constexpr char kTokenizerConfigFile[] = "tokenizer_config.json";
constexpr char kSpecialTokensMapFile[] = "special_tokens_map.json";

bool IsFile(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot open"));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path.string(), ": read failed"));
  return text.str();
}

// The JSON object in `path`; nullopt when there is no such file.
absl::StatusOr<std::optional<nlohmann::json>> ReadJsonObject(const fs::path& path) {
  if (!IsFile(path)) return std::optional<nlohmann::json>();
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  nlohmann::json json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not valid JSON"));
  }
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not a JSON object"));
  }
  return std::optional<nlohmann::json>(std::move(json));
}

// A special token: a string, an AddedToken object ({"content": "<s>", ...}) or null.
absl::Status ReadToken(const nlohmann::json& config, const char* key, const fs::path& path,
                       std::optional<std::string>* token) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return absl::OkStatus();
  if (it->is_string()) {
    *token = it->get<std::string>();
    return absl::OkStatus();
  }
  if (it->is_object()) {
    auto content = it->find("content");
    if (content != it->end() && content->is_string()) {
      *token = content->get<std::string>();
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path.string(), ": \"", key, "\" must be a string or an object with a \"content\" string"));
}

absl::StatusOr<std::optional<std::string>> TemplateFromConfig(const nlohmann::json& config,
                                                              const fs::path& path) {
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return std::optional<std::string>();
  if (it->is_string()) return std::optional<std::string>(it->get<std::string>());
  if (!it->is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path.string(), ": \"chat_template\" must be a string or a list of named templates"));
  }
  std::vector<std::string> names;
  for (const nlohmann::json& entry : *it) {
    auto name = entry.is_object() ? entry.find("name") : entry.end();
    auto text = entry.is_object() ? entry.find("template") : entry.end();
    if (!entry.is_object() || name == entry.end() || !name->is_string() || text == entry.end() ||
        !text->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path.string(), ": each \"chat_template\" entry must have a string ",
                       "\"name\" and a string \"template\""));
    }
    if (name->get<std::string>() == "default") {
      return std::optional<std::string>(text->get<std::string>());
    }
    names.push_back(absl::StrCat("'", name->get<std::string>(), "'"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path.string(), ": \"chat_template\" lists ",
      names.empty() ? "no templates" : absl::StrJoin(names, ", "), " but none named 'default'"));
}

absl::Status CheckDirectory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir.string(), ": not a directory"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ChatSpecialTokens> LoadChatSpecialTokens(const fs::path& checkpoint_dir) {
  if (absl::Status s = CheckDirectory(checkpoint_dir); !s.ok()) return s;
  ChatSpecialTokens tokens;
  for (const char* file : {kTokenizerConfigFile, kSpecialTokensMapFile}) {
    const fs::path path = checkpoint_dir / file;
    absl::StatusOr<std::optional<nlohmann::json>> config = ReadJsonObject(path);
    if (!config.ok()) return config.status();
    if (!config->has_value()) continue;
    // The first file that has a token wins (tokenizer_config.json before the legacy map).
    if (!tokens.bos_token) {
      if (absl::Status s = ReadToken(**config, "bos_token", path, &tokens.bos_token); !s.ok()) {
        return s;
      }
    }
    if (!tokens.eos_token) {
      if (absl::Status s = ReadToken(**config, "eos_token", path, &tokens.eos_token); !s.ok()) {
        return s;
      }
    }
  }
  return tokens;
}

absl::StatusOr<std::optional<ChatTemplateSource>> LoadChatTemplate(const fs::path& checkpoint_dir) {
  absl::StatusOr<ChatSpecialTokens> tokens = LoadChatSpecialTokens(checkpoint_dir);
  if (!tokens.ok()) return tokens.status();
  ChatTemplateSource source;
  source.tokens = *std::move(tokens);
  const fs::path jinja_path = checkpoint_dir / kChatTemplateFile;
  if (IsFile(jinja_path)) {
    absl::StatusOr<std::string> text = ReadFile(jinja_path);
    if (!text.ok()) return text.status();
    source.text = *std::move(text);
    source.origin = jinja_path.string();
    return std::optional<ChatTemplateSource>(std::move(source));
  }
  const fs::path config_path = checkpoint_dir / kTokenizerConfigFile;
  absl::StatusOr<std::optional<nlohmann::json>> config = ReadJsonObject(config_path);
  if (!config.ok()) return config.status();
  if (!config->has_value()) return std::optional<ChatTemplateSource>();
  absl::StatusOr<std::optional<std::string>> text = TemplateFromConfig(**config, config_path);
  if (!text.ok()) return text.status();
  if (!text->has_value()) return std::optional<ChatTemplateSource>();
  source.text = **std::move(text);
  source.origin = config_path.string();
  return std::optional<ChatTemplateSource>(std::move(source));
}

absl::StatusOr<std::string> ReadChatTemplateFile(const fs::path& path) {
  if (!IsFile(path)) return absl::NotFoundError(absl::StrCat(path.string(), ": no such file"));
  return ReadFile(path);
}

absl::string_view DefaultChatMlTemplate() {
  return "{%- for message in messages %}\n"
         "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}\n"
         "{%- endfor %}\n"
         "{%- if add_generation_prompt %}\n"
         "{{- '<|im_start|>assistant\\n' }}\n"
         "{%- endif %}\n";
}

}  // namespace kvserve
