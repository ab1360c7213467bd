#include "server/openai/openai_request.h"

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace kvserve::openai {
namespace {

using Json = nlohmann::json;

// The JSON type's name, for messages ("got string").
const char* TypeName(const Json& v) {
  if (v.is_boolean()) return "boolean";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return "null";
}

absl::Status WrongType(absl::string_view field, absl::string_view want, const Json& got) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be ", want, "; got ", TypeName(got)));
}

// The field, or nullptr when absent or null.
const Json* Field(const Json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<int32_t> AsInt32(absl::string_view field, const Json& v) {
  if (!v.is_number_integer()) {
    // 3.0 is an integer to a JSON encoder that only has doubles (JavaScript's, for one).
    if (v.is_number_float() && std::isfinite(v.get<double>()) &&
        v.get<double>() == std::floor(v.get<double>()) && std::fabs(v.get<double>()) < 2e9) {
      return static_cast<int32_t>(v.get<double>());
    }
    return WrongType(field, "an integer", v);
  }
  if (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t{std::numeric_limits<int32_t>::max()}
                             : (v.get<int64_t>() < std::numeric_limits<int32_t>::min() ||
                                v.get<int64_t>() > std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is out of range: ", v.dump()));
  }
  return static_cast<int32_t>(v.get<int64_t>());
}

// Reads optional fields of `object` into the request, stopping at the first bad one.
class Reader {
 public:
  explicit Reader(const Json& object) : object_(object) {}
  const absl::Status& status() const { return status_; }
  void Fail(absl::Status status) {
    if (status_.ok()) status_ = std::move(status);
  }

  template <typename Set>
  void Number(const char* name, Set set) {
    const Json* v = Field(object_, name);
    if (v == nullptr || !status_.ok()) return;
    if (!v->is_number()) return Fail(WrongType(name, "a number", *v));
    set(v->get<double>());
  }
  template <typename Set>
  void Int(const char* name, Set set) {
    const Json* v = Field(object_, name);
    if (v == nullptr || !status_.ok()) return;
    absl::StatusOr<int32_t> i = AsInt32(name, *v);
    if (!i.ok()) return Fail(i.status());
    set(*i);
  }
  template <typename Set>
  void Bool(const char* name, Set set) {
    const Json* v = Field(object_, name);
    if (v == nullptr || !status_.ok()) return;
    if (!v->is_boolean()) return Fail(WrongType(name, "a boolean", *v));
    set(v->get<bool>());
  }
  template <typename Set>
  void String(const char* name, Set set) {
    const Json* v = Field(object_, name);
    if (v == nullptr || !status_.ok()) return;
    if (!v->is_string()) return Fail(WrongType(name, "a string", *v));
    set(v->get<std::string>());
  }

 private:
  const Json& object_;
  absl::Status status_;
};

absl::StatusOr<Json> ParseObject(absl::string_view body) {
  Json doc = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError("the request body is not valid JSON");
  }
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body must be a JSON object; got ", TypeName(doc)));
  }
  return doc;
}

absl::Status ReadTokenIds(absl::string_view field, const Json& array, v1::TokenIds* out) {
  for (size_t i = 0; i < array.size(); ++i) {
    absl::StatusOr<int32_t> id = AsInt32(absl::StrCat(field, "[", i, "]"), array[i]);
    if (!id.ok()) return id.status();
    out->add_ids(*id);
  }
  return absl::OkStatus();
}

// A completions prompt: "text", [ids], ["text"] or [[ids]].
absl::Status ReadPrompt(const Json& prompt, v1::GenerateRequest* request) {
  if (prompt.is_string()) {
    request->set_text(prompt.get<std::string>());
    return absl::OkStatus();
  }
  if (!prompt.is_array()) return WrongType("prompt", "a string or an array", prompt);
  if (prompt.empty()) return absl::InvalidArgumentError("prompt is an empty array");
  if (prompt[0].is_number()) return ReadTokenIds("prompt", prompt, request->mutable_token_ids());
  if (prompt.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt has ", prompt.size(),
        " prompts; kvserve takes one prompt per request (use n for several completions)"));
  }
  if (prompt[0].is_string()) {
    request->set_text(prompt[0].get<std::string>());
    return absl::OkStatus();
  }
  if (prompt[0].is_array()) {
    return ReadTokenIds("prompt[0]", prompt[0], request->mutable_token_ids());
  }
  return WrongType("prompt[0]", "a string or an array of token ids", prompt[0]);
}

// A message's content: a string, or text parts.
absl::StatusOr<std::string> ReadContent(const std::string& field, const Json& content) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) return WrongType(field, "a string or an array of parts", content);
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const std::string part_field = absl::StrCat(field, "[", i, "]");
    const Json& part = content[i];
    if (!part.is_object()) return WrongType(part_field, "an object", part);
    const Json* type = Field(part, "type");
    if (type == nullptr || !type->is_string() || type->get<std::string>() != "text") {
      return absl::InvalidArgumentError(
          absl::StrCat(part_field, ".type must be \"text\"; kvserve's models take text only"));
    }
    const Json* part_text = Field(part, "text");
    if (part_text == nullptr || !part_text->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(part_field, ".text must be a string"));
    }
    text += part_text->get<std::string>();
  }
  return text;
}

