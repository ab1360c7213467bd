// Proto ⇄ engine translations for the Generation service. engine/ never sees a proto; this is the
// only place that knows both sides.
//
//   GenerateRequest  → GenerationParams  (text prompts tokenized, no validation: the scheduler's
//                                          Submit validates and names the bad field)
//   FinishReason, Usage ⇄ their proto enums/messages (both directions, so they round-trip)
//   absl::Status     → grpc::Status      (the canonical codes are numerically the same)
//   ModelConfig + SchedulerStats + SchedulerOptions → ServerInfo
//
// Threads: pure functions over values; call them from any thread.
#ifndef KVSERVE_SERVER_PROTO_CONVERT_H_
#define KVSERVE_SERVER_PROTO_CONVERT_H_

#include <chrono>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/model/model_config.h"
#include "engine/sched/finish_reason.h"
#include "engine/sched/request_validation.h"
#include "engine/sched/scheduler.h"
#include "engine/sched/token_sink.h"
#include "engine/tokenizer/tokenizer.h"
#include "grpcpp/support/status.h"
#include "kvserve/v1/kvserve.pb.h"

namespace kvserve {

// The server's version string, reported in ServerInfo.version.
inline constexpr char kServerVersion[] = "kvserve 0.1.0";

// Fills GenerationParams from a request. A text prompt is encoded by `tokenizer` (no BOS: a prompt
// that wants one spells it, e.g. "<|begin_of_text|>", or sends token_ids);
// token_ids are copied as given; an unset prompt oneof gives has_prompt = false. Sampling fields
// are copied unchanged (seed 0 stays 0: the scheduler picks a seed for it).
GenerationParams ToGenerationParams(const v1::GenerateRequest& request, const Tokenizer& tokenizer);

// The inverse for token-id prompts (text prompts come back as token_ids): for tests and clients.
v1::GenerateRequest ToGenerateRequest(const GenerationParams& params);

v1::FinishReason ToProto(FinishReason reason);
FinishReason FromProto(v1::FinishReason reason);
void ToProto(const Usage& usage, v1::Usage* out);
Usage FromProto(const v1::Usage& usage);

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// A gRPC deadline (std::chrono::system_clock; time_point::max() or anything past year 2200 means
// "none") as an absl::Time; InfiniteFuture when there is none.
absl::Time FromGrpcDeadline(std::chrono::system_clock::time_point deadline);

// Model shapes, cache and scheduler figures. cached_pages is 0 until there is a prefix cache.
void FillServerInfo(const ModelConfig& config, const SchedulerOptions& options,
                    const SchedulerStats& stats, bool has_chat_template, v1::ServerInfo* info);

}  // namespace kvserve

#endif  // KVSERVE_SERVER_PROTO_CONVERT_H_
