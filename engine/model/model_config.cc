#include "engine/model/model_config.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kvserve {

absl::Status ModelConfig::Validate() const {
  auto positive = [](int32_t v, const char* field) -> absl::Status {
    if (v <= 0) return absl::InvalidArgumentError(absl::StrCat(field, " must be > 0, got ", v));
    return absl::OkStatus();
  };
  for (auto [v, field] : {std::pair{vocab_size, "vocab_size"},
                          {hidden_size, "hidden_size"},
                          {num_layers, "num_layers"},
                          {num_heads, "num_heads"},
                          {num_kv_heads, "num_kv_heads"},
                          {head_dim, "head_dim"},
                          {intermediate_size, "intermediate_size"},
                          {max_context, "max_context"}}) {
    if (absl::Status s = positive(v, field); !s.ok()) return s;
  }
  if (num_kv_heads > num_heads || num_heads % num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_heads (", num_heads, ") must be a multiple of num_kv_heads (", num_kv_heads, ")"));
  }
  if (head_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("head_dim must be even for RoPE, got ", head_dim));
  }
  if (!(rope_theta > 0.0f)) return absl::InvalidArgumentError("rope_theta must be > 0");
  if (!(rms_norm_eps > 0.0f)) return absl::InvalidArgumentError("rms_norm_eps must be > 0");
  for (auto [id, field] :
       {std::pair{bos_token_id, "bos_token_id"}, {eos_token_id, "eos_token_id"}}) {
    if (id >= vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " ", id, " is outside the vocabulary of ", vocab_size));
    }
  }
  for (int32_t id : more_eos_token_ids) {
    if (id < 0 || id >= vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("more_eos_token_ids has ", id, ", outside the vocabulary of ", vocab_size));
    }
  }
  return absl::OkStatus();
}

namespace {

ModelConfig ByteVocabConfig(std::string name) {
  ModelConfig c;
  c.name = std::move(name);
  c.vocab_size = 259;
  c.bos_token_id = 256;
  c.eos_token_id = 257;
  c.pad_token_id = 258;
  c.rope_theta = 10000.0f;
  c.rms_norm_eps = 1e-5f;
  return c;
}

}  // namespace

absl::StatusOr<ModelConfig> PresetConfig(std::string_view name) {
  if (name == "tiny" || name == "tiny-mha") {
    ModelConfig c = ByteVocabConfig(std::string(name));
    c.hidden_size = 512;
    c.num_layers = 8;
    c.num_heads = 8;
    c.num_kv_heads = name == "tiny" ? 2 : 8;
    c.head_dim = 64;
    c.intermediate_size = 1536;
    c.max_context = 4096;
    return c;
  }
  if (name == "micro") {
    ModelConfig c = ByteVocabConfig("micro");
    c.hidden_size = 64;
    c.num_layers = 2;
    c.num_heads = 4;
    c.num_kv_heads = 2;
    c.head_dim = 16;
    c.intermediate_size = 128;
    c.max_context = 512;
    return c;
  }
  return absl::NotFoundError(absl::StrCat("unknown model preset '", std::string(name),
                                          "' (known: ", absl::StrJoin(PresetNames(), ", "), ")"));
}

std::vector<std::string> PresetNames() { return {"tiny", "tiny-mha", "micro"}; }

}  // namespace kvserve
