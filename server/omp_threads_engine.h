// OmpThreadsEngine: a StepEngine decorator that runs every step of the engine it wraps with a
// fixed number of OpenMP threads.
//
// Why: omp_set_num_threads() only changes the calling thread's setting, and a thread created later
// (the scheduler thread) starts from the process default. So the daemon's --threads must be applied
// on the thread that runs the steps; this decorator does it before the first step on each thread.
//
// Threads: as the wrapped engine (the scheduler thread only).
#ifndef KVSERVE_SERVER_OMP_THREADS_ENGINE_H_
#define KVSERVE_SERVER_OMP_THREADS_ENGINE_H_

#include <cstdint>
#include <memory>
#include <thread>

#include "engine/step_engine.h"

namespace kvserve {

class OmpThreadsEngine final : public StepEngine {
 public:
  // `threads` > 0.
  OmpThreadsEngine(std::unique_ptr<StepEngine> engine, int32_t threads)
      : engine_(std::move(engine)), threads_(threads) {}

  const ModelConfig& config() const override { return engine_->config(); }
  PageGeometry KvGeometry(int32_t page_size) const override {
    return engine_->KvGeometry(page_size);
  }
  absl::StatusOr<absl::Span<const float>> Step(BatchingKvCache& cache, const AttentionBatch& batch,
                                               absl::Span<const int32_t> tokens) override;

 private:
  const std::unique_ptr<StepEngine> engine_;
  const int32_t threads_;
  std::thread::id applied_on_;  // the thread whose OpenMP setting was last changed
};

}  // namespace kvserve

#endif  // KVSERVE_SERVER_OMP_THREADS_ENGINE_H_
