// GenerateCall against a scripted Generation service on 127.0.0.1 (no engine): what it records
// of each message and of the end (per sample with n > 1), the protocol breaches it notices, and
// the three ways it ends a stream early (cancel_after_tokens, OnResponse returning false, Abort)
// and the deadline.
#include "clients/generate_call.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/server_info.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "kvserve/v1/kvserve.grpc.pb.h"
#include "tests/clients/scripted_service.h"

namespace kvserve {
namespace {

using ::kvserve::testing::Finishing;
using ::kvserve::testing::Handler;
using ::kvserve::testing::Message;
using ::kvserve::testing::Script;
using ::kvserve::testing::ScriptedServer;
using ::kvserve::testing::Writer;

v1::GenerateResponse Final(const std::string& id, std::vector<int32_t> tokens, int32_t prompt,
                           int32_t completion) {
  return Finishing(Message(id, std::move(tokens)), v1::FINISH_REASON_LENGTH, /*usage=*/true, prompt,
                   completion);
}

// One token every millisecond until the client goes away.
Handler Endless() {
  return [](grpc::ServerContext* context, const v1::GenerateRequest& request, Writer* writer) {
    while (!context->IsCancelled()) {
      if (!writer->Write(Message(request.request_id(), {7}))) break;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return grpc::Status::CANCELLED;
  };
}

v1::GenerateRequest Request(const std::string& id, int32_t max_tokens = 16) {
  v1::GenerateRequest request;
  request.set_request_id(id);
  request.set_text("hello");
  request.set_max_tokens(max_tokens);
  return request;
}

class GenerateCallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok());
    stub_ = v1::Generation::NewStub(server_.channel());
  }

  ScriptedServer server_;
  testing::ScriptedService& service_ = server_.service();
  std::unique_ptr<v1::Generation::Stub> stub_;
};

TEST_F(GenerateCallTest, RecordsEveryMessageAndTheEnd) {
  // A token-less first message (a held-back UTF-8 sequence), then tokens, 20 ms apart.
  service_.SetHandler(Script(
      {Message("r1", {}), Message("r1", {1, 2}), Message("r1", {3}), Final("r1", {4, 5}, 5, 5)},
      absl::Milliseconds(20)));
  const GenerateRecord r =
      RunGenerateCall(*stub_, Request("r1"), GenerateCallOptions{.keep_responses = true});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[0].tokens, 0);
  EXPECT_EQ(r.messages[1].tokens, 2);
  EXPECT_EQ(r.messages[3].tokens, 2);
  for (size_t i = 1; i < r.messages.size(); ++i) {
    EXPECT_GT(r.messages[i].t_s, r.messages[i - 1].t_s) << i;
  }
  EXPECT_GE(r.messages[0].t_s, 0.015);
  EXPECT_GE(r.end_s, r.messages.back().t_s);
  // The first token came with the second message, not the first.
  EXPECT_EQ(r.FirstTokenSeconds(), r.messages[1].t_s);
  EXPECT_EQ(r.tokens, 5);
  EXPECT_EQ(r.finish_reason, v1::FINISH_REASON_LENGTH);
  ASSERT_TRUE(r.has_usage);
  EXPECT_EQ(r.usage.prompt_tokens(), 5);
  EXPECT_EQ(r.usage.completion_tokens(), 5);
  EXPECT_EQ(r.usage.cached_prompt_tokens(), 1);
  ASSERT_EQ(r.responses.size(), 4u);
  EXPECT_EQ(r.responses[1].token_ids(1), 2);
  EXPECT_FALSE(r.message_after_final);
  EXPECT_FALSE(r.final_fields_split);
  EXPECT_FALSE(r.request_id_mismatch);
  EXPECT_FALSE(r.cancel_sent);
  EXPECT_FALSE(r.aborted);
}

TEST_F(GenerateCallTest, WithoutKeepResponsesKeepsOnlyCountsAndTimes) {
  service_.SetHandler(Script({Message("r", {1}), Final("r", {2}, 5, 2)}));
  const GenerateRecord r = RunGenerateCall(*stub_, Request("r"), GenerateCallOptions{});
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(r.responses.empty());
  EXPECT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.tokens, 2);
}

