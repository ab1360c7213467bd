#include "engine/checkpoint/hf_config.h"

#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace kvserve {
namespace {

using Json = nlohmann::json;

// Typed access to the fields of one JSON object; every error names the file and field.
class FieldReader {
 public:
  FieldReader(const Json& object, absl::string_view file) : object_(object), file_(file) {}

  absl::Status Error(absl::string_view field, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(file_, ": field \"", field, "\" ", what));
  }

  // nullptr if absent or null.
  const Json* Find(const char* field) const {
    const auto it = object_.find(field);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }

  absl::StatusOr<int32_t> Int(const char* field, std::optional<int32_t> fallback) const {
    const Json* v = Find(field);
    if (v == nullptr) {
      if (fallback.has_value()) return *fallback;
      return Error(field, "is missing");
    }
    return AsInt(field, *v);
  }

  absl::StatusOr<float> Float(const char* field, float fallback) const {
    const Json* v = Find(field);
    if (v == nullptr) return fallback;
    if (!v->is_number()) return Error(field, absl::StrCat("must be a number, got ", v->dump()));
    return v->get<float>();
  }

  absl::StatusOr<bool> Bool(const char* field, bool fallback) const {
    const Json* v = Find(field);
    if (v == nullptr) return fallback;
    if (!v->is_boolean())
      return Error(field, absl::StrCat("must be true or false, got ", v->dump()));
    return v->get<bool>();
  }

  // "" if absent.
  absl::StatusOr<std::string> String(const char* field) const {
    const Json* v = Find(field);
    if (v == nullptr) return std::string();
    if (!v->is_string()) return Error(field, absl::StrCat("must be a string, got ", v->dump()));
    return v->get<std::string>();
  }

  // An id, a list of ids, or absent/null (empty).
  absl::StatusOr<std::vector<int32_t>> TokenIds(const char* field) const {
    const Json* v = Find(field);
    std::vector<int32_t> ids;
    if (v == nullptr) return ids;
    if (v->is_array()) {
      for (const Json& id : *v) {
        absl::StatusOr<int32_t> one = AsInt(field, id);
        if (!one.ok()) return one.status();
        ids.push_back(*one);
      }
      return ids;
    }
    absl::StatusOr<int32_t> one = AsInt(field, *v);
    if (!one.ok()) return one.status();
    ids.push_back(*one);
    return ids;
  }

 private:
  absl::StatusOr<int32_t> AsInt(const char* field, const Json& v) const {
    if (v.is_number_unsigned() && v.get<uint64_t>() <= std::numeric_limits<int32_t>::max()) {
      return static_cast<int32_t>(v.get<uint64_t>());
    }
    if (v.is_number_integer() && v.get<int64_t>() >= std::numeric_limits<int32_t>::min() &&
        v.get<int64_t>() <= std::numeric_limits<int32_t>::max()) {
      return static_cast<int32_t>(v.get<int64_t>());
    }
    return Error(field, absl::StrCat("must be a 32-bit integer, got ", v.dump()));
  }

  const Json& object_;
  const absl::string_view file_;
};

}  // namespace

