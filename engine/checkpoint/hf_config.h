// HfConfig: a Hugging Face `config.json` (model_type "llama" or "qwen2") → ModelConfig.
//
// Fields read (HF defaults where HF has one): vocab_size, hidden_size, intermediate_size,
// num_hidden_layers, num_attention_heads, num_key_value_heads (= heads), head_dim
// (= hidden_size / heads), max_position_embeddings (llama 2048, qwen2 32768), rope_theta (10000),
// rms_norm_eps (1e-6), tie_word_embeddings (false), bos/eos/pad_token_id (an integer, null, or a
// list: the first entry is used; for eos, the others go to more_eos_token_ids), hidden_act (must be
// "silu").
// Refused, because the engine would compute something else: rope_scaling other than null,
// Llama's attention_bias / mlp_bias, Qwen2's use_sliding_window.
// Qwen2 always has q/k/v biases (HF hard-codes them); Llama has none.
//
// Every error is INVALID_ARGUMENT naming the file and the field.
//
// Threads: pure functions; call them from any thread.
#ifndef KVSERVE_ENGINE_CHECKPOINT_HF_CONFIG_H_
#define KVSERVE_ENGINE_CHECKPOINT_HF_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/model/model_config.h"

namespace kvserve {

struct HfConfig {
  ModelConfig model;       // validated (ModelConfig::Validate)
  std::string model_type;  // "llama" or "qwen2"
  bool qkv_bias = false;   // the checkpoint has q/k/v_proj.bias tensors
};

// `json_text` is the contents of config.json; `file_name` names it in errors. The ModelConfig's
// name is left empty for the caller to fill.
absl::StatusOr<HfConfig> ParseHfConfig(absl::string_view json_text, absl::string_view file_name);

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_CHECKPOINT_HF_CONFIG_H_
