#include "server/proto_convert.h"

#include <algorithm>
#include <string>

namespace kvserve {

GenerationParams ToGenerationParams(const v1::GenerateRequest& request,
                                    const Tokenizer& tokenizer) {
  GenerationParams params;
  switch (request.prompt_case()) {
    case v1::GenerateRequest::kText:
      params.has_prompt = true;
      tokenizer.EncodeTo(request.text(), /*add_bos=*/false, &params.prompt_ids);
      break;
    case v1::GenerateRequest::kTokenIds:
      params.has_prompt = true;
      params.prompt_ids.assign(request.token_ids().ids().begin(), request.token_ids().ids().end());
      break;
    case v1::GenerateRequest::kChat:  // rendered by the service before it gets here
    case v1::GenerateRequest::PROMPT_NOT_SET:
      params.has_prompt = false;
      break;
  }
  params.max_tokens = request.max_tokens();
  if (request.has_sampling()) {
    const v1::SamplingParams& s = request.sampling();
    params.sampling = SamplingParams{.temperature = s.temperature(),
                                     .top_k = s.top_k(),
                                     .top_p = s.top_p(),
                                     .seed = s.seed(),
                                     .min_p = s.min_p(),
                                     .repetition_penalty = s.repetition_penalty(),
                                     .presence_penalty = s.presence_penalty(),
                                     .frequency_penalty = s.frequency_penalty()};
    params.sampling.logit_bias.reserve(s.logit_bias_size());
    for (const auto& [token, bias] : s.logit_bias()) {
      params.sampling.logit_bias.push_back({.token = token, .bias = bias});
    }
    // Map order is unspecified: sort so the first bad entry named is always the same one.
    std::sort(params.sampling.logit_bias.begin(), params.sampling.logit_bias.end(),
              [](const LogitBias& a, const LogitBias& b) { return a.token < b.token; });
  }
  params.stop_token_ids.assign(request.stop_token_ids().begin(), request.stop_token_ids().end());
  params.ignore_eos = request.ignore_eos();
  params.stop_strings.assign(request.stop().begin(), request.stop().end());
  params.include_stop_str_in_output = request.include_stop_str_in_output();
  params.n = request.n();
  params.min_tokens = request.min_tokens();
  if (request.has_logprobs()) params.logprobs = request.logprobs();
  if (request.has_prompt_logprobs()) params.prompt_logprobs = request.prompt_logprobs();
  return params;
}

v1::GenerateRequest ToGenerateRequest(const GenerationParams& params) {
  v1::GenerateRequest request;
  if (params.has_prompt) {
    request.mutable_token_ids()->mutable_ids()->Add(params.prompt_ids.begin(),
                                                    params.prompt_ids.end());
  }
  request.set_max_tokens(params.max_tokens);
  const SamplingParams& s = params.sampling;
  if (s.temperature != 0.0f || s.top_k != 0 || s.top_p != 0.0f || s.seed != 0 || s.min_p != 0.0f ||
      s.repetition_penalty != 0.0f || s.presence_penalty != 0.0f || s.frequency_penalty != 0.0f ||
      !s.logit_bias.empty()) {
    v1::SamplingParams* out = request.mutable_sampling();
    out->set_temperature(s.temperature);
    out->set_top_k(s.top_k);
    out->set_top_p(s.top_p);
    out->set_seed(s.seed);
    out->set_min_p(s.min_p);
    out->set_repetition_penalty(s.repetition_penalty);
    out->set_presence_penalty(s.presence_penalty);
    out->set_frequency_penalty(s.frequency_penalty);
    for (const LogitBias& b : s.logit_bias) (*out->mutable_logit_bias())[b.token] = b.bias;
  }
  request.mutable_stop_token_ids()->Add(params.stop_token_ids.begin(), params.stop_token_ids.end());
  request.set_ignore_eos(params.ignore_eos);
  for (const std::string& stop : params.stop_strings) request.add_stop(stop);
  request.set_include_stop_str_in_output(params.include_stop_str_in_output);
  if (params.n != 1) request.set_n(params.n);
  request.set_min_tokens(params.min_tokens);
  if (params.logprobs.has_value()) request.set_logprobs(*params.logprobs);
  if (params.prompt_logprobs.has_value()) request.set_prompt_logprobs(*params.prompt_logprobs);
  return request;
}

v1::FinishReason ToProto(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone:
      return v1::FINISH_REASON_UNSPECIFIED;
    case FinishReason::kLength:
      return v1::FINISH_REASON_LENGTH;
    case FinishReason::kStop:
      return v1::FINISH_REASON_STOP;
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

FinishReason FromProto(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_LENGTH:
      return FinishReason::kLength;
    case v1::FINISH_REASON_STOP:
      return FinishReason::kStop;
    default:
      return FinishReason::kNone;
  }
}

void ToProto(const Usage& usage, v1::Usage* out) {
  out->set_prompt_tokens(usage.prompt_tokens);
  out->set_completion_tokens(usage.completion_tokens);
  out->set_cached_prompt_tokens(usage.cached_prompt_tokens);
}

Usage FromProto(const v1::Usage& usage) {
  return Usage{.prompt_tokens = usage.prompt_tokens(),
               .completion_tokens = usage.completion_tokens(),
               .cached_prompt_tokens = usage.cached_prompt_tokens()};
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode both follow google.rpc.Code.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::Time FromGrpcDeadline(std::chrono::system_clock::time_point deadline) {
  // gRPC reports "no deadline" as time_point::max(); treat anything absurdly far away the same, so
  // the conversion below cannot overflow.
  const auto far = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::hours(24 * 365 * 230)));
  if (deadline >= far) return absl::InfiniteFuture();
  return absl::FromChrono(deadline);
}

void FillServerInfo(const ModelConfig& config, const SchedulerOptions& options,
                    const SchedulerStats& stats, bool has_chat_template, v1::ServerInfo* info) {
  info->set_model_name(config.name);
  info->set_vocab_size(config.vocab_size);
  info->set_max_context(config.max_context);
  info->set_num_layers(config.num_layers);
  info->set_num_heads(config.num_heads);
  info->set_num_kv_heads(config.num_kv_heads);
  info->set_head_dim(config.head_dim);
  info->set_hidden_size(config.hidden_size);
  info->set_bos_token_id(config.bos_token_id);
  info->set_eos_token_id(config.eos_token_id);

  info->set_page_size(options.page_size);
  info->set_total_pages(stats.total_pages);
  info->set_free_pages(stats.free_pages);
  info->set_cached_pages(stats.cached_pages);
  info->set_shared_pages(stats.shared_pages);

  info->set_running(stats.running);
  info->set_waiting(stats.waiting);
  info->set_max_num_seqs(options.max_num_seqs);
  info->set_max_batched_tokens(options.max_batched_tokens);
  info->set_max_waiting(options.max_waiting);
  info->set_preemptions(stats.preemptions);
  info->set_steps(stats.steps);
  info->set_requests_finished(stats.requests_finished);
  info->set_version(kServerVersion);
  info->set_has_chat_template(has_chat_template);
}

}  // namespace kvserve
