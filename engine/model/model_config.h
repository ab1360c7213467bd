// ModelConfig: the shapes of a Llama/Qwen2-family decoder-only transformer.
//
// A value type; safe to copy and share between threads. `Validate()` is the one place that decides
// whether a set of shapes is usable (positive sizes, heads divisible into KV groups, ...).
#ifndef KVSERVE_ENGINE_MODEL_MODEL_CONFIG_H_
#define KVSERVE_ENGINE_MODEL_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kvserve {

struct ModelConfig {
  std::string name;
  int32_t vocab_size = 0;
  int32_t hidden_size = 0;
  int32_t num_layers = 0;
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;  // <= num_heads and divides it (GQA); == num_heads is MHA
  int32_t head_dim = 0;
  int32_t intermediate_size = 0;  // SwiGLU width
  int32_t max_context = 0;        // positions 0 .. max_context-1
  float rope_theta = 10000.0f;
  float rms_norm_eps = 1e-6f;
  bool tie_word_embeddings = false;  // LM head reuses the token embedding
  int32_t bos_token_id = -1;
  int32_t eos_token_id = -1;
  int32_t pad_token_id = -1;
  // Further ids that end generation like EOS (a checkpoint's config.json may list several, e.g.
  // Llama-3-Instruct's <|eot_id|>); ignore_eos ignores them too.
  std::vector<int32_t> more_eos_token_ids;

  int32_t q_size() const { return num_heads * head_dim; }
  int32_t kv_size() const { return num_kv_heads * head_dim; }
  int32_t group_size() const { return num_heads / num_kv_heads; }

  absl::Status Validate() const;
};

// Embedded presets with a byte-level vocabulary (256 bytes + BOS/EOS/PAD = 259):
//   "tiny"     hidden 512, 8 layers, 8 heads, 2 KV heads, head_dim 64, SwiGLU 1536, context 4096
//   "tiny-mha" as tiny but 8 KV heads (plain multi-head attention)
//   "micro"    hidden 64, 2 layers, 4 heads, 2 KV heads, head_dim 16, SwiGLU 128, context 512;
//              small enough for exhaustive tests against the double-precision reference
absl::StatusOr<ModelConfig> PresetConfig(std::string_view name);
std::vector<std::string> PresetNames();

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_MODEL_MODEL_CONFIG_H_
