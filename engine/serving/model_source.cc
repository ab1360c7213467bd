#include "engine/serving/model_source.h"

#include <sys/stat.h>

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/chat/chat_template_source.h"
#include "engine/checkpoint/checkpoint_loader.h"
#include "engine/checkpoint/mapped_file.h"
#include "engine/model/model_config.h"
#include "engine/tokenizer/bpe_tokenizer.h"

namespace kvserve {
namespace {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

absl::StatusOr<LoadedModel> LoadCheckpointDir(const std::string& dir,
                                              std::optional<FloatDtype> weights_dtype) {
  absl::StatusOr<LoadedCheckpoint> checkpoint =
      LoadCheckpoint(dir, {.matrix_dtype = weights_dtype});
  if (!checkpoint.ok()) return checkpoint.status();
  const ModelConfig& config = checkpoint->weights.config;

  const std::string tokenizer_path = absl::StrCat(dir, "/tokenizer.json");
  absl::StatusOr<std::string> tokenizer_json = ReadFileToString(tokenizer_path);
  if (!tokenizer_json.ok()) return tokenizer_json.status();
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> tokenizer = BpeTokenizer::Create(
      *tokenizer_json, tokenizer_path,
      {.bos_token_id = config.bos_token_id, .eos_token_id = config.eos_token_id});
  if (!tokenizer.ok()) return tokenizer.status();
  if ((*tokenizer)->vocab_size() > config.vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(tokenizer_path, ": has ids up to ", (*tokenizer)->vocab_size() - 1,
                     ", outside the model's vocab_size of ", config.vocab_size, " (config.json)"));
  }

  LoadedModel model;
  model.tokenizer = std::shared_ptr<const Tokenizer>(*std::move(tokenizer));
  absl::StatusOr<std::optional<ChatTemplateSource>> chat = LoadChatTemplate(dir);
  if (!chat.ok()) return chat.status();
  if (chat->has_value()) {
    absl::StatusOr<std::shared_ptr<const ChatPrompter>> prompter =
        ChatPrompter::Create(**chat, model.tokenizer);
    if (!prompter.ok()) return prompter.status();
    model.chat = *std::move(prompter);
  }
  model.description = absl::StrCat(
      "checkpoint ", dir, " (", checkpoint->hf_config.model_type, "; ",
      absl::StrJoin(checkpoint->dtypes, "+"), " weights as ",
      FloatDtypeName(checkpoint->weights.matrix_dtype()), " (",
      checkpoint->weights.num_bytes() >> 20, " MiB) from ", checkpoint->files.size(),
      " safetensors file(s); ", config.num_layers, " layers, hidden ", config.hidden_size, ", ",
      config.num_heads, " heads / ", config.num_kv_heads, " KV heads, vocab ", config.vocab_size,
      ", context ", config.max_context, "; tokenizer: ", model.tokenizer->Describe(), ")");
  model.weights = std::make_shared<const ModelWeights>(std::move(checkpoint->weights));
  return model;
}

absl::StatusOr<LoadedModel> LoadPreset(const std::string& name,
                                       std::optional<FloatDtype> weights_dtype) {
  absl::StatusOr<ModelConfig> config = PresetConfig(name);
  if (!config.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--model ", name, ": ", config.status().message(), ", nor a checkpoint directory"));
  }
  absl::StatusOr<ModelWeights> weights = MakeSyntheticWeights(*config);
  if (!weights.ok()) return weights.status();
  if (weights_dtype.has_value()) weights->ConvertMatrices(*weights_dtype);
  absl::StatusOr<ByteTokenizer> tokenizer = TokenizerForModel(*config);
  if (!tokenizer.ok()) return tokenizer.status();
  LoadedModel model;
  model.description = absl::StrCat(
      "preset ", name, " (synthetic ", FloatDtypeName(weights->matrix_dtype()), " weights; ",
      config->num_layers, " layers, hidden ", config->hidden_size, ", vocab ", config->vocab_size,
      ", context ", config->max_context, "; tokenizer: ", tokenizer->Describe(), ")");
  model.weights = std::make_shared<const ModelWeights>(*std::move(weights));
  model.tokenizer = std::make_shared<const ByteTokenizer>(*std::move(tokenizer));
  absl::StatusOr<std::shared_ptr<const ChatPrompter>> chat = ChatPrompter::Create(
      ChatTemplateSource{.text = std::string(DefaultChatMlTemplate()),
                         .origin = "the built-in ChatML template",
                         .tokens = {.eos_token = std::string(kChatMlEndOfTurn)}},
      model.tokenizer);
  if (!chat.ok()) return chat.status();
  model.chat = *std::move(chat);
  return model;
}

// The template of `file` with the model's own special tokens (a checkpoint's, or ChatML's).
absl::Status ReplaceChatTemplate(const std::string& model_dir, const std::string& file,
                                 LoadedModel& model) {
  absl::StatusOr<std::string> text = ReadChatTemplateFile(file);
  if (!text.ok()) return text.status();
  ChatSpecialTokens tokens = {.eos_token = std::string(kChatMlEndOfTurn)};
  if (!model_dir.empty()) {
    absl::StatusOr<ChatSpecialTokens> own = LoadChatSpecialTokens(model_dir);
    if (!own.ok()) return own.status();
    tokens = *std::move(own);
  }
  absl::StatusOr<std::shared_ptr<const ChatPrompter>> chat = ChatPrompter::Create(
      ChatTemplateSource{.text = *std::move(text), .origin = file, .tokens = std::move(tokens)},
      model.tokenizer);
  if (!chat.ok()) return chat.status();
  model.chat = *std::move(chat);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LoadedModel> LoadModel(absl::string_view model, const ModelSourceOptions& options) {
  std::string name(model);
  const bool dir = IsDirectory(name);
  absl::StatusOr<LoadedModel> loaded;
  if (dir) {
    while (name.size() > 1 && name.back() == '/') name.pop_back();  // "dir/" names files as "dir"
    loaded = LoadCheckpointDir(name, options.weights_dtype);
    if (!loaded.ok()) {
      return absl::Status(loaded.status().code(),
                          absl::StrCat("--model ", name, ": ", loaded.status().message()));
    }
  } else if (name.find('/') != std::string::npos) {
    return absl::NotFoundError(absl::StrCat("--model ", name, ": no such directory (presets: ",
                                            absl::StrJoin(PresetNames(), ", "), ")"));
  } else {
    loaded = LoadPreset(name, options.weights_dtype);
    if (!loaded.ok()) return loaded.status();
  }
  if (!options.chat_template_file.empty()) {
    absl::Status replaced =
        ReplaceChatTemplate(dir ? name : std::string(), options.chat_template_file, *loaded);
    if (!replaced.ok()) {
      return absl::Status(
          replaced.code(),
          absl::StrCat("--chat_template ", options.chat_template_file, ": ", replaced.message()));
    }
  }
  return loaded;
}

absl::StatusOr<ByteTokenizer> TokenizerForModel(const ModelConfig& config) {
  ByteVocab vocab;
  vocab.bos_token_id = config.bos_token_id;
  vocab.eos_token_id = config.eos_token_id;
  vocab.pad_token_id = config.pad_token_id;
  vocab.vocab_size = config.vocab_size;
  absl::StatusOr<ByteTokenizer> tokenizer = ByteTokenizer::Create(vocab);
  if (!tokenizer.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", config.name, "' has no byte-level vocabulary: ", tokenizer.status().message()));
  }
  return tokenizer;
}

}  // namespace kvserve
