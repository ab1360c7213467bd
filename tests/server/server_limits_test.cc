// The server's resource bounds in-process (see README "Limits"): max_prompt_tokens
// (INVALID_ARGUMENT), max_message_bytes (RESOURCE_EXHAUSTED from gRPC), the request_id length
// (INVALID_ARGUMENT), and max_streams_per_connection (extra streams wait on the client side).
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/serving/engine_stack.h"
#include "engine/serving/model_source.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/generation_service.h"
#include "server/kv_server.h"
#include "tests/server/generate_client.h"
#include "tests/server/in_process_server.h"

namespace kvserve {
namespace {

using ::kvserve::testing::GetInfo;
using ::kvserve::testing::RunGenerate;
using ::kvserve::testing::StartInProcessServer;
using ::kvserve::testing::StreamResult;
using ::kvserve::testing::TextRequest;
using ::testing::HasSubstr;
using ::testing::StartsWith;

SchedulerOptions SmallCache() {
  SchedulerOptions options;
  options.num_pages = 256;
  return options;
}

std::unique_ptr<v1::Generation::Stub> Connect(const KvServer& server) {
  return v1::Generation::NewStub(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
}

TEST(ServerLimitsTest, PromptsOverMaxPromptTokensAreInvalidArgument) {
  SchedulerOptions options = SmallCache();
  options.max_prompt_tokens = 8;
  std::unique_ptr<KvServer> server = StartInProcessServer("micro", options);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->scheduler().options().max_prompt_tokens, 8);
  auto stub = Connect(*server);

  const StreamResult too_long = RunGenerate(*stub, TextRequest("123456789", 4));  // 9 tokens
  EXPECT_EQ(too_long.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(too_long.status.error_message(),
              StartsWith("prompt has 9 tokens, more than the server's max_prompt_tokens of 8"));
  EXPECT_TRUE(too_long.messages.empty());
  v1::GenerateRequest ids;
  ids.set_max_tokens(4);
  for (int i = 0; i < 9; ++i) ids.mutable_token_ids()->add_ids(65);
  EXPECT_EQ(RunGenerate(*stub, ids).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  const StreamResult fits = RunGenerate(*stub, TextRequest("12345678", 4));  // exactly 8
  EXPECT_TRUE(fits.status.ok()) << fits.status.error_message();
  EXPECT_EQ(fits.tokens.size(), 4u);
}

TEST(ServerLimitsTest, MaxPromptTokensDefaultsToTheContextAndCannotExceedIt) {
  // Scheduler::Create resolves 0 to the model's context and refuses more than it.
  std::unique_ptr<KvServer> server = StartInProcessServer("micro", SmallCache());
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->scheduler().options().max_prompt_tokens,
            server->scheduler().model_config().max_context);

  absl::StatusOr<LoadedModel> model = LoadModel("micro");
  ASSERT_TRUE(model.ok());
  for (int32_t bad : {-1, model->weights->config.max_context + 1}) {
    SCOPED_TRACE(bad);
    EngineStackOptions options{.scheduler = SmallCache(), .threads = 1};
    options.scheduler.max_prompt_tokens = bad;
    absl::StatusOr<EngineStack> stack = EngineStack::Create(*model, options);
    EXPECT_EQ(stack.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(stack.status().message(), HasSubstr("max_prompt_tokens"));
  }
}

TEST(ServerLimitsTest, MessagesOverMaxMessageBytesAreResourceExhausted) {
  std::unique_ptr<KvServer> server =
      StartInProcessServer("micro", SmallCache(), KvServerOptions{.max_message_bytes = 1024});
  ASSERT_NE(server, nullptr);
  auto stub = Connect(*server);
  const StreamResult big = RunGenerate(*stub, TextRequest(std::string(2000, 'a'), 4));
  EXPECT_EQ(big.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << big.status.error_message();
  EXPECT_TRUE(big.messages.empty());
  // A token-id prompt is held to the same bound: 600 ids of 2 bytes each (varints).
  v1::GenerateRequest ids;
  ids.set_max_tokens(4);
  for (int i = 0; i < 600; ++i) ids.mutable_token_ids()->add_ids(200);
  EXPECT_EQ(RunGenerate(*stub, ids).status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Nothing reached the scheduler, and the server still serves.
  const StreamResult small = RunGenerate(*stub, TextRequest(std::string(500, 'a'), 4));
  EXPECT_TRUE(small.status.ok()) << small.status.error_message();
  EXPECT_EQ(GetInfo(*stub).requests_finished(), 1);
}

TEST(ServerLimitsTest, RequestIdsLongerThanTheLimitAreInvalidArgument) {
  std::unique_ptr<KvServer> server = StartInProcessServer("micro", SmallCache());
  ASSERT_NE(server, nullptr);
  auto stub = Connect(*server);
  v1::GenerateRequest request = TextRequest("hi", 2);
  request.set_request_id(std::string(kMaxRequestIdBytes + 1, 'r'));
  const StreamResult refused = RunGenerate(*stub, request);
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.status.error_message(), StartsWith("request_id has 257 bytes"));
  request.set_request_id(std::string(kMaxRequestIdBytes, 'r'));
  const StreamResult ok = RunGenerate(*stub, request);
  ASSERT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.messages.back().request_id(), request.request_id());
}

TEST(ServerLimitsTest, KvServerRefusesNonPositiveBounds) {
  absl::StatusOr<LoadedModel> model = LoadModel("micro");
  ASSERT_TRUE(model.ok());
  for (const KvServerOptions& options : {KvServerOptions{.max_message_bytes = 0},
                                         KvServerOptions{.max_streams_per_connection = 0}}) {
    absl::StatusOr<std::unique_ptr<KvServer>> server =
        KvServer::Start(*model, {.scheduler = SmallCache(), .threads = 1}, options);
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

// With one stream per connection, a second call on the same channel does not reach the server
// (it is neither running nor waiting there) until the first stream ends; then it runs in full.
TEST(ServerLimitsTest, StreamsBeyondMaxStreamsPerConnectionWaitOnTheClient) {
  std::unique_ptr<KvServer> server =
      StartInProcessServer("tiny", SmallCache(), KvServerOptions{.max_streams_per_connection = 1});
  ASSERT_NE(server, nullptr);
  auto channel = grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::Generation::NewStub(channel);
  // The probe gets a connection of its own.
  grpc::ChannelArguments own;
  own.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto probe = v1::Generation::NewStub(
      grpc::CreateCustomChannel(server->address(), grpc::InsecureChannelCredentials(), own));

  absl::Notification first_streaming, stop_first;
  StreamResult first;
  std::thread first_thread([&] {
    first = RunGenerate(*stub, TextRequest("first", 3000), absl::Seconds(60),
                        [&](const v1::GenerateResponse&, int index) {
                          if (index == 0) first_streaming.Notify();
                          return !stop_first.HasBeenNotified();
                        });
  });
  ASSERT_TRUE(first_streaming.WaitForNotificationWithTimeout(absl::Seconds(30)));
  StreamResult second;
  std::thread second_thread(
      [&] { second = RunGenerate(*stub, TextRequest("second", 8), absl::Seconds(60)); });

  absl::SleepFor(absl::Milliseconds(500));
  const v1::ServerInfo during = GetInfo(*probe);
  EXPECT_EQ(during.running(), 1);
  EXPECT_EQ(during.waiting(), 0);
  EXPECT_EQ(during.requests_finished(), 0);

  const absl::Time stopped = absl::Now();
  stop_first.Notify();
  first_thread.join();
  second_thread.join();
  EXPECT_EQ(first.status.error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  EXPECT_EQ(second.tokens.size(), 8u);
  ASSERT_FALSE(second.arrivals.empty());
  EXPECT_GE(second.arrivals.front(), stopped);
}

}  // namespace
}  // namespace kvserve
