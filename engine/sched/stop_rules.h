// Stop rules: when a request's generation ends, decided in one place after each sampled token.
//
// A request stops with FinishReason::kStop on any of the model's EOS ids (config.json's
// eos_token_id, a number or a list: ModelConfig::eos_token_id plus more_eos_token_ids), unless the
// request set ignore_eos, and on any of its own stop_token_ids (always, even with ignore_eos);
// else with kLength once max_tokens are generated. The stopping token is part of the output.
//
// Threads: plain values and pure functions; any thread.
#ifndef KVSERVE_ENGINE_SCHED_STOP_RULES_H_
#define KVSERVE_ENGINE_SCHED_STOP_RULES_H_

#include <cstdint>
#include <vector>

#include "engine/model/model_config.h"
#include "engine/sched/finish_reason.h"

namespace kvserve {

struct GenerationParams;

struct StopCriteria {
  std::vector<int32_t> eos_token_ids;   // every EOS id of the model; empty: none
  bool ignore_eos = false;              // keep going past EOS
  std::vector<int32_t> stop_token_ids;  // always stop, even if one of them is EOS and ignore_eos
  int32_t max_tokens = 0;               // <= 0: no limit here (validated requests always have one)
};

// Every EOS id of `config`, the primary one first, each once.
std::vector<int32_t> EosTokenIds(const ModelConfig& config);

// The stop rule of a (validated) request: the model's EOS ids, the request's stop ids and
// max_tokens.
StopCriteria MakeStopCriteria(const GenerationParams& params, const ModelConfig& config);

// Called after `token` was generated; `num_output_tokens` counts the generated tokens including
// `token`. See the file comment.
FinishReason CheckStop(int32_t token, int32_t num_output_tokens, const StopCriteria& criteria);

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_SCHED_STOP_RULES_H_
