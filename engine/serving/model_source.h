// Model sources: a `--model` value → the weights and the tokenizer that go with them.
//
// A model value is either
//   * a directory: a Hugging Face Llama/Qwen2 checkpoint (config.json, *.safetensors, and
//     tokenizer.json; see engine/checkpoint/checkpoint_loader.h and
//     engine/tokenizer/bpe_tokenizer.h), or
//   * an embedded preset name ("tiny", "tiny-mha", "micro"): its ModelConfig with deterministic
//     synthetic weights and the byte-level tokenizer.
// Either way with a chat template when there is one: the checkpoint's (chat_template.jinja or
// tokenizer_config.json), the built-in ChatML for presets, or ModelSourceOptions' file.
// Errors start with "--model <value>: " and name the file and tensor or field at fault; the daemon
// exits non-zero with them. Nothing here knows about gRPC: the daemon, the benchmarks and the
// tests load models the same way (see engine_stack.h for what is built on top).
//
// Threads: LoadModel() runs on the calling thread (checkpoint conversion uses the OpenMP pool);
// the weights and tokenizer it returns are immutable and may be shared by any threads.
#ifndef KVSERVE_ENGINE_SERVING_MODEL_SOURCE_H_
#define KVSERVE_ENGINE_SERVING_MODEL_SOURCE_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/model/model_config.h"
#include "engine/model/model_weights.h"
#include "engine/serving/chat_prompter.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvserve {

// A loaded model: a value of shared immutable parts, cheap to copy.
struct LoadedModel {
  std::shared_ptr<const ModelWeights> weights;  // never null when LoadModel() succeeds
  std::shared_ptr<const Tokenizer> tokenizer;   // ids within weights->config.vocab_size
  std::string description;                      // one line for the start-up log
  // The chat template (chat_prompter.h); null when the checkpoint has none and none was given.
  std::shared_ptr<const ChatPrompter> chat;
};

struct ModelSourceOptions {
  // A Jinja chat template file that replaces the model's own (--chat_template); empty: none.
  std::string chat_template_file;
  // The dtype the weight matrices are kept in (--weights_dtype); unset: a checkpoint's own when
  // all its matrices are BF16 or all F16 (CheckpointLoadOptions), else f32; presets are f32.
  std::optional<FloatDtype> weights_dtype;
};

// The model `model` names (see the file comment). NOT_FOUND for a path that is not a directory;
// INVALID_ARGUMENT for a name that is neither a preset nor a directory.
// A bad chat template (unreadable, or using what the interpreter does not support) is an error
// naming its file and line, like any other part of the model.
absl::StatusOr<LoadedModel> LoadModel(absl::string_view model,
                                      const ModelSourceOptions& options = {});

// The byte-level tokenizer for `config`'s special ids (the embedded presets' vocabulary).
// INVALID_ARGUMENT if the model's vocabulary is not byte-level (a checkpoint's own tokenizer).
absl::StatusOr<ByteTokenizer> TokenizerForModel(const ModelConfig& config);

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_SERVING_MODEL_SOURCE_H_
