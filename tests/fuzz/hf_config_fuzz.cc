// hf_config_fuzz: ParseHfConfig (engine/checkpoint/hf_config.h) on arbitrary config.json bytes.
//
// Properties (the promises of hf_config.h), abort on violation:
//   * refused → INVALID_ARGUMENT whose message names the file;
//   * accepted → model_type is "llama" or "qwen2" and qkv_bias is exactly "is qwen2"; the
//     ModelConfig passes Validate(); every size is positive, heads divide into KV groups, and
//     every BOS/EOS/PAD id (the extra EOS ids too) is -1 or inside the vocabulary.
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "engine/checkpoint/hf_config.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvserve;
  constexpr absl::string_view kFileName = "fuzz/config.json";
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<HfConfig> config = ParseHfConfig(text, kFileName);
  if (!config.ok()) {
    FUZZ_CHECK(config.status().code() == absl::StatusCode::kInvalidArgument, "refused with ",
               config.status().ToString());
    FUZZ_CHECK(absl::StrContains(config.status().message(), kFileName),
               "the error does not name the file: ", config.status().ToString());
    return 0;
  }
  const ModelConfig& c = config->model;
  FUZZ_CHECK(config->model_type == "llama" || config->model_type == "qwen2", "model_type ",
             config->model_type);
  FUZZ_CHECK(config->qkv_bias == (config->model_type == "qwen2"), "qkv_bias ", config->qkv_bias,
             " for ", config->model_type);
  const absl::Status valid = c.Validate();
  FUZZ_CHECK(valid.ok(), "accepted a config Validate() refuses: ", valid.ToString());
  FUZZ_CHECK(c.vocab_size > 0 && c.hidden_size > 0 && c.num_layers > 0 && c.num_heads > 0 &&
                 c.num_kv_heads > 0 && c.head_dim > 0 && c.intermediate_size > 0 &&
                 c.max_context > 0,
             "a non-positive size was accepted");
  FUZZ_CHECK(c.num_heads % c.num_kv_heads == 0, c.num_heads, " heads, ", c.num_kv_heads,
             " KV heads");
  auto in_vocab = [&](int32_t id) { return id == -1 || (id >= 0 && id < c.vocab_size); };
  FUZZ_CHECK(in_vocab(c.bos_token_id) && in_vocab(c.eos_token_id) && in_vocab(c.pad_token_id),
             "special id outside the vocabulary of ", c.vocab_size);
  for (int32_t id : c.more_eos_token_ids) {
    FUZZ_CHECK(id >= 0 && id < c.vocab_size, "extra EOS id ", id, " outside the vocabulary");
  }
  FUZZ_CHECK(c.more_eos_token_ids.empty() || c.eos_token_id >= 0,
             "extra EOS ids without a first one");
  return 0;
}
