#include "server/proto_convert.h"

#include <chrono>
#include <cmath>
#include <vector>

#include "absl/status/status.h"
#include "engine/model/model_config.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;

TEST(ProtoConvertTest, TextPromptIsOneIdPerByteWithoutBos) {
  v1::GenerateRequest request;
  request.set_text("hi\xC3\xA9");  // "hié": 4 bytes
  request.set_max_tokens(7);
  const GenerationParams params = ToGenerationParams(request, ByteTokenizer());
  EXPECT_TRUE(params.has_prompt);
  EXPECT_THAT(params.prompt_ids, ElementsAre('h', 'i', 0xC3, 0xA9));
  EXPECT_EQ(params.max_tokens, 7);
}

// A vocabulary with one id per word (space-separated), to show text goes through the tokenizer.
class WordTokenizer final : public Tokenizer {
 public:
  void EncodeTo(absl::string_view text, bool add_bos, std::vector<int32_t>* ids) const override {
    if (add_bos) ids->push_back(bos_token_id());
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] != ' ' && (i == 0 || text[i - 1] == ' ')) ids->push_back(100 + ids->size());
    }
  }
  void AppendTokenBytes(int32_t, std::string*) const override {}
  bool IsSpecial(int32_t id) const override { return id == 0; }
  int32_t vocab_size() const override { return 1000; }
  int32_t bos_token_id() const override { return 0; }
  int32_t eos_token_id() const override { return 0; }
  std::string Describe() const override { return "words"; }
};

TEST(ProtoConvertTest, TextPromptGoesThroughTheModelsTokenizerWithoutBos) {
  v1::GenerateRequest request;
  request.set_text("three short words");
  const GenerationParams params = ToGenerationParams(request, WordTokenizer());
  EXPECT_THAT(params.prompt_ids, ElementsAre(100, 101, 102));
}

TEST(ProtoConvertTest, EmptyTextIsAPresentButEmptyPrompt) {
  v1::GenerateRequest request;
  request.set_text("");
  const GenerationParams params = ToGenerationParams(request, ByteTokenizer());
  EXPECT_TRUE(params.has_prompt);
  EXPECT_TRUE(params.prompt_ids.empty());
}

TEST(ProtoConvertTest, MissingPromptOneofIsReported) {
  v1::GenerateRequest request;
  request.set_max_tokens(3);
  const GenerationParams params = ToGenerationParams(request, ByteTokenizer());
  EXPECT_FALSE(params.has_prompt);
  EXPECT_TRUE(params.prompt_ids.empty());
}

