// ModelWeights: the parameters of a ModelConfig-shaped transformer in Hugging Face layout (every
// linear weight is [out_features][in_features], row-major). The matrices (embedding, projections,
// MLP, LM head) are WeightMatrix values, all in one dtype (`matrix_dtype()`: f32, bf16 or f16);
// norm gains and biases are always fp32 (they are tiny).
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
#include "engine/model/weight_matrix.h"

namespace kvserve {

struct LayerWeights {
  std::vector<float> attn_norm;  // [hidden]
  WeightMatrix qkv;              // [q_size + 2 kv_size][hidden]
  std::vector<float> qkv_bias;   // [q_size + 2 kv_size] or empty (Qwen2 has q/k/v biases)
  WeightMatrix o_proj;           // [hidden][q_size]
  std::vector<float> mlp_norm;   // [hidden]
  WeightMatrix gate_up;          // [2 intermediate][hidden]
  WeightMatrix down_proj;        // [hidden][intermediate]
};

struct ModelWeights {
  ModelConfig config;
  WeightMatrix embedding;  // [vocab][hidden]
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // [hidden]
  WeightMatrix lm_head;           // [vocab][hidden]; empty when config.tie_word_embeddings

  // The LM head matrix ([vocab][hidden]), whether tied or not.
  const WeightMatrix& lm_head_matrix() const {
    return config.tie_word_embeddings ? embedding : lm_head;
  }
  FloatDtype matrix_dtype() const { return embedding.dtype(); }
  int64_t num_parameters() const;
  // Bytes of all parameters as stored (what they occupy in memory).
  int64_t num_bytes() const;
  // Checks every tensor has the shape the config implies and every matrix the same dtype (what a
  // checkpoint loader must guarantee).
  absl::Status Validate() const;
  // Every matrix converted to `dtype` (rounding to nearest even), one at a time, so the peak extra
  // memory is one matrix, not a second model. No-op when already in `dtype`.
  void ConvertMatrices(FloatDtype dtype);
};

// Deterministic synthetic weights for `config` (fp32; ConvertMatrices for 16-bit): the same
// (config, seed) gives bit-identical weights
// on every machine. Scaled so that activations stay O(1) through the layers and the logits have a
// spread of a few units, so greedy and sampled generations give varied tokens. With a byte
// vocabulary, tokens other than printable ASCII get damped LM-head rows, so output reads as text.
absl::StatusOr<ModelWeights> MakeSyntheticWeights(const ModelConfig& config, uint64_t seed = 2024);

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_MODEL_MODEL_WEIGHTS_H_
