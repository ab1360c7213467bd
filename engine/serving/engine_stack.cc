#include "engine/serving/engine_stack.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/model/model_runner.h"
#include "engine/tokenizer/byte_tokenizer.h"

namespace kvserve {

EngineStack::EngineStack(LoadedModel model, std::unique_ptr<Scheduler> scheduler,
                         int64_t page_bytes, int64_t total_pages)
    : model_(std::move(model)),
      scheduler_(std::move(scheduler)),
      page_bytes_(page_bytes),
      total_pages_(total_pages) {}

absl::StatusOr<EngineStack> EngineStack::Create(LoadedModel model,
                                                const EngineStackOptions& options) {
  if (model.weights == nullptr) return absl::InvalidArgumentError("EngineStack needs weights");
  if (options.threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat("threads must be >= 0; got ", options.threads));
  }
  if (absl::Status s = options.scheduler.Validate(); !s.ok()) return s;
  const ModelConfig& config = model.weights->config;
  if (model.tokenizer == nullptr) {
    absl::StatusOr<ByteTokenizer> bytes = TokenizerForModel(config);
    if (!bytes.ok()) return bytes.status();
    model.tokenizer = std::make_shared<const ByteTokenizer>(*std::move(bytes));
  }

  ModelRunner::Options runner_options;
  runner_options.max_batched_tokens = options.scheduler.max_batched_tokens;
  runner_options.max_num_seqs = options.scheduler.max_num_seqs;
  runner_options.threads = options.threads;
  runner_options.bf16_matmul = options.bf16_matmul;
  runner_options.kv_cache_dtype = options.kv_cache_dtype;
  absl::StatusOr<std::unique_ptr<ModelRunner>> runner =
      ModelRunner::Create(model.weights, runner_options);
  if (!runner.ok()) return runner.status();
  const int64_t page_bytes = (*runner)->KvGeometry(options.scheduler.page_size).page_bytes();
  SchedulerOptions scheduler_options = options.scheduler;
  if (scheduler_options.tokenizer == nullptr) scheduler_options.tokenizer = model.tokenizer;
  absl::StatusOr<std::unique_ptr<Scheduler>> scheduler =
      Scheduler::Create(*std::move(runner), std::move(scheduler_options));
  if (!scheduler.ok()) return scheduler.status();
  const int64_t total_pages = (*scheduler)->stats().total_pages;
  return EngineStack(std::move(model), *std::move(scheduler), page_bytes, total_pages);
}

absl::StatusOr<EngineStack> EngineStack::Load(absl::string_view model,
                                              const EngineStackOptions& options) {
  absl::StatusOr<LoadedModel> loaded = LoadModel(model);
  if (!loaded.ok()) return loaded.status();
  return Create(*std::move(loaded), options);
}

}  // namespace kvserve