TEST_F(GenerateCallTest, NoticesProtocolBreaches) {
  v1::GenerateResponse finish_only = Message("p", {2});
  finish_only.set_finish_reason(v1::FINISH_REASON_STOP);
  service_.SetHandler(Script({Message("other", {1}), finish_only, Message("p", {3})}));
  const GenerateRecord r = RunGenerateCall(*stub_, Request("p"), GenerateCallOptions{});
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(r.request_id_mismatch);
  EXPECT_TRUE(r.final_fields_split);
  EXPECT_TRUE(r.message_after_final);
  EXPECT_FALSE(r.has_usage);
  EXPECT_EQ(r.finish_reason, v1::FINISH_REASON_STOP);

  // Usage without a finish reason is a split too.
  v1::GenerateResponse usage_only = Message("q", {1});
  usage_only.mutable_usage()->set_completion_tokens(1);
  service_.SetHandler(Script({usage_only}));
  const GenerateRecord u = RunGenerateCall(*stub_, Request("q"), GenerateCallOptions{});
  EXPECT_TRUE(u.final_fields_split);
  EXPECT_FALSE(u.message_after_final);
  EXPECT_FALSE(u.request_id_mismatch);
}

// Sample `index`'s message with a stop string or token as its finish.
v1::GenerateResponse StopOn(v1::GenerateResponse m, const std::string& stop_string,
                            int32_t stop_token_id = -1) {
  m.set_finish_reason(v1::FINISH_REASON_STOP);
  if (stop_token_id >= 0) {
    m.set_stop_token_id(stop_token_id);
  } else {
    m.set_stop_string(stop_string);
  }
  return m;
}

v1::TokenLogprob Logprob(int32_t id, float logprob) {
  v1::TokenLogprob l;
  l.set_token_id(id);
  l.set_text(absl::StrCat("t", id));
  l.set_logprob(logprob);
  l.set_rank(1);
  return l;
}

TEST_F(GenerateCallTest, KeepsEachSampleOfNApart) {
  // Three samples interleaved; 2 ends on a stop string, 0 on a stop token, 1 (last) on length
  // with the usage.
  v1::GenerateResponse first = Message("n", {1}, "a", 0);
  *first.add_logprobs() = Logprob(1, -0.5f);
  *first.add_prompt_logprobs() = Logprob(9, -3.0f);
  v1::GenerateResponse s1 = Message("n", {4, 5}, "de", 1);
  *s1.add_logprobs() = Logprob(4, -1.0f);
  *s1.add_logprobs() = Logprob(5, -1.5f);
  service_.SetHandler(Script({first, s1, StopOn(Message("n", {7}, "x", 2), "\n"),
                              StopOn(Message("n", {2}, "", 0), "", /*stop_token_id=*/2),
                              Finishing(Message("n", {6}, "f", 1), v1::FINISH_REASON_LENGTH,
                                        /*usage=*/true, 5, 6)}));
  v1::GenerateRequest request = Request("n");
  request.set_n(3);
  const GenerateRecord r =
      RunGenerateCall(*stub_, request, GenerateCallOptions{.keep_output = true});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.samples.size(), 3u);
  EXPECT_EQ(r.tokens, 6);
  EXPECT_EQ(r.samples[0].tokens, 2);
  EXPECT_EQ(r.samples[0].text, "a");
  EXPECT_EQ(r.samples[0].token_ids, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(r.samples[0].finish_reason, v1::FINISH_REASON_STOP);
  EXPECT_FALSE(r.samples[0].has_stop_string);
  EXPECT_EQ(r.samples[0].stop_token_id, 2);
  ASSERT_EQ(r.samples[0].logprobs.size(), 1u);
  EXPECT_FLOAT_EQ(r.samples[0].logprobs[0].logprob(), -0.5f);
  EXPECT_EQ(r.samples[1].text, "def");
  EXPECT_EQ(r.samples[1].token_ids, (std::vector<int32_t>{4, 5, 6}));
  EXPECT_EQ(r.samples[1].finish_reason, v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(r.samples[1].stop_token_id, -1);
  ASSERT_EQ(r.samples[1].logprobs.size(), 2u);
  EXPECT_EQ(r.samples[1].logprobs[1].token_id(), 5);
  EXPECT_TRUE(r.samples[2].has_stop_string);
  EXPECT_EQ(r.samples[2].stop_string, "\n");
  EXPECT_EQ(r.samples[2].tokens, 1);
  ASSERT_EQ(r.prompt_logprobs.size(), 1u);
  EXPECT_EQ(r.prompt_logprobs[0].token_id(), 9);
  EXPECT_EQ(r.messages[1].index, 1);
  EXPECT_TRUE(r.AllSamplesFinished());
  EXPECT_EQ(r.finish_reason, v1::FINISH_REASON_LENGTH);
  ASSERT_TRUE(r.has_usage);
  EXPECT_EQ(r.usage.completion_tokens(), 6);
  // Samples finishing without usage before the last one are the protocol, not a breach.
  EXPECT_FALSE(r.final_fields_split);
  EXPECT_FALSE(r.message_after_final);
  EXPECT_FALSE(r.index_out_of_range);
  EXPECT_FALSE(r.request_id_mismatch);
}

TEST_F(GenerateCallTest, WithoutKeepOutputSamplesKeepOnlyCountsAndFinish) {
  service_.SetHandler(
      Script({Finishing(Message("k", {1, 2}, "ab", 1), v1::FINISH_REASON_LENGTH),
              Finishing(Message("k", {3, 4}, "cd", 0), v1::FINISH_REASON_LENGTH, true, 5, 4)}));
  v1::GenerateRequest request = Request("k");
  request.set_n(2);
  const GenerateRecord r = RunGenerateCall(*stub_, request, GenerateCallOptions{});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.samples[1].tokens, 2);
  EXPECT_EQ(r.samples[1].finish_reason, v1::FINISH_REASON_LENGTH);
  EXPECT_TRUE(r.samples[1].text.empty());
  EXPECT_TRUE(r.samples[1].token_ids.empty());
  EXPECT_FALSE(r.final_fields_split);
}

