#include "server/model_loader.h"

#include <sys/stat.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/model_config.h"

namespace kvserve {
namespace {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ModelWeights>> LoadModelWeights(absl::string_view model) {
  const std::string name(model);
  const std::string presets = absl::StrJoin(PresetNames(), ", ");
  if (IsDirectory(name) || name.find('/') != std::string::npos) {
    return absl::FailedPreconditionError(
        absl::StrCat("--model ", name,
                     ": loading a model from a directory is not supported yet; use one of the "
                     "embedded presets: ",
                     presets));
  }
  absl::StatusOr<ModelConfig> config = PresetConfig(name);
  if (!config.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--model ", name, ": ", config.status().message()));
  }
  absl::StatusOr<ModelWeights> weights = MakeSyntheticWeights(*config);
  if (!weights.ok()) return weights.status();
  return std::make_shared<const ModelWeights>(*std::move(weights));
}

absl::StatusOr<std::unique_ptr<StepEngine>> MakeModelEngine(
    std::shared_ptr<const ModelWeights> weights, ModelRunner::Options options, int32_t threads) {
  options.threads = threads;
  absl::StatusOr<std::unique_ptr<ModelRunner>> runner =
      ModelRunner::Create(std::move(weights), options);
  if (!runner.ok()) return runner.status();
  return std::unique_ptr<StepEngine>(*std::move(runner));
}

}  // namespace kvserve