TEST(ProtoConvertTest, TokenIdsAndEveryFieldAreCopiedAsGiven) {
  v1::GenerateRequest request;
  request.mutable_token_ids()->add_ids(5);
  request.mutable_token_ids()->add_ids(-1);  // not validated here
  request.mutable_token_ids()->add_ids(300);
  request.set_max_tokens(9);
  request.mutable_sampling()->set_temperature(0.7f);
  request.mutable_sampling()->set_top_k(40);
  request.mutable_sampling()->set_top_p(0.9f);
  request.mutable_sampling()->set_seed(123456789012345ULL);
  request.add_stop_token_ids(10);
  request.add_stop_token_ids(257);
  request.set_ignore_eos(true);
  const GenerationParams params = ToGenerationParams(request, ByteTokenizer());
  EXPECT_TRUE(params.has_prompt);
  EXPECT_THAT(params.prompt_ids, ElementsAre(5, -1, 300));
  EXPECT_EQ(params.max_tokens, 9);
  EXPECT_FLOAT_EQ(params.sampling.temperature, 0.7f);
  EXPECT_EQ(params.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(params.sampling.top_p, 0.9f);
  EXPECT_EQ(params.sampling.seed, 123456789012345ULL);
  EXPECT_THAT(params.stop_token_ids, ElementsAre(10, 257));
  EXPECT_TRUE(params.ignore_eos);
}

TEST(ProtoConvertTest, AbsentSamplingIsGreedy) {
  v1::GenerateRequest request;
  request.mutable_token_ids()->add_ids(1);
  const GenerationParams params = ToGenerationParams(request, ByteTokenizer());
  EXPECT_TRUE(params.sampling.greedy());
  EXPECT_EQ(params.sampling.seed, 0u);
}

TEST(ProtoConvertTest, TokenIdRequestsRoundTrip) {
  v1::GenerateRequest request;
  request.mutable_token_ids()->add_ids(1);
  request.mutable_token_ids()->add_ids(258);
  request.set_max_tokens(4);
  request.mutable_sampling()->set_temperature(1.5f);
  request.mutable_sampling()->set_seed(7);
  request.add_stop_token_ids(3);
  request.set_ignore_eos(true);
  const v1::GenerateRequest back = ToGenerateRequest(ToGenerationParams(request, ByteTokenizer()));
  EXPECT_TRUE(MessageDifferencer::Equals(request, back)) << back.DebugString();

  v1::GenerateRequest greedy;
  greedy.mutable_token_ids()->add_ids(9);
  greedy.set_max_tokens(1);
  const v1::GenerateRequest greedy_back =
      ToGenerateRequest(ToGenerationParams(greedy, ByteTokenizer()));
  EXPECT_FALSE(greedy_back.has_sampling());
  EXPECT_TRUE(MessageDifferencer::Equals(greedy, greedy_back)) << greedy_back.DebugString();
}

TEST(ProtoConvertTest, FinishReasonRoundTrips) {
  for (FinishReason reason : {FinishReason::kNone, FinishReason::kLength, FinishReason::kStop}) {
    EXPECT_EQ(FromProto(ToProto(reason)), reason) << FinishReasonName(reason);
  }
  EXPECT_EQ(ToProto(FinishReason::kLength), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(ToProto(FinishReason::kStop), v1::FINISH_REASON_STOP);
  EXPECT_EQ(ToProto(FinishReason::kNone), v1::FINISH_REASON_UNSPECIFIED);
}

TEST(ProtoConvertTest, UsageRoundTrips) {
  const Usage usage{.prompt_tokens = 5, .completion_tokens = 16, .cached_prompt_tokens = 2};
  v1::Usage proto;
  ToProto(usage, &proto);
  EXPECT_EQ(proto.prompt_tokens(), 5);
  EXPECT_EQ(proto.completion_tokens(), 16);
  EXPECT_EQ(proto.cached_prompt_tokens(), 2);
  const Usage back = FromProto(proto);
  EXPECT_EQ(back.prompt_tokens, usage.prompt_tokens);
  EXPECT_EQ(back.completion_tokens, usage.completion_tokens);
  EXPECT_EQ(back.cached_prompt_tokens, usage.cached_prompt_tokens);
}

TEST(ProtoConvertTest, StatusCodesAndMessagesSurvive) {
  const std::vector<absl::Status> statuses = {
      absl::InvalidArgumentError("max_tokens must be > 0"),
      absl::ResourceExhaustedError("queue full"),
      absl::DeadlineExceededError("late"),
      absl::CancelledError("cancelled"),
      absl::UnavailableError("server is shutting down"),
      absl::InternalError("engine step failed"),
  };
  for (const absl::Status& status : statuses) {
    const grpc::Status grpc_status = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(grpc_status.error_code()), static_cast<int>(status.code()));
    EXPECT_EQ(grpc_status.error_message(), status.message());
    EXPECT_EQ(FromGrpcStatus(grpc_status), status);
  }
  EXPECT_EQ(ToGrpcStatus(absl::InvalidArgumentError("x")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ToGrpcStatus(absl::UnavailableError("x")).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(ProtoConvertTest, GrpcDeadlines) {
  EXPECT_EQ(FromGrpcDeadline(std::chrono::system_clock::time_point::max()), absl::InfiniteFuture());
  const auto soon = std::chrono::system_clock::now() + std::chrono::milliseconds(1500);
  const absl::Duration left = FromGrpcDeadline(soon) - absl::Now();
  EXPECT_GT(left, absl::Seconds(1));
  EXPECT_LE(left, absl::Milliseconds(1500));
}

TEST(ProtoConvertTest, ServerInfoCarriesConfigOptionsAndStats) {
  const ModelConfig config = *PresetConfig("micro");
  SchedulerOptions options;
  options.page_size = 8;
  options.max_num_seqs = 3;
  options.max_batched_tokens = 99;
  options.max_waiting = 17;
  SchedulerStats stats;
  stats.running = 2;
  stats.waiting = 4;
  stats.total_pages = 100;
  stats.free_pages = 60;
  stats.preemptions = 5;
  stats.steps = 1234;
  stats.requests_finished = 77;
  v1::ServerInfo info;
  FillServerInfo(config, options, stats, /*has_chat_template=*/true, &info);
  EXPECT_EQ(info.model_name(), "micro");
  EXPECT_EQ(info.vocab_size(), config.vocab_size);
  EXPECT_EQ(info.max_context(), config.max_context);
  EXPECT_EQ(info.num_layers(), config.num_layers);
  EXPECT_EQ(info.num_heads(), config.num_heads);
  EXPECT_EQ(info.num_kv_heads(), config.num_kv_heads);
  EXPECT_EQ(info.head_dim(), config.head_dim);
  EXPECT_EQ(info.hidden_size(), config.hidden_size);
  EXPECT_EQ(info.bos_token_id(), config.bos_token_id);
  EXPECT_EQ(info.eos_token_id(), config.eos_token_id);
  EXPECT_EQ(info.page_size(), 8);
  EXPECT_EQ(info.total_pages(), 100);
  EXPECT_EQ(info.free_pages(), 60);
  EXPECT_EQ(info.cached_pages(), 0);
  EXPECT_EQ(info.running(), 2);
  EXPECT_EQ(info.waiting(), 4);
  EXPECT_EQ(info.max_num_seqs(), 3);
  EXPECT_EQ(info.max_batched_tokens(), 99);
  EXPECT_EQ(info.max_waiting(), 17);
  EXPECT_EQ(info.preemptions(), 5);
  EXPECT_EQ(info.steps(), 1234);
  EXPECT_EQ(info.requests_finished(), 77);
  EXPECT_EQ(info.version(), kServerVersion);
}

}  // namespace
}  // namespace kvserve
