#include "clients/kvload/load_call.h"

#include <chrono>

#include "clients/generate_call.h"
#include "clients/kvload/run_result.h"
#include "clients/kvload/workload.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace kvserve::load {
namespace {

RequestPlan Plan() {
  RequestPlan plan;
  plan.index = 7;
  plan.prompt_ids = {1, 2, 3};
  plan.prompt_len = 3;
  plan.max_tokens = 10;
  plan.sampling_seed = 99;
  plan.cancel_after_tokens = 4;
  return plan;
}

TEST(LoadCallTest, RequestAndCallOptionsFollowThePlan) {
  const RequestPlan plan = Plan();
  const v1::GenerateRequest greedy = MakeGenerateRequest(plan, CallOptions{});
  EXPECT_EQ(greedy.request_id(), "kvload-7");
  ASSERT_EQ(greedy.token_ids().ids_size(), 3);
  EXPECT_EQ(greedy.token_ids().ids(2), 3);
  EXPECT_EQ(greedy.max_tokens(), 10);
  EXPECT_TRUE(greedy.ignore_eos());
  EXPECT_FALSE(greedy.has_sampling());

  RequestPlan text = plan;
  text.prompt_text = "some words";
  const v1::GenerateRequest sampled =
      MakeGenerateRequest(text, CallOptions{.temperature = 0.5f, .ignore_eos = false});
  EXPECT_EQ(sampled.text(), "some words");
  EXPECT_FALSE(sampled.ignore_eos());
  EXPECT_FLOAT_EQ(sampled.sampling().temperature(), 0.5f);
  EXPECT_EQ(sampled.sampling().seed(), 99u);

  const GenerateCallOptions call = MakeCallOptions(plan, CallOptions{.deadline_ms = 250});
  EXPECT_EQ(call.deadline_ms, 250);
  EXPECT_EQ(call.cancel_after_tokens, 4);
  EXPECT_EQ(call.tag, 7);
  EXPECT_FALSE(call.keep_responses);
}

TEST(LoadCallTest, StopStringsNAndChatGoIntoTheRequest) {
  RequestPlan plan = Plan();
  plan.prompt_text = "tell me";
  const v1::GenerateRequest chat =
      MakeGenerateRequest(plan, CallOptions{.stop = {"\n\n", "END"}, .n = 3, .chat = true});
  ASSERT_TRUE(chat.has_chat());
  ASSERT_EQ(chat.chat().messages_size(), 1);
  EXPECT_EQ(chat.chat().messages(0).role(), "user");
  EXPECT_EQ(chat.chat().messages(0).content(), "tell me");
  EXPECT_FALSE(chat.chat().no_generation_prompt());
  EXPECT_TRUE(chat.text().empty());
  ASSERT_EQ(chat.stop_size(), 2);
  EXPECT_EQ(chat.stop(0), "\n\n");
  EXPECT_EQ(chat.n(), 3);
  // n = 1 leaves the field unset, as before.
  const v1::GenerateRequest one = MakeGenerateRequest(plan, CallOptions{});
  EXPECT_EQ(one.n(), 0);
  EXPECT_EQ(one.text(), "tell me");
  EXPECT_EQ(one.stop_size(), 0);
}

TEST(LoadCallTest, RecordKeepsEachSamplesTokens) {
  const auto zero = std::chrono::steady_clock::now();
  GenerateRecord call;
  call.start = zero;
  call.messages = {{0.1, 2, 0}, {0.2, 1, 1}};
  call.samples.resize(2);
  call.samples[0].tokens = 2;
  call.samples[1].tokens = 1;
  call.tokens = 3;
  const RequestRecord r = ToRequestRecord(PlannedRecord(Plan()), call, zero);
  EXPECT_EQ(r.n, 2);
  EXPECT_EQ(r.sample_tokens, (std::vector<int64_t>{2, 1}));
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].index, 1);
}

TEST(LoadCallTest, RecordKeepsTokenMessagesAndTimesFromTheRunStart) {
  const auto zero = std::chrono::steady_clock::now();
  GenerateRecord call;
  call.start = zero + std::chrono::milliseconds(1500);
  call.end_s = 0.5;
  call.messages = {{0.1, 0}, {0.2, 2}, {0.3, 1}};
  call.tokens = 3;
  call.finish_reason = v1::FINISH_REASON_LENGTH;
  call.has_usage = true;
  call.usage.set_prompt_tokens(3);
  call.usage.set_completion_tokens(3);
  call.usage.set_cached_prompt_tokens(2);
  const RequestRecord r = ToRequestRecord(PlannedRecord(Plan()), call, zero);
  EXPECT_EQ(r.index, 7);
  EXPECT_EQ(r.prompt_len, 3);
  EXPECT_EQ(r.max_tokens, 10);
  EXPECT_EQ(r.cancel_after_tokens, 4);
  EXPECT_NEAR(r.start_s, 1.5, 1e-9);
  EXPECT_EQ(r.end_s, 0.5);
  ASSERT_EQ(r.messages.size(), 2u);  // the token-less message is not a token message
  EXPECT_EQ(r.messages[0].t_s, 0.2);
  EXPECT_EQ(r.TtftSeconds(), 0.2);
  EXPECT_EQ(r.tokens, 3);
  EXPECT_EQ(r.outcome, Outcome::kOk);
  EXPECT_EQ(r.status_code, 0);
  EXPECT_EQ(r.finish_reason, v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(r.usage_cached_prompt_tokens, 2);
}

TEST(LoadCallTest, OutcomeSaysWhoEndedTheStream) {
  const auto zero = std::chrono::steady_clock::now();
  auto outcome = [&](grpc::Status status, bool cancel_sent, bool aborted) {
    GenerateRecord call;
    call.start = zero;
    call.status = status;
    call.cancel_sent = cancel_sent;
    call.aborted = aborted;
    return ToRequestRecord(PlannedRecord(Plan()), call, zero);
  };
  const grpc::Status cancelled(grpc::StatusCode::CANCELLED, "Cancelled");
  EXPECT_EQ(outcome(grpc::Status::OK, true, true).outcome, Outcome::kOk);
  EXPECT_EQ(outcome(cancelled, true, false).outcome, Outcome::kCancelled);
  EXPECT_EQ(outcome(cancelled, true, true).outcome, Outcome::kAborted);
  EXPECT_EQ(outcome(cancelled, false, false).outcome, Outcome::kError);  // not kvload's cancel
  const RequestRecord deadline =
      outcome(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "late"), true, false);
  EXPECT_EQ(deadline.outcome, Outcome::kError);
  EXPECT_EQ(deadline.status_code, static_cast<int32_t>(grpc::StatusCode::DEADLINE_EXCEEDED));
  EXPECT_EQ(deadline.status_message, "late");
}

}  // namespace
}  // namespace kvserve::load