TEST_F(GenerateCallTest, NoticesBreachesOfTheSamplesProtocol) {
  v1::GenerateRequest request = Request("b");
  request.set_n(2);
  // Usage on a message that does not finish the last sample (sample 1 is still running).
  service_.SetHandler(
      Script({Finishing(Message("b", {1}, "", 0), v1::FINISH_REASON_LENGTH, true, 5, 1),
              Finishing(Message("b", {2}, "", 1), v1::FINISH_REASON_LENGTH)}));
  GenerateRecord r = RunGenerateCall(*stub_, request, GenerateCallOptions{});
  EXPECT_TRUE(r.final_fields_split);
  EXPECT_TRUE(r.message_after_final);  // sample 1's message came after the usage
  EXPECT_TRUE(r.AllSamplesFinished());

  // A message of a sample that has finished, and an index outside [0, n).
  service_.SetHandler(
      Script({Finishing(Message("b", {1}, "", 0), v1::FINISH_REASON_LENGTH),
              Message("b", {2}, "", 0), Message("b", {3}, "", 2),
              Finishing(Message("b", {4}, "", 1), v1::FINISH_REASON_LENGTH, true, 5, 4)}));
  r = RunGenerateCall(*stub_, request, GenerateCallOptions{});
  EXPECT_TRUE(r.message_after_final);
  EXPECT_TRUE(r.index_out_of_range);
  EXPECT_FALSE(r.final_fields_split);
  EXPECT_EQ(r.tokens, 4);
  EXPECT_EQ(r.samples[0].tokens, 2);

  // The stream ends with a sample unfinished: the last finish came without usage, too.
  service_.SetHandler(Script({Finishing(Message("b", {1}, "", 0), v1::FINISH_REASON_LENGTH)}));
  r = RunGenerateCall(*stub_, request, GenerateCallOptions{});
  EXPECT_FALSE(r.AllSamplesFinished());
  EXPECT_FALSE(r.has_usage);
  EXPECT_FALSE(r.final_fields_split);  // sample 0's finish was not the last one
}

TEST_F(GenerateCallTest, AnNOutOfRangeRecordsAtMostTheCap) {
  service_.SetHandler([](grpc::ServerContext*, const v1::GenerateRequest&, Writer*) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "n is 2147483647");
  });
  v1::GenerateRequest request = Request("x");
  request.set_n(2147483647);
  const GenerateRecord r = RunGenerateCall(*stub_, request, GenerateCallOptions{});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r.samples.size(), static_cast<size_t>(GenerateRecord::kMaxRecordedSamples));
}

TEST_F(GenerateCallTest, DoesNotCancelOnceEverySampleFinished) {
  // The cancel point (3 tokens) is reached by the stream's last message only.
  service_.SetHandler(
      Script({Finishing(Message("c", {1}, "", 1), v1::FINISH_REASON_LENGTH),
              Finishing(Message("c", {2, 3}, "", 0), v1::FINISH_REASON_LENGTH, true, 5, 3)}));
  v1::GenerateRequest request = Request("c");
  request.set_n(2);
  const GenerateRecord r =
      RunGenerateCall(*stub_, request, GenerateCallOptions{.cancel_after_tokens = 3});
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_FALSE(r.cancel_sent);
}

TEST_F(GenerateCallTest, CancelsItselfAfterTokens) {
  service_.SetHandler(Endless());
  const GenerateRecord r = RunGenerateCall(
      *stub_, Request("c"), GenerateCallOptions{.deadline_ms = 30000, .cancel_after_tokens = 5});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::CANCELLED) << r.status.error_message();
  EXPECT_TRUE(r.cancel_sent);
  EXPECT_FALSE(r.aborted);
  EXPECT_GE(r.tokens, 5);
  EXPECT_LT(r.tokens, 1000);  // it did stop the endless stream
}

