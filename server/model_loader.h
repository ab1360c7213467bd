// Model loading for the daemon: a `--model` value → weights, tokenizer, and the StepEngine the
// scheduler runs.
//
// `--model` is either
//   * a directory: a Hugging Face Llama/Qwen2 checkpoint (config.json, *.safetensors, and
//     tokenizer.json; see engine/checkpoint/checkpoint_loader.h and engine/tokenizer/bpe_tokenizer.h), or
//   * an embedded preset name ("tiny", "tiny-mha", "micro"): its ModelConfig with deterministic
//     synthetic weights and the byte-level tokenizer.
// Errors name the file and tensor or field at fault; the daemon exits non-zero with them.
//
// Threads: call once at start-up; the returned engine belongs to the scheduler thread; weights
// and tokenizer are immutable and shared.
#ifndef KVSERVE_SERVER_MODEL_LOADER_H_
#define KVSERVE_SERVER_MODEL_LOADER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/model/model_runner.h"
#include "engine/model/model_weights.h"
#include "engine/model/step_engine.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvserve {

struct LoadedModel {
  std::shared_ptr<const ModelWeights> weights;
  std::shared_ptr<const Tokenizer> tokenizer;  // ids within weights->config.vocab_size
  std::string description;                     // one line for the start-up log
};

// The model `model` names (see the file comment).
absl::StatusOr<LoadedModel> LoadModel(absl::string_view model);

// LoadModel(model)'s weights.
absl::StatusOr<std::shared_ptr<const ModelWeights>> LoadModelWeights(absl::string_view model);

// A ModelRunner over `weights`. If `threads` > 0, every step runs with that many OpenMP threads
// (oneDNN and the attention kernel); 0 leaves OpenMP's default (all cores).
absl::StatusOr<std::unique_ptr<StepEngine>> MakeModelEngine(
    std::shared_ptr<const ModelWeights> weights, ModelRunner::Options options, int32_t threads);

}  // namespace kvserve

#endif  // KVSERVE_SERVER_MODEL_LOADER_H_
