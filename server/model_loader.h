// Model loading for the daemon: a `--model` value → the StepEngine the scheduler runs.
//
// Today `--model` names an embedded preset ("tiny", "tiny-mha", "micro"): its ModelConfig with
// deterministic synthetic weights. A directory (a Hugging Face checkpoint) is refused with a clear
// FAILED_PRECONDITION until the checkpoint loader lands.
//
// Threads: call once at start-up; the returned engine belongs to the scheduler thread.
#ifndef KVSERVE_SERVER_MODEL_LOADER_H_
#define KVSERVE_SERVER_MODEL_LOADER_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/model_runner.h"
#include "engine/model_weights.h"
#include "engine/step_engine.h"

namespace kvserve {

// The weights for `model`: a preset name; anything else is an error naming the presets.
absl::StatusOr<std::shared_ptr<const ModelWeights>> LoadModelWeights(absl::string_view model);

// A ModelRunner over `weights`. If `threads` > 0, every step runs with that many OpenMP threads
// (oneDNN and the attention kernel); 0 leaves OpenMP's default (all cores).
absl::StatusOr<std::unique_ptr<StepEngine>> MakeModelEngine(
    std::shared_ptr<const ModelWeights> weights, ModelRunner::Options options, int32_t threads);

}  // namespace kvserve

#endif  // KVSERVE_SERVER_MODEL_LOADER_H_