absl::Status ReadMessages(const Json& messages, v1::ChatPrompt* chat) {
  if (!messages.is_array()) return WrongType("messages", "an array", messages);
  if (messages.empty()) return absl::InvalidArgumentError("messages is empty");
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string field = absl::StrCat("messages[", i, "]");
    const Json& m = messages[i];
    if (!m.is_object()) return WrongType(field, "an object", m);
    const Json* role = Field(m, "role");
    if (role == nullptr || !role->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".role must be a string"));
    }
    v1::ChatMessage* out = chat->add_messages();
    out->set_role(role->get<std::string>());
    if (const Json* content = Field(m, "content"); content != nullptr) {
      absl::StatusOr<std::string> text = ReadContent(field + ".content", *content);
      if (!text.ok()) return text.status();
      out->set_content(*std::move(text));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadStop(const Json& stop, v1::GenerateRequest* request) {
  if (stop.is_string()) {
    request->add_stop(stop.get<std::string>());
    return absl::OkStatus();
  }
  if (!stop.is_array()) return WrongType("stop", "a string or an array of strings", stop);
  for (size_t i = 0; i < stop.size(); ++i) {
    if (!stop[i].is_string()) return WrongType(absl::StrCat("stop[", i, "]"), "a string", stop[i]);
    request->add_stop(stop[i].get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ReadLogitBias(const Json& bias, v1::SamplingParams* sampling) {
  if (!bias.is_object()) return WrongType("logit_bias", "an object", bias);
  for (const auto& [key, value] : bias.items()) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(key, &id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("logit_bias keys must be token ids; got \"", key, "\""));
    }
    if (!value.is_number())
      return WrongType(absl::StrCat("logit_bias[", key, "]"), "a number", value);
    (*sampling->mutable_logit_bias())[id] = value.get<float>();
  }
  return absl::OkStatus();
}

// Features kvserve does not have: refused, not silently ignored.
absl::Status RefuseUnsupported(const Json& body, Endpoint endpoint) {
  auto set = [&](const char* name) {
    const Json* v = Field(body, name);
    return v != nullptr && !(v->is_boolean() && !v->get<bool>()) &&
           !(v->is_array() && v->empty()) && !(v->is_string() && v->get<std::string>().empty());
  };
  if (endpoint == Endpoint::kCompletions) {
    if (set("echo")) return absl::InvalidArgumentError("echo is not supported");
    if (set("suffix")) return absl::InvalidArgumentError("suffix is not supported");
  } else {
    if (set("tools")) return absl::InvalidArgumentError("tools are not supported");
    if (const Json* format = Field(body, "response_format"); format != nullptr) {
      const Json* type = format->is_object() ? Field(*format, "type") : nullptr;
      if (type == nullptr || !type->is_string() || type->get<std::string>() != "text") {
        return absl::InvalidArgumentError(
            "response_format: only {\"type\": \"text\"} is supported");
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<OpenAiRequest> ParseOpenAiRequest(Endpoint endpoint, absl::string_view body) {
  absl::StatusOr<Json> doc = ParseObject(body);
  if (!doc.ok()) return doc.status();
  const Json& j = *doc;
  if (absl::Status st = RefuseUnsupported(j, endpoint); !st.ok()) return st;

  OpenAiRequest out;
  out.endpoint = endpoint;
  v1::GenerateRequest& r = out.request;
  v1::SamplingParams& s = *r.mutable_sampling();
  // OpenAI's default temperature is 1; kvserve's proto default (absent) is greedy.
  s.set_temperature(1.0f);

  if (endpoint == Endpoint::kCompletions) {
    const Json* prompt = Field(j, "prompt");
    if (prompt == nullptr) return absl::InvalidArgumentError("prompt is required");
    if (absl::Status st = ReadPrompt(*prompt, &r); !st.ok()) return st;
  } else {
    const Json* messages = Field(j, "messages");
    if (messages == nullptr) return absl::InvalidArgumentError("messages is required");
    if (absl::Status st = ReadMessages(*messages, r.mutable_chat()); !st.ok()) return st;
  }

  Reader read(j);
  read.String("model", [&](std::string v) { out.model = std::move(v); });
  read.Bool("stream", [&](bool v) { out.stream = v; });
  if (const Json* options = Field(j, "stream_options"); options != nullptr) {
    if (!options->is_object()) return WrongType("stream_options", "an object", *options);
    Reader(*options).Bool("include_usage", [&](bool v) { out.include_usage = v; });
  }
  std::optional<int32_t> max_tokens;
  read.Int("max_tokens", [&](int32_t v) { max_tokens = v; });
  if (endpoint == Endpoint::kChatCompletions) {
    read.Int("max_completion_tokens", [&](int32_t v) { max_tokens = v; });
  }
  read.Number("temperature", [&](double v) { s.set_temperature(static_cast<float>(v)); });
  read.Number("top_p", [&](double v) { s.set_top_p(static_cast<float>(v)); });
  read.Int("top_k", [&](int32_t v) { s.set_top_k(v == -1 ? 0 : v); });
  read.Number("min_p", [&](double v) { s.set_min_p(static_cast<float>(v)); });
  read.Number("presence_penalty", [&](double v) { s.set_presence_penalty(static_cast<float>(v)); });
  read.Number("frequency_penalty",
              [&](double v) { s.set_frequency_penalty(static_cast<float>(v)); });
  read.Number("repetition_penalty",
              [&](double v) { s.set_repetition_penalty(static_cast<float>(v)); });
  if (const Json* seed = Field(j, "seed"); seed != nullptr && read.status().ok()) {
    if (!seed->is_number_integer()) return WrongType("seed", "an integer", *seed);
    s.set_seed(seed->is_number_unsigned() ? seed->get<uint64_t>()
                                          : static_cast<uint64_t>(seed->get<int64_t>()));
  }
  read.Int("n", [&](int32_t v) { r.set_n(v); });
  read.Int("best_of", [&](int32_t v) {
    if (v != (r.n() == 0 ? 1 : r.n())) {
      read.Fail(absl::InvalidArgumentError("best_of other than n is not supported"));
    }
  });
  read.Int("min_tokens", [&](int32_t v) { r.set_min_tokens(v); });
  read.Bool("ignore_eos", [&](bool v) { r.set_ignore_eos(v); });
  read.Bool("include_stop_str_in_output", [&](bool v) { r.set_include_stop_str_in_output(v); });
  if (endpoint == Endpoint::kCompletions) {
    read.Int("logprobs", [&](int32_t v) {
      out.logprobs = true;
      r.set_logprobs(v);
    });
  } else {
    read.Bool("logprobs", [&](bool v) { out.logprobs = v; });
    int32_t top = 0;
    bool top_given = false;
    read.Int("top_logprobs", [&](int32_t v) {
      top = v;
      top_given = true;
    });
    if (read.status().ok() && top_given && !out.logprobs) {
      return absl::InvalidArgumentError("top_logprobs needs logprobs: true");
    }
    if (out.logprobs) r.set_logprobs(top);
  }
  if (!read.status().ok()) return read.status();
  if (const Json* stop = Field(j, "stop"); stop != nullptr) {
    if (absl::Status st = ReadStop(*stop, &r); !st.ok()) return st;
  }
  if (const Json* bias = Field(j, "logit_bias"); bias != nullptr) {
    if (absl::Status st = ReadLogitBias(*bias, &s); !st.ok()) return st;
  }

  if (max_tokens.has_value()) {
    r.set_max_tokens(*max_tokens);
  } else if (endpoint == Endpoint::kCompletions) {
    r.set_max_tokens(kDefaultCompletionMaxTokens);
  } else {
    out.max_tokens_from_context = true;
  }
  return out;
}

absl::StatusOr<TokenizeBody> ParseTokenizeBody(absl::string_view body) {
  absl::StatusOr<Json> doc = ParseObject(body);
  if (!doc.ok()) return doc.status();
  TokenizeBody out;
  if (const Json* messages = Field(*doc, "messages"); messages != nullptr) {
    out.chat = true;
    if (absl::Status st = ReadMessages(*messages, &out.messages); !st.ok()) return st;
    Reader read(*doc);
    read.Bool("add_generation_prompt", [&](bool v) { out.messages.set_no_generation_prompt(!v); });
    return read.status().ok() ? absl::StatusOr<TokenizeBody>(std::move(out)) : read.status();
  }
  const Json* prompt = Field(*doc, "prompt");
  if (prompt == nullptr) return absl::InvalidArgumentError("prompt (or messages) is required");
  if (!prompt->is_string()) return WrongType("prompt", "a string", *prompt);
  out.text.set_text(prompt->get<std::string>());
  out.text.set_add_special_tokens(true);
  Reader read(*doc);
  read.Bool("add_special_tokens", [&](bool v) { out.text.set_add_special_tokens(v); });
  if (!read.status().ok()) return read.status();
  return out;
}

absl::StatusOr<v1::DetokenizeRequest> ParseDetokenizeBody(absl::string_view body) {
  absl::StatusOr<Json> doc = ParseObject(body);
  if (!doc.ok()) return doc.status();
  const Json* tokens = Field(*doc, "tokens");
  if (tokens == nullptr) return absl::InvalidArgumentError("tokens is required");
  if (!tokens->is_array()) return WrongType("tokens", "an array of token ids", *tokens);
  v1::DetokenizeRequest out;
  v1::TokenIds ids;
  if (absl::Status st = ReadTokenIds("tokens", *tokens, &ids); !st.ok()) return st;
  *out.mutable_token_ids() = ids.ids();
  return out;
}

}  // namespace kvserve::openai
