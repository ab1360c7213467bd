#include "server/omp_threads_engine.h"

#include <omp.h>

namespace kvserve {

absl::StatusOr<absl::Span<const float>> OmpThreadsEngine::Step(BatchingKvCache& cache,
                                                               const AttentionBatch& batch,
                                                               absl::Span<const int32_t> tokens) {
  if (applied_on_ != std::this_thread::get_id()) {
    omp_set_num_threads(threads_);
    applied_on_ = std::this_thread::get_id();
  }
  return engine_->Step(cache, batch, tokens);
}

}  // namespace kvserve