absl::StatusOr<HfConfig> ParseHfConfig(absl::string_view json_text, absl::string_view file_name) {
  const Json json =
      Json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(file_name, ": not valid JSON"));
  }
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file_name, ": not a JSON object"));
  }
  const FieldReader f(json, file_name);
  HfConfig out;
  ModelConfig& c = out.model;

  absl::StatusOr<std::string> model_type = f.String("model_type");
  if (!model_type.ok()) return model_type.status();
  out.model_type = *model_type;
  const bool qwen2 = out.model_type == "qwen2";
  if (out.model_type != "llama" && !qwen2) {
    return f.Error("model_type",
                   absl::StrCat("is \"", out.model_type, "\"; supported: \"llama\", \"qwen2\""));
  }

  struct IntField {
    const char* name;
    int32_t* dst;
    std::optional<int32_t> fallback;
  };
  for (const IntField& field :
       {IntField{"vocab_size", &c.vocab_size, std::nullopt},
        {"hidden_size", &c.hidden_size, std::nullopt},
        {"intermediate_size", &c.intermediate_size, std::nullopt},
        {"num_hidden_layers", &c.num_layers, std::nullopt},
        {"num_attention_heads", &c.num_heads, std::nullopt},
        {"max_position_embeddings", &c.max_context, qwen2 ? 32768 : 2048}}) {
    absl::StatusOr<int32_t> v = f.Int(field.name, field.fallback);
    if (!v.ok()) return v.status();
    if (*v <= 0) return f.Error(field.name, absl::StrCat("must be > 0, got ", *v));
    *field.dst = *v;
  }
  absl::StatusOr<int32_t> kv_heads = f.Int("num_key_value_heads", c.num_heads);
  if (!kv_heads.ok()) return kv_heads.status();
  c.num_kv_heads = *kv_heads;
  if (f.Find("head_dim") == nullptr && c.hidden_size % c.num_heads != 0) {
    return f.Error("num_attention_heads",
                   absl::StrCat("(", c.num_heads, ") does not divide hidden_size (", c.hidden_size,
                                ") and there is no head_dim"));
  }
  absl::StatusOr<int32_t> head_dim = f.Int("head_dim", c.hidden_size / c.num_heads);
  if (!head_dim.ok()) return head_dim.status();
  c.head_dim = *head_dim;

  absl::StatusOr<float> theta = f.Float("rope_theta", 10000.0f);
  if (!theta.ok()) return theta.status();
  c.rope_theta = *theta;
  absl::StatusOr<float> eps = f.Float("rms_norm_eps", 1e-6f);
  if (!eps.ok()) return eps.status();
  c.rms_norm_eps = *eps;
  absl::StatusOr<bool> tie = f.Bool("tie_word_embeddings", false);
  if (!tie.ok()) return tie.status();
  c.tie_word_embeddings = *tie;

  for (auto [field, dst] : {std::pair{"bos_token_id", &c.bos_token_id},
                            {"eos_token_id", &c.eos_token_id},
                            {"pad_token_id", &c.pad_token_id}}) {
    absl::StatusOr<std::vector<int32_t>> ids = f.TokenIds(field);
    if (!ids.ok()) return ids.status();
    for (int32_t id : *ids) {
      if (id < 0 || id >= c.vocab_size) {
        return f.Error(field,
                       absl::StrCat("has id ", id, ", outside the vocabulary of ", c.vocab_size));
      }
    }
    *dst = ids->empty() ? -1 : ids->front();
    if (dst == &c.eos_token_id && ids->size() > 1) {
      c.more_eos_token_ids.assign(ids->begin() + 1, ids->end());
    }
  }

  // What the engine does not compute: refuse rather than serve wrong logits.
  absl::StatusOr<std::string> act = f.String("hidden_act");
  if (!act.ok()) return act.status();
  if (!act->empty() && *act != "silu") {
    return f.Error("hidden_act", absl::StrCat("is \"", *act, "\"; only \"silu\" is supported"));
  }
  if (const Json* scaling = f.Find("rope_scaling"); scaling != nullptr) {
    return f.Error("rope_scaling", absl::StrCat("is ", scaling->dump(),
                                                "; RoPE scaling is not supported (null only)"));
  }
  const char* refused_flags[] = {"attention_bias", "mlp_bias", "use_sliding_window"};
  for (const char* flag : refused_flags) {
    absl::StatusOr<bool> on = f.Bool(flag, false);
    if (!on.ok()) return on.status();
    if (*on) return f.Error(flag, "is true, which is not supported");
  }
  out.qkv_bias = qwen2;

  if (absl::Status s = c.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file_name, ": ", s.message()));
  }
  return out;
}

}  // namespace kvserve
