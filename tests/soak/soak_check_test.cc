#include "clients/kvsoak/soak_check.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace kvserve::soak {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int32_t kOk = static_cast<int32_t>(grpc::StatusCode::OK);
constexpr int32_t kCancelled = static_cast<int32_t>(grpc::StatusCode::CANCELLED);
constexpr int32_t kDeadline = static_cast<int32_t>(grpc::StatusCode::DEADLINE_EXCEEDED);
constexpr int32_t kInvalid = static_cast<int32_t>(grpc::StatusCode::INVALID_ARGUMENT);

SoakPlan Plan(SoakKind kind, int32_t prompt_len, int32_t max_tokens, bool ignore_eos = true) {
  SoakPlan plan;
  plan.kind = kind;
  plan.prompt_len = prompt_len;
  for (int i = 0; i < prompt_len; ++i) plan.request.mutable_token_ids()->add_ids(i);
  plan.request.set_max_tokens(max_tokens);
  plan.request.set_ignore_eos(ignore_eos);
  return plan;
}

// A well-formed OK stream of `tokens` tokens.
SoakObservation OkStream(int32_t prompt_len, int64_t tokens, int32_t reason) {
  return SoakObservation{.done_calls = 1,
                         .status_code = kOk,
                         .messages = tokens,
                         .tokens = tokens,
                         .started = true,
                         .finish_reason = reason,
                         .has_usage = true,
                         .usage_prompt_tokens = prompt_len,
                         .usage_completion_tokens = static_cast<int32_t>(tokens)};
}

TEST(SoakCheckTest, WellFormedOkStreamPasses) {
  EXPECT_THAT(CheckRequest(Plan(SoakKind::kNormal, 5, 8), OkStream(5, 8, 1)), IsEmpty());
  // Without ignore_eos a stream may stop early.
  EXPECT_THAT(CheckRequest(Plan(SoakKind::kNormal, 5, 8, false), OkStream(5, 3, 2)), IsEmpty());
}

TEST(SoakCheckTest, TokenCountMustMatchUsage) {
  SoakObservation seen = OkStream(5, 8, 1);
  seen.usage_completion_tokens = 7;
  EXPECT_THAT(CheckRequest(Plan(SoakKind::kNormal, 5, 8), seen),
              ElementsAre(HasSubstr("usage.completion_tokens is 7")));
}

TEST(SoakCheckTest, IgnoreEosStreamMustReachMaxTokens) {
  const std::vector<std::string> v = CheckRequest(Plan(SoakKind::kNormal, 5, 8), OkStream(5, 6, 2));
  EXPECT_THAT(v, ElementsAre(HasSubstr("got 6 tokens, asked for 8"), HasSubstr("expected LENGTH")));
}

TEST(SoakCheckTest, TerminalStatusCountedExactlyOnce) {
  SoakObservation seen = OkStream(5, 8, 1);
  seen.done_calls = 2;
  EXPECT_THAT(CheckRequest(Plan(SoakKind::kNormal, 5, 8), seen),
              ElementsAre(HasSubstr("2 terminal statuses")));
  EXPECT_THAT(CheckRequest(Plan(SoakKind::kNormal, 5, 8), SoakObservation{.started = true}),
              ElementsAre(HasSubstr("0 terminal statuses")));
}

TEST(SoakCheckTest, RequestsCutOffByTheRunTimeoutAreReportedAsSuch) {
  EXPECT_THAT(CheckRequest(Plan(SoakKind::kNormal, 5, 8), SoakObservation{}),
              ElementsAre(HasSubstr("never started")));
  const SoakObservation aborted{
      .done_calls = 1, .status_code = kCancelled, .started = true, .aborted = true};
  EXPECT_THAT(CheckRequest(Plan(SoakKind::kNormal, 5, 8), aborted),
              ElementsAre(HasSubstr("still running at the run's timeout")));
}

