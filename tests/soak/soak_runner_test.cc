#include "clients/kvsoak/soak_runner.h"

#include "clients/generate_call.h"
#include "clients/kvsoak/soak_check.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace kvserve::soak {
namespace {

TEST(SoakRunnerTest, ObservationOfCarriesWhatTheChecksRead) {
  GenerateRecord record;
  record.messages = {{0.1, 0}, {0.2, 3}};
  record.tokens = 3;
  record.finish_reason = 1;
  record.has_usage = true;
  record.usage.set_prompt_tokens(4);
  record.usage.set_completion_tokens(3);
  record.message_after_final = true;
  record.request_id_mismatch = true;
  record.cancel_sent = true;
  record.aborted = true;
  record.status = grpc::Status(grpc::StatusCode::CANCELLED, "gone");
  const SoakObservation seen = ObservationOf(record);
  EXPECT_EQ(seen.done_calls, 0);  // the runner counts terminal statuses
  EXPECT_TRUE(seen.started);
  EXPECT_EQ(seen.messages, 2);  // token-less messages count as messages
  EXPECT_EQ(seen.tokens, 3);
  EXPECT_EQ(seen.status_code, static_cast<int32_t>(grpc::StatusCode::CANCELLED));
  EXPECT_EQ(seen.status_message, "gone");
  EXPECT_EQ(seen.finish_reason, 1);
  EXPECT_TRUE(seen.has_usage);
  EXPECT_EQ(seen.usage_prompt_tokens, 4);
  EXPECT_EQ(seen.usage_completion_tokens, 3);
  EXPECT_TRUE(seen.message_after_final);
  EXPECT_FALSE(seen.final_fields_split);
  EXPECT_TRUE(seen.request_id_mismatch);
  EXPECT_TRUE(seen.cancel_sent);
  EXPECT_TRUE(seen.aborted);
}

}  // namespace
}  // namespace kvserve::soak
