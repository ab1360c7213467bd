// The Generation service in-process: a real Scheduler and ModelRunner (the "micro" preset, or
// "tiny" where a generation must last long enough to be interrupted) behind KvServer on
// 127.0.0.1, port 0.
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/tokenizer/utf8_stream_decoder.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/kv_server.h"
#include "tests/server/generate_client.h"
#include "tests/server/in_process_server.h"

namespace kvserve {
namespace {

using ::kvserve::testing::RunGenerate;
using ::kvserve::testing::StreamResult;
using ::kvserve::testing::TextRequest;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using GenerationServiceTest = kvserve::testing::InProcessServerTest;

struct BadRequest {
  std::string name;
  v1::GenerateRequest request;
  std::string field;  // the refusal message must start with it
};

std::vector<BadRequest> BadRequests(int32_t context) {
  std::vector<BadRequest> bad;
  auto with_tokens = [](std::vector<int32_t> ids, int32_t max_tokens) {
    v1::GenerateRequest r;
    r.mutable_token_ids()->mutable_ids()->Add(ids.begin(), ids.end());
    r.set_max_tokens(max_tokens);
    return r;
  };
  {
    v1::GenerateRequest r;
    r.set_max_tokens(4);
    bad.push_back({"missing prompt", r, "prompt"});
  }
  bad.push_back({"empty text", TextRequest("", 4), "prompt"});
  // Proto3 strings must be UTF-8; protobuf refuses to parse these (the client's protobuf only
  // logs), and gRPC alone would answer UNIMPLEMENTED with no message.
  bad.push_back(
      {"text not UTF-8", TextRequest("ab\xff\xfe", 4), "prompt.text is not valid UTF-8 (byte 2"});
  {
    v1::GenerateRequest r = TextRequest("hi", 4);
    r.set_request_id("id-\xc3");
    bad.push_back({"request_id not UTF-8", r, "request_id is not valid UTF-8 (byte 3"});
  }
  bad.push_back({"empty token ids", with_tokens({}, 4), "prompt"});
  bad.push_back({"token id above vocab", with_tokens({1, 999}, 4), "prompt.token_ids[1]"});
  bad.push_back({"negative token id", with_tokens({-3}, 4), "prompt.token_ids[0]"});
  bad.push_back({"max_tokens 0", TextRequest("hi", 0), "max_tokens"});
  bad.push_back({"max_tokens negative", TextRequest("hi", -5), "max_tokens"});
  bad.push_back(
      {"prompt + max_tokens > context", TextRequest("0123456789", context), "max_tokens"});
  bad.push_back({"prompt longer than context",
                 TextRequest(std::string(static_cast<size_t>(context) + 1, 'a'), 1), "prompt"});
  {
    v1::GenerateRequest r = TextRequest("hi", 4);
    r.mutable_sampling()->set_temperature(-1.0f);
    bad.push_back({"temperature -1", r, "sampling.temperature"});
  }
  {
    v1::GenerateRequest r = TextRequest("hi", 4);
    r.mutable_sampling()->set_temperature(std::numeric_limits<float>::quiet_NaN());
    bad.push_back({"temperature NaN", r, "sampling.temperature"});
  }
  {
    v1::GenerateRequest r = TextRequest("hi", 4);
    r.mutable_sampling()->set_temperature(std::numeric_limits<float>::infinity());
    bad.push_back({"temperature inf", r, "sampling.temperature"});
  }
  {
    v1::GenerateRequest r = TextRequest("hi", 4);
    r.mutable_sampling()->set_top_p(1.5f);
    bad.push_back({"top_p 1.5", r, "sampling.top_p"});
  }
  {
    v1::GenerateRequest r = TextRequest("hi", 4);
    r.mutable_sampling()->set_top_p(-0.25f);
    bad.push_back({"top_p negative", r, "sampling.top_p"});
  }
  {
    v1::GenerateRequest r = TextRequest("hi", 4);
    r.mutable_sampling()->set_top_k(-1);
    bad.push_back({"top_k -1", r, "sampling.top_k"});
  }
  {
    v1::GenerateRequest r = TextRequest("hi", 4);
    r.add_stop_token_ids(10);
    r.add_stop_token_ids(5000);
    bad.push_back({"stop id outside vocab", r, "stop_token_ids[1]"});
  }
  return bad;
}

TEST_F(GenerationServiceTest, BadRequestsAreInvalidArgumentNamingTheField) {
  Start();
  const v1::ServerInfo info = testing::GetInfo(*stub_);
  ASSERT_EQ(info.model_name(), "micro");
  for (const BadRequest& bad : BadRequests(info.max_context())) {
    SCOPED_TRACE(bad.name);
    const StreamResult result = RunGenerate(*stub_, bad.request, absl::Seconds(10));
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << result.status.error_message();
    EXPECT_THAT(result.status.error_message(), StartsWith(bad.field));
    EXPECT_TRUE(result.messages.empty());
  }
  // Nothing was queued or leaked, and the server still serves.
  const StreamResult ok = RunGenerate(*stub_, TextRequest("still here", 3));
  ASSERT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.tokens.size(), 3u);
}

// Sends `bytes` as the request of a Generate call, as they are (grpc::GenericStub), and returns
// the call's status once the stream has ended.
grpc::Status RawGenerate(const std::shared_ptr<grpc::Channel>& channel, const std::string& bytes,
                         int* messages) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&context, "/kvserve.v1.Generation/Generate", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto wait = [&] { return cq.Next(&tag, &ok) && ok; };
  call->StartCall(reinterpret_cast<void*>(1));
  if (wait()) {
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    call->WriteLast(request, grpc::WriteOptions(), reinterpret_cast<void*>(2));
    wait();
    grpc::ByteBuffer response;
    for (*messages = 0;; ++*messages) {
      call->Read(&response, reinterpret_cast<void*>(3));
      if (!wait()) break;
    }
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

TEST_F(GenerationServiceTest, BytesThatAreNotAGenerateRequestAreInvalidArgumentSayingWhy) {
  Start();
  const struct {
    std::string name, bytes, message;
  } cases[] = {
      // field 2 (text), length 3, not UTF-8; then max_tokens 4
      {"text not UTF-8",
       std::string("\x12\x03"
                   "a\xff"
                   "b\x20\x04",
                   7),
       "prompt.text is not valid UTF-8 (byte 1 of 3)"},
      {"truncated length",
       std::string("\x12\x7f"
                   "abc",
                   5),
       "malformed protobuf wire format"},
      {"bad varint", std::string(11, '\xff'), "malformed protobuf wire format"},
      // field 5 (sampling) holding bytes that are no SamplingParams (a field 0 tag)
      {"bad nested message", std::string("\x2a\x02\x00\x00\x20\x04", 6),
       "a field has the wrong wire type or a nested message is malformed"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    int messages = -1;
    const grpc::Status status = RawGenerate(channel_, c.bytes, &messages);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
    EXPECT_EQ(messages, 0);
  }
  // GetServerInfo parses its (empty) request the same way.
  {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Slice slice(std::string(11, '\xff'));
    grpc::ByteBuffer request(&slice, 1), response;
    absl::Notification done;
    grpc::Status status;
    stub.UnaryCall(&context, "/kvserve.v1.Generation/GetServerInfo", grpc::StubOptions(), &request,
                   &response, [&](grpc::Status s) {
                     status = std::move(s);
                     done.Notify();
                   });
    done.WaitForNotification();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(),
                HasSubstr("not a valid kvserve.v1.GetServerInfoRequest: malformed protobuf"));
  }
  // The same route with good bytes streams tokens.
  int messages = 0;
  const grpc::Status good =
      RawGenerate(channel_, TextRequest("fine", 3).SerializeAsString(), &messages);
  EXPECT_TRUE(good.ok()) << good.error_message();
  EXPECT_GE(messages, 1);
  EXPECT_EQ(server_->scheduler().stats().running, 0);
}

TEST_F(GenerationServiceTest, RequestLargerThanTheWholeCacheIsInvalidArgument) {
  SchedulerOptions options = Small();
  options.num_pages = 4;  // 64 token slots
  Start("micro", options);
  const StreamResult result = RunGenerate(*stub_, TextRequest("0123456789", 100));
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(result.status.error_message(), HasSubstr("KV pages"));
}

TEST_F(GenerationServiceTest, StreamFollowsTheContract) {
  Start();
  const std::string prompt = "The quick brown fox";
  const StreamResult result = RunGenerate(*stub_, TextRequest(prompt, 40));
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  ASSERT_FALSE(result.messages.empty());
  for (size_t i = 0; i + 1 < result.messages.size(); ++i) {
    EXPECT_EQ(result.messages[i].finish_reason(), v1::FINISH_REASON_UNSPECIFIED) << i;
    EXPECT_FALSE(result.messages[i].has_usage()) << i;
  }
  const v1::GenerateResponse& last = result.messages.back();
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_LENGTH);
  ASSERT_TRUE(last.has_usage());
  EXPECT_EQ(last.usage().prompt_tokens(), static_cast<int32_t>(prompt.size()));
  EXPECT_EQ(last.usage().completion_tokens(), 40);
  EXPECT_EQ(last.usage().cached_prompt_tokens(), 0);
  EXPECT_EQ(result.tokens.size(), 40u);
  // Server-assigned id, the same in every message.
  const std::string id = result.messages.front().request_id();
  EXPECT_THAT(id, StartsWith("req-"));
  for (const v1::GenerateResponse& m : result.messages) EXPECT_EQ(m.request_id(), id);
  // However the tokens were split into messages, the text is the one-shot decode.
  Utf8StreamDecoder decoder;
  std::string expected = decoder.Feed(result.tokens);
  expected += decoder.Flush();
  EXPECT_EQ(result.text, expected);
}

TEST_F(GenerationServiceTest, EchoesTheClientsRequestIdAndNumbersTheOthers) {
  Start();
  v1::GenerateRequest request = TextRequest("abc", 2);
  request.set_request_id("my-id-7");
  const StreamResult named = RunGenerate(*stub_, request);
  ASSERT_TRUE(named.status.ok());
  for (const v1::GenerateResponse& m : named.messages) EXPECT_EQ(m.request_id(), "my-id-7");
  const StreamResult a = RunGenerate(*stub_, TextRequest("abc", 2));
  const StreamResult b = RunGenerate(*stub_, TextRequest("abc", 2));
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  EXPECT_NE(a.messages.front().request_id(), b.messages.front().request_id());
}

TEST_F(GenerationServiceTest, GreedyAndSeededSamplingAreReproducible) {
  Start();
  const StreamResult g1 = RunGenerate(*stub_, TextRequest("repeat", 24));
  const StreamResult g2 = RunGenerate(*stub_, TextRequest("repeat", 24));
  ASSERT_TRUE(g1.status.ok() && g2.status.ok());
  EXPECT_EQ(g1.tokens, g2.tokens);
  v1::GenerateRequest sampled = TextRequest("repeat", 24);
  sampled.mutable_sampling()->set_temperature(1.0f);
  sampled.mutable_sampling()->set_top_p(0.95f);
  sampled.mutable_sampling()->set_seed(42);
  const StreamResult s1 = RunGenerate(*stub_, sampled);
  const StreamResult s2 = RunGenerate(*stub_, sampled);
  ASSERT_TRUE(s1.status.ok() && s2.status.ok());
  EXPECT_EQ(s1.tokens, s2.tokens);
  EXPECT_EQ(s1.tokens.size(), 24u);
}

TEST_F(GenerationServiceTest, StopTokenEndsWithStopAndIsIncluded) {
  Start();
  const StreamResult free_run = RunGenerate(*stub_, TextRequest("stop here", 20));
  ASSERT_TRUE(free_run.status.ok());
  ASSERT_GE(free_run.tokens.size(), 6u);
  const int32_t stop = free_run.tokens[5];
  size_t first = 0;
  while (free_run.tokens[first] != stop) ++first;
  v1::GenerateRequest request = TextRequest("stop here", 20);
  request.add_stop_token_ids(stop);
  const StreamResult stopped = RunGenerate(*stub_, request);
  ASSERT_TRUE(stopped.status.ok());
  EXPECT_EQ(stopped.messages.back().finish_reason(), v1::FINISH_REASON_STOP);
  ASSERT_EQ(stopped.tokens.size(), first + 1);
  EXPECT_EQ(stopped.tokens.back(), stop);
  EXPECT_EQ(stopped.messages.back().usage().completion_tokens(), static_cast<int32_t>(first + 1));
}

TEST_F(GenerationServiceTest, ServerInfoReportsModelCacheAndCounters) {
  Start();
  const StreamResult run = RunGenerate(*stub_, TextRequest("count me", 5));
  ASSERT_TRUE(run.status.ok());
  // The scheduler publishes its figures at the end of a step, just after the last token went out.
  v1::ServerInfo info;
  ASSERT_TRUE(testing::WaitForIdleCache(*stub_, absl::Seconds(5), &info)) << info.DebugString();
  EXPECT_EQ(info.model_name(), "micro");
  EXPECT_EQ(info.vocab_size(), 259);
  EXPECT_EQ(info.max_context(), 512);
  EXPECT_EQ(info.num_layers(), 2);
  EXPECT_EQ(info.eos_token_id(), 257);
  EXPECT_EQ(info.page_size(), 16);
  EXPECT_EQ(info.total_pages(), 256);
  EXPECT_EQ(info.free_pages(), 256);
  EXPECT_EQ(info.max_num_seqs(), 64);
  EXPECT_EQ(info.max_batched_tokens(), 512);
  EXPECT_EQ(info.max_waiting(), 1024);
  EXPECT_GE(info.steps(), 5);
  EXPECT_EQ(info.requests_finished(), 1);
  EXPECT_FALSE(info.version().empty());
}

TEST_F(GenerationServiceTest, ClientCancelEndsTheRequestAndFreesItsPages) {
  Start("tiny");
  const StreamResult result =
      RunGenerate(*stub_, TextRequest("cancel me", 3000), absl::Seconds(60),
                  [](const v1::GenerateResponse&, int index) { return index < 2; });
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_LT(result.tokens.size(), 3000u);
  v1::ServerInfo info;
  EXPECT_TRUE(testing::WaitForIdleCache(*stub_, absl::Seconds(5), &info)) << info.DebugString();
  EXPECT_EQ(info.requests_finished(), 0);
  EXPECT_EQ(server_->scheduler().stats().requests_failed, 1);
}

TEST_F(GenerationServiceTest, ExpiredDeadlineEndsTheRequestAndFreesItsPages) {
  Start("tiny");
  const StreamResult result =
      RunGenerate(*stub_, TextRequest("too slow", 3000), absl::Milliseconds(50));
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  v1::ServerInfo info;
  EXPECT_TRUE(testing::WaitForIdleCache(*stub_, absl::Seconds(5), &info)) << info.DebugString();
  EXPECT_EQ(info.requests_finished(), 0);
}

TEST_F(GenerationServiceTest, SlowReaderGetsCoalescedMessagesAndEveryToken) {
  Start();
  // A tiny HTTP/2 window and no BDP probing, so the server's writes stall while the client sleeps
  // and the tokens made meanwhile pile up.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 256);
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto channel =
      grpc::CreateCustomChannel(server_->address(), grpc::InsecureChannelCredentials(), args);
  auto stub = v1::Generation::NewStub(channel);
  const StreamResult result = RunGenerate(*stub, TextRequest("slow reader", 300), absl::Seconds(60),
                                          [](const v1::GenerateResponse&, int index) {
                                            if (index == 0) absl::SleepFor(absl::Milliseconds(500));
                                            return true;
                                          });
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.tokens.size(), 300u);
  EXPECT_EQ(result.messages.back().usage().completion_tokens(), 300);
  EXPECT_LT(result.messages.size(), 300u) << "no coalescing happened";
}

TEST_F(GenerationServiceTest, ShutdownRefusesNewStreamsWithUnavailable) {
  Start();
  server_->Shutdown(absl::Seconds(1));
  // The gRPC server is gone too, so a fresh call fails UNAVAILABLE at the transport.
  const StreamResult result = RunGenerate(*stub_, TextRequest("late", 2), absl::Seconds(5));
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace kvserve
