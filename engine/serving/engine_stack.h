// EngineStack: the one way to build the engine that serves a model: LoadedModel → ModelRunner →
// Scheduler, with the scheduler's observer (the daemon's metrics) attached.
//
//   EngineStack::Load(model, options)    LoadModel(model) (model_source.h), then Create()
//   EngineStack::Create(model, options)  over a model already loaded (shared weights, so one
//                                        load can feed several stacks, as the benchmarks do)
//
// The runner's step budget is the scheduler's (SchedulerOptions::max_batched_tokens and
// max_num_seqs), so the two cannot disagree. Create() checks the options first
// (SchedulerOptions::Validate(), before any memory is allocated), then allocates the KV page pool
// (SchedulerOptions::kv_cache_bytes or num_pages) once, for the life of the stack.
//
// The scheduler is returned stopped: the owner calls scheduler().Start() (KvServer::Start does,
// tests and benchmarks driving it in-process do it themselves) and Shutdown() or destroys it.
// server/ puts the gRPC service and the metrics endpoint on top (kv_server.h); nothing here
// knows about gRPC.
//
// Ownership and threads: the stack owns the scheduler (which owns the runner and the cache) and
// shares the weights and tokenizer. Create()/Load() on one thread; the scheduler's own contract
// (scheduler.h) holds for scheduler(); every other accessor is const and safe from any thread.
// Movable, not copyable; a moved-from stack may only be destroyed or assigned to.
#ifndef KVSERVE_ENGINE_SERVING_ENGINE_STACK_H_
#define KVSERVE_ENGINE_SERVING_ENGINE_STACK_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/model/model_config.h"
#include "engine/sched/scheduler.h"
#include "engine/serving/model_source.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvserve {

struct EngineStackOptions {
  // Cache geometry and size, batch limits, prefix caching, the prompt bound and the observer
  // (nullptr: none). max_batched_tokens and max_num_seqs are also the runner's step budget.
  SchedulerOptions scheduler;
  // OpenMP threads for each model step (ModelRunner::Options::threads); 0 = OpenMP's default
  // (all cores). Must be >= 0.
  int32_t threads = 0;
  // bfloat16 matmuls in the linear layers (ModelRunner::Options::bf16_matmul).
  bool bf16_matmul = false;
  // The KV cache's element type (ModelRunner::Options::kv_cache_dtype): 16-bit holds twice the
  // tokens in the same kv_cache_bytes.
  FloatDtype kv_cache_dtype = FloatDtype::kF32;
};

class EngineStack {
 public:
  // INVALID_ARGUMENT for a model without weights, negative threads or options that do not
  // validate; whatever ModelRunner::Create or Scheduler::Create refuse. A model without a
  // tokenizer gets the byte-level one (TokenizerForModel), or INVALID_ARGUMENT if its vocabulary
  // is not byte-level. (LoadModel() checks that a checkpoint's tokenizer fits its vocabulary.)
  static absl::StatusOr<EngineStack> Create(LoadedModel model, const EngineStackOptions& options);
  // LoadModel(model)'s errors, then Create()'s.
  static absl::StatusOr<EngineStack> Load(absl::string_view model,
                                          const EngineStackOptions& options);

  EngineStack(EngineStack&&) = default;
  EngineStack& operator=(EngineStack&&) = default;
  EngineStack(const EngineStack&) = delete;
  EngineStack& operator=(const EngineStack&) = delete;

  Scheduler& scheduler() { return *scheduler_; }
  const Scheduler& scheduler() const { return *scheduler_; }
  // What Create() was given (the model's tokenizer filled in if it had none).
  const LoadedModel& model() const { return model_; }
  const ModelConfig& config() const { return model_.weights->config; }
  const std::shared_ptr<const Tokenizer>& tokenizer() const { return model_.tokenizer; }
  const std::shared_ptr<const ChatPrompter>& chat() const { return model_.chat; }  // may be null
  // Bytes of one KV page (K and V of every layer and KV head for page_size tokens), and of the
  // whole pool.
  int64_t page_bytes() const { return page_bytes_; }
  int64_t kv_cache_bytes() const { return page_bytes_ * total_pages_; }
  int64_t total_pages() const { return total_pages_; }

 private:
  EngineStack(LoadedModel model, std::unique_ptr<Scheduler> scheduler, int64_t page_bytes,
              int64_t total_pages);

  LoadedModel model_;
  std::unique_ptr<Scheduler> scheduler_;  // never null, except when moved from
  int64_t page_bytes_ = 0;
  int64_t total_pages_ = 0;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_SERVING_ENGINE_STACK_H_
