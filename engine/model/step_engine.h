// StepEngine: what the scheduler needs from a model: run one batched step over the paged cache and
// return each sequence's next-token logits (and, for sequences that ask, the logits after every
// new token). ModelRunner is the real one; scheduler tests use fakes (tests/support).
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
  // [batch.num_logit_rows][vocab] logits, rows in batch order: sequence i's rows start at
  // batch.sequences[i].logit_offset; a sequence with all_logits has q_len rows (row j = the
  // logits after its new token j, j = q_len - 1 being the last one), any other has 1 row (after
  // its last new token). With no all_logits sequence that is one row per sequence, row i for
  // sequence i. `tokens` holds the new token ids in batch order. The view is valid until the next
  // Step().
  virtual absl::StatusOr<absl::Span<const float>> Step(BatchingKvCache& cache,
                                                       const AttentionBatch& batch,
                                                       absl::Span<const int32_t> tokens) = 0;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_MODEL_STEP_ENGINE_H_