TEST_F(GenerateCallTest, DoesNotCancelOnceTheFinalMessageArrived) {
  // The cancel point (3 tokens) falls inside the final, coalesced message.
  service_.SetHandler(Script({Message("f", {1}), Final("f", {2, 3, 4}, 5, 4)}));
  const GenerateRecord r =
      RunGenerateCall(*stub_, Request("f"), GenerateCallOptions{.cancel_after_tokens = 3});
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_FALSE(r.cancel_sent);
  EXPECT_EQ(r.tokens, 4);
}

TEST_F(GenerateCallTest, OnResponseReturningFalseCancels) {
  service_.SetHandler(Endless());
  std::vector<int> indexes;  // RunGenerateCall's callbacks are ordered (see its observer)
  const GenerateRecord r =
      RunGenerateCall(*stub_, Request("o"), GenerateCallOptions{.deadline_ms = 30000},
                      [&](const v1::GenerateResponse& response, int index) {
                        EXPECT_EQ(response.token_ids_size(), 1);
                        indexes.push_back(index);
                        return index < 2;
                      });
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(r.cancel_sent);
  ASSERT_GE(indexes.size(), 3u);
  for (size_t i = 0; i < indexes.size(); ++i) EXPECT_EQ(indexes[i], static_cast<int>(i));
  EXPECT_EQ(indexes.size(), r.messages.size());
}

TEST_F(GenerateCallTest, DeadlineEndsAStreamThatNeverFinishes) {
  service_.SetHandler([](grpc::ServerContext* context, const v1::GenerateRequest&, Writer*) {
    while (!context->IsCancelled()) absl::SleepFor(absl::Milliseconds(1));
    return grpc::Status::CANCELLED;
  });
  const absl::Time start = absl::Now();
  const GenerateRecord r =
      RunGenerateCall(*stub_, Request("d"), GenerateCallOptions{.deadline_ms = 100});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(90));
  EXPECT_TRUE(r.messages.empty());
  EXPECT_EQ(r.FirstTokenSeconds(), -1);
  EXPECT_FALSE(r.cancel_sent);
}

TEST_F(GenerateCallTest, AbortFromAnotherThreadEndsTheCall) {
  service_.SetHandler(Endless());
  struct Observer final : GenerateCallObserver {
    bool OnResponse(GenerateCall&, const v1::GenerateResponse&) override {
      if (!streaming.HasBeenNotified()) streaming.Notify();
      return true;
    }
    void OnCallDone(GenerateCall& call, GenerateRecord r) override {
      tag = call.tag();
      record = std::move(r);
      done.Notify();
    }
    void OnCallDeleted() override { deleted.Notify(); }
    absl::Notification streaming, done, deleted;
    int64_t tag = 0;
    GenerateRecord record;
  } observer;
  GenerateCall* call =
      GenerateCall::Create(Request("a"), GenerateCallOptions{.tag = 42}, &observer);
  call->Ref();  // the test's, so that the call outlives its OnCallDone until the test is done
  call->Start(stub_.get());
  ASSERT_TRUE(observer.streaming.WaitForNotificationWithTimeout(absl::Seconds(10)));
  call->Abort();
  ASSERT_TRUE(observer.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(call->request().request_id(), "a");
  EXPECT_FALSE(observer.deleted.HasBeenNotified());  // the test's reference keeps it
  call->Unref();
  // The last reference went with the test's or with OnDone's, whichever came second.
  ASSERT_TRUE(observer.deleted.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(observer.tag, 42);
  EXPECT_TRUE(observer.record.aborted);
  EXPECT_FALSE(observer.record.cancel_sent);
  EXPECT_EQ(observer.record.status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_GE(observer.record.tokens, 1);
}

TEST_F(GenerateCallTest, WaitForIdleCacheWaitsForEveryPageFree) {
  v1::ServerInfo busy;
  busy.set_total_pages(8);
  busy.set_free_pages(6);
  service_.SetInfo(busy);
  v1::ServerInfo last;
  EXPECT_FALSE(WaitForIdleCache(*stub_, absl::Milliseconds(100), &last));
  EXPECT_EQ(last.free_pages(), 6);

  v1::ServerInfo idle = busy;
  idle.set_free_pages(8);
  service_.SetInfo(idle);
  EXPECT_TRUE(WaitForIdleCache(*stub_, absl::Seconds(5), &last));
  EXPECT_EQ(last.free_pages(), 8);
  v1::ServerInfo fetched;
  ASSERT_TRUE(FetchServerInfo(*stub_, &fetched).ok());
  EXPECT_EQ(fetched.total_pages(), 8);
}

}  // namespace
}  // namespace kvserve
