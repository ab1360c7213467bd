// ModelWeights: the parameters of a ModelConfig-shaped transformer, fp32, in Hugging Face layout
// (every linear weight is [out_features][in_features], row-major).
//
// Fused layouts, so one matmul serves several projections:
//   qkv     [q_size + 2 * kv_size][hidden]  = rows of q_proj, then k_proj, then v_proj
//   gate_up [2 * intermediate][hidden]      = rows of gate_proj, then up_proj
// RoPE uses the Hugging Face "rotate half" pairing (dimension i with i + head_dim/2).
//
// Immutable after construction; share it between threads freely (std::shared_ptr<const>).
#ifndef KVSERVE_ENGINE_MODEL_MODEL_WEIGHTS_H_
#define KVSERVE_ENGINE_MODEL_MODEL_WEIGHTS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/model_config.h"

namespace kvserve {

struct LayerWeights {
  std::vector<float> attn_norm;  // [hidden]
  std::vector<float> qkv;        // [q_size + 2 kv_size][hidden]
  std::vector<float> qkv_bias;   // [q_size + 2 kv_size] or empty (Qwen2 has q/k/v biases)
  std::vector<float> o_proj;     // [hidden][q_size]
  std::vector<float> mlp_norm;   // [hidden]
  std::vector<float> gate_up;    // [2 intermediate][hidden]
  std::vector<float> down_proj;  // [hidden][intermediate]
};

struct ModelWeights {
  ModelConfig config;
  std::vector<float> embedding;  // [vocab][hidden]
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // [hidden]
  std::vector<float> lm_head;     // [vocab][hidden]; empty when config.tie_word_embeddings

  // The LM head matrix ([vocab][hidden]), whether tied or not.
  const float* lm_head_data() const {
    return config.tie_word_embeddings ? embedding.data() : lm_head.data();
  }
  int64_t num_parameters() const;
  // Checks every tensor has the size the config implies (what a checkpoint loader must guarantee).
  absl::Status Validate() const;
};

// Deterministic synthetic weights for `config`: the same (config, seed) gives bit-identical weights
// on every machine. Scaled so that activations stay O(1) through the layers and the logits have a
// spread of a few units, so greedy and sampled generations give varied tokens. With a byte
// vocabulary, tokens other than printable ASCII get damped LM-head rows, so output reads as text.
absl::StatusOr<ModelWeights> MakeSyntheticWeights(const ModelConfig& config, uint64_t seed = 2024);

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_MODEL_MODEL_WEIGHTS_H_
