// ModelRunner: one batched forward step of the transformer over the paged KV cache.
//
// A step is any mix of prefill chunks and single-token decodes (an AttentionBatch built by
// BatchingKvCache after Extend). For every token it computes Q/K/V, writes K/V into the request's
// pages, attends over the request's pages with its causal mask (PagedAttention), runs the SwiGLU
// MLP, and finally returns the logits of each sequence's last new token — or of every new token,
// for a sequence flagged all_logits (prompt logprobs): the final norm and the LM head run only on
// the rows asked for.
//
// Linear layers (LinearLayer) run on oneDNN matmul primitives created once at Create() for f32
// weights, or on HalfLinear over the 16-bit matrices in place (the runner keeps `weights`, so no
// second copy exists); attention runs on the paged kernel. Activation buffers are sized once for
// `max_batched_tokens` and `max_num_seqs` and reused every step: no heap churn on the hot path. The
// one exception: a step whose all_logits sequences ask for more logits rows than max_num_seqs grows
// the final-norm and logits buffers to that many rows once (rows × vocab floats: bounded by
// max_batched_tokens, which the scheduler should keep such chunks well under for a large
// vocabulary) and keeps them.
//
// Threads: Step() is called by one thread (the scheduler thread); oneDNN and the attention kernel
// use the OpenMP pool inside it. Not thread-safe.
#ifndef KVSERVE_ENGINE_MODEL_MODEL_RUNNER_H_
#define KVSERVE_ENGINE_MODEL_MODEL_RUNNER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/cache/batching_kv_cache.h"
#include "engine/model/linear_layer.h"
#include "engine/model/model_weights.h"
#include "engine/model/step_engine.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace kvserve {

class ModelRunner final : public StepEngine {
 public:
  struct Options {
    int32_t max_batched_tokens = 2048;  // most tokens in one step
    int32_t max_num_seqs = 256;         // most sequences in one step
    // OpenMP threads for a step (oneDNN and the attention kernel share them); 0 = OpenMP's default.
    // Applied on whichever thread calls Step(): omp_set_num_threads is per calling thread.
    int32_t threads = 0;
    // With f32 weights: run the linear layers (projections, MLP, LM head) in bfloat16 with fp32
    // accumulation (OneDnnLinear::Options::bf16, CPUs with AVX512-BF16). With bf16 or f16 weights
    // (ModelWeights::matrix_dtype) the layers are HalfLinear on the 16-bit matrices in place; then
    // this flag moves bf16 weights' prefill-sized matmuls onto oneDNN's bf16 matmul (in place)
    // where the CPU has AVX512-BF16 and is otherwise ignored. Attention, norms and activations
    // are fp32 either way.
    bool bf16_matmul = false;
    // How the KV cache stores K and V (KvGeometry's kv_dtype): f32, or bf16 / f16 for half the
    // bytes per token; the attention kernels widen on load, accumulation stays fp32.
    FloatDtype kv_cache_dtype = FloatDtype::kF32;
  };

  static absl::StatusOr<std::unique_ptr<ModelRunner>> Create(
      std::shared_ptr<const ModelWeights> weights, Options options);

  // Runs one step. `tokens` holds batch.total_tokens ids in batch order (sequence by sequence,
  // each chunk's tokens in position order). The batch's slots must have been claimed with
  // cache.Extend. Returns [batch.num_logit_rows][vocab] logits (the StepEngine contract: one row
  // per sequence, its last new token, or q_len rows for an all_logits sequence), valid until the
  // next Step(). INVALID_ARGUMENT if the batch's logit_offset / num_logit_rows do not add up.
  absl::StatusOr<absl::Span<const float>> Step(BatchingKvCache& cache, const AttentionBatch& batch,
                                               absl::Span<const int32_t> tokens) override;

  // The page geometry a BatchingKvCache needs to serve this model.
  PageGeometry KvGeometry(int32_t page_size) const override;
  const ModelConfig& config() const override { return weights_->config; }
  const Options& options() const { return options_; }

 private:
  struct Layer {
    LinearLayer qkv, o_proj, gate_up, down_proj;
  };
  ModelRunner(std::shared_ptr<const ModelWeights> weights, Options options);
  absl::Status Validate(const BatchingKvCache& cache, const AttentionBatch& batch,
                        absl::Span<const int32_t> tokens) const;
  void ApplyRope(int32_t num_tokens);
  void GrowLogitRows(int32_t rows);  // last_ and logits_ hold at least `rows` rows

  std::shared_ptr<const ModelWeights> weights_;
  Options options_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  std::vector<Layer> layers_;
  LinearLayer lm_head_;
  std::vector<float> rope_cos_, rope_sin_;  // [max_context][head_dim / 2]

  // Step buffers, sized once.
  std::vector<float> hidden_, normed_, qkv_, attn_, gate_up_, act_, last_, logits_;
  std::vector<int32_t> positions_;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_MODEL_MODEL_RUNNER_H_
