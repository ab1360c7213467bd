// Checkpoint loading: a Hugging Face Llama/Qwen2 checkpoint directory → ModelWeights.
//
// The directory holds config.json (see hf_config.h) and the weights in safetensors files:
//   * model.safetensors.index.json present: its "weight_map" (tensor → shard file name) decides
//     which shards are read, and every tensor it lists must be in that shard;
//   * otherwise every *.safetensors file in the directory (usually one model.safetensors).
// Tensors (F32, F16 or BF16) are mapped into ModelWeights' fused layouts. The matrices are stored
// in CheckpointLoadOptions::matrix_dtype, by default the files' own dtype when every matrix is BF16
// (→ bf16) or every one F16 (→ f16), else f32: a 16-bit checkpoint is copied bit for bit and never
// widened, so loading it needs its file size in memory, not twice that. Norms and biases are fp32.
//   model.embed_tokens.weight                         → embedding      [vocab][hidden]
//   model.layers.N.input_layernorm.weight             → attn_norm
//   model.layers.N.self_attn.{q,k,v}_proj.weight      → qkv rows (q, then k, then v)
//   model.layers.N.self_attn.{q,k,v}_proj.bias        → qkv_bias (qwen2 only)
//   model.layers.N.self_attn.o_proj.weight            → o_proj
//   model.layers.N.post_attention_layernorm.weight    → mlp_norm
//   model.layers.N.mlp.{gate,up}_proj.weight          → gate_up rows (gate, then up)
//   model.layers.N.mlp.down_proj.weight               → down_proj
//   model.norm.weight                                 → final_norm
//   lm_head.weight                                    → lm_head (ignored when tied)
// Tensors named *.rotary_emb.inv_freq (old checkpoints) are ignored; any other tensor is an error,
// since it means the checkpoint is not the architecture the config describes.
//
// Errors name the directory's file and the tensor: NOT_FOUND for a missing file or tensor,
// INVALID_ARGUMENT for a wrong shape, an unsupported dtype, or a malformed file (safetensors.h).
// Shards are memory-mapped (read-only, page cache) while loading and unmapped before returning.
//
// Threads: call from one thread (conversion uses the OpenMP pool); the result is a value.
#ifndef KVSERVE_ENGINE_CHECKPOINT_CHECKPOINT_LOADER_H_
#define KVSERVE_ENGINE_CHECKPOINT_CHECKPOINT_LOADER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/checkpoint/hf_config.h"
#include "engine/model/model_weights.h"

namespace kvserve {

struct LoadedCheckpoint {
  ModelWeights weights;  // validated; weights.config.name is the directory's base name
  HfConfig hf_config;
  std::vector<std::string> files;   // the safetensors files read, in order
  std::vector<std::string> dtypes;  // the distinct dtypes converted from, e.g. {"BF16"}
};

struct CheckpointLoadOptions {
  // The dtype of every matrix; unset = the files' own (see above). Narrowing rounds to nearest
  // even.
  std::optional<FloatDtype> matrix_dtype;
};

absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(const std::string& dir,
                                                CheckpointLoadOptions options = {});

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_CHECKPOINT_CHECKPOINT_LOADER_H_
