// StepEngine: what the scheduler needs from a model: run one batched step over the paged cache and
// return each sequence's next-token logits. ModelRunner is the real one; scheduler tests use fakes.
//
// Threads: called only from the scheduler thread.
#ifndef KVSERVE_ENGINE_MODEL_STEP_ENGINE_H_
#define KVSERVE_ENGINE_MODEL_STEP_ENGINE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/cache/batching_kv_cache.h"
#include "engine/model/model_config.h"

namespace kvserve {

class StepEngine {
 public:
  virtual ~StepEngine() = default;
  virtual const ModelConfig& config() const = 0;
  // The page geometry a BatchingKvCache needs to serve this engine.
  virtual PageGeometry KvGeometry(int32_t page_size) const = 0;
  // Writes the K/V of the batch's new tokens into `cache` (slots claimed by Extend) and returns
  // [batch.sequences.size()][vocab] logits: each sequence's last new token. `tokens` holds the new
  // token ids in batch order. The view is valid until the next Step().
  virtual absl::StatusOr<absl::Span<const float>> Step(BatchingKvCache& cache,
                                                       const AttentionBatch& batch,
                                                       absl::Span<const int32_t> tokens) = 0;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_MODEL_STEP_ENGINE_H_
