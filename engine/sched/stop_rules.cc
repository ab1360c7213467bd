#include "engine/sched/stop_rules.h"

#include <algorithm>

#include "engine/sched/request_validation.h"

namespace kvserve {

std::vector<int32_t> EosTokenIds(const ModelConfig& config) {
  std::vector<int32_t> ids;
  if (config.eos_token_id >= 0) ids.push_back(config.eos_token_id);
  for (int32_t id : config.more_eos_token_ids) {
    if (id >= 0 && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return ids;
}

StopCriteria MakeStopCriteria(const GenerationParams& params, const ModelConfig& config) {
  return StopCriteria{.eos_token_ids = EosTokenIds(config),
                      .ignore_eos = params.ignore_eos,
                      .stop_token_ids = params.stop_token_ids,
                      .max_tokens = params.max_tokens};
}

FinishReason CheckStop(int32_t token, int32_t num_output_tokens, const StopCriteria& criteria) {
  const auto contains = [token](const std::vector<int32_t>& ids) {
    return std::find(ids.begin(), ids.end(), token) != ids.end();
  };
  if (!criteria.ignore_eos && contains(criteria.eos_token_ids)) return FinishReason::kStop;
  if (contains(criteria.stop_token_ids)) return FinishReason::kStop;
  if (criteria.max_tokens > 0 && num_output_tokens >= criteria.max_tokens) {
    return FinishReason::kLength;
  }
  return FinishReason::kNone;
}

}  // namespace kvserve