TEST(SoakCheckTest, OkStreamNeedsFinishReasonAndUsageOnTheLastMessageOnly) {
  SoakObservation seen = OkStream(5, 8, 1);
  seen.finish_reason = 0;
  seen.has_usage = false;
  EXPECT_THAT(
      CheckRequest(Plan(SoakKind::kNormal, 5, 8), seen),
      ::testing::IsSupersetOf({HasSubstr("without a finish_reason"), HasSubstr("without usage")}));
  seen = OkStream(5, 8, 1);
  seen.message_after_final = true;
  EXPECT_THAT(CheckRequest(Plan(SoakKind::kNormal, 5, 8), seen),
              ElementsAre(HasSubstr("followed the final one")));
}

TEST(SoakCheckTest, StatusMustFitTheKind) {
  SoakObservation cancelled{.done_calls = 1,
                            .status_code = kCancelled,
                            .tokens = 3,
                            .cancel_sent = true,
                            .started = true};
  EXPECT_THAT(CheckRequest(Plan(SoakKind::kCancel, 5, 8), cancelled), IsEmpty());
  EXPECT_THAT(CheckRequest(Plan(SoakKind::kCancel, 5, 8), OkStream(5, 8, 1)), IsEmpty());
  // CANCELLED that the client did not ask for, or on a request nobody cancels, is a server fault.
  cancelled.cancel_sent = false;
  EXPECT_THAT(CheckRequest(Plan(SoakKind::kCancel, 5, 8), cancelled),
              ElementsAre(HasSubstr("not allowed for a cancel request")));
  EXPECT_THAT(CheckRequest(Plan(SoakKind::kNormal, 5, 8), cancelled),
              ElementsAre(HasSubstr("not allowed for a normal request")));

  const SoakObservation late{
      .done_calls = 1, .status_code = kDeadline, .tokens = 2, .started = true};
  EXPECT_THAT(CheckRequest(Plan(SoakKind::kDeadline, 5, 8), late), IsEmpty());
  EXPECT_THAT(CheckRequest(Plan(SoakKind::kNormal, 5, 8), late),
              ElementsAre(HasSubstr("status 4")));
}

TEST(SoakCheckTest, InvalidRequestMustNameItsFieldBeforeAnyMessage) {
  SoakPlan plan = Plan(SoakKind::kInvalid, 5, 0);
  plan.invalid = InvalidWay::kZeroMaxTokens;
  SoakObservation seen{.done_calls = 1,
                       .status_code = kInvalid,
                       .status_message = "max_tokens must be > 0, got 0",
                       .started = true};
  EXPECT_THAT(CheckRequest(plan, seen), IsEmpty());
  seen.status_message = "bad request";
  EXPECT_THAT(CheckRequest(plan, seen),
              ElementsAre(HasSubstr("does not start with \"max_tokens\"")));
  seen.status_message = "max_tokens must be > 0, got 0";
  seen.messages = 1;
  EXPECT_THAT(CheckRequest(plan, seen), ElementsAre(HasSubstr("1 messages before")));
  EXPECT_THAT(CheckRequest(plan, OkStream(5, 0, 1)), ::testing::Contains(HasSubstr("status 0")));
}

TEST(SoakCheckTest, NoStreamGetsMoreThanMaxTokens) {
  const SoakObservation seen{.done_calls = 1,
                             .status_code = kCancelled,
                             .tokens = 9,
                             .cancel_sent = true,
                             .started = true};
  EXPECT_THAT(CheckRequest(Plan(SoakKind::kCancel, 5, 8), seen),
              ElementsAre(HasSubstr("more than max_tokens × n = 8")));
}

TEST(SoakCheckTest, SamplesMayEachGenerateMaxTokens) {
  SoakPlan plan = Plan(SoakKind::kCancel, 5, 8);
  plan.request.set_n(3);
  SoakObservation seen{.done_calls = 1,
                       .status_code = kCancelled,
                       .tokens = 24,
                       .cancel_sent = true,
                       .started = true};
  EXPECT_THAT(CheckRequest(plan, seen), ::testing::IsEmpty());
  seen.tokens = 25;
  EXPECT_THAT(CheckRequest(plan, seen), ElementsAre(HasSubstr("more than max_tokens × n = 24")));
}

}  // namespace
}  // namespace kvserve::soak
