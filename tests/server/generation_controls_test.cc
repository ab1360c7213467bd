// The generation controls of the Generation service end to end, in-process on the micro model:
// stop strings, n samples, Tokenize and Detokenize, and their refusals.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/generate_client.h"
#include "tests/server/in_process_server.h"

namespace kvserve {
namespace {

using ::kvserve::testing::GetInfo;
using ::kvserve::testing::RunGenerate;
using ::kvserve::testing::StreamResult;
using ::kvserve::testing::TextRequest;
using ::testing::StartsWith;

using GenerationControlsTest = kvserve::testing::InProcessServerTest;

// Per sample index: its tokens, text, and its finishing message.
struct SampleStreams {
  std::map<int32_t, std::vector<int32_t>> tokens;
  std::map<int32_t, std::string> text;
  std::map<int32_t, v1::GenerateResponse> last;
};

SampleStreams BySample(const StreamResult& result) {
  SampleStreams s;
  for (const v1::GenerateResponse& m : result.messages) {
    s.tokens[m.index()].insert(s.tokens[m.index()].end(), m.token_ids().begin(),
                               m.token_ids().end());
    s.text[m.index()] += m.text();
    EXPECT_FALSE(s.last.contains(m.index())) << "sample " << m.index() << " after its finish";
    if (m.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) s.last[m.index()] = m;
  }
  return s;
}

TEST_F(GenerationControlsTest, StopStringEndsTheTextBeforeItEvenAcrossTokens) {
  Start();
  const StreamResult free_run = RunGenerate(*stub_, TextRequest("stop strings", 32));
  ASSERT_TRUE(free_run.status.ok());
  ASSERT_GE(free_run.text.size(), 12u);
  // Three bytes (micro's tokens are bytes) starting at byte 6: the stop spans three tokens.
  const std::string stop = free_run.text.substr(6, 3);
  const size_t at = free_run.text.find(stop);
  v1::GenerateRequest request = TextRequest("stop strings", 32);
  request.add_stop("never-in-the-output-\x01");
  request.add_stop(stop);
  const StreamResult stopped = RunGenerate(*stub_, request);
  ASSERT_TRUE(stopped.status.ok()) << stopped.status.error_message();
  EXPECT_EQ(stopped.text, free_run.text.substr(0, at));
  const v1::GenerateResponse& last = stopped.messages.back();
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(last.stop_string(), stop);
  // The tokens run up to the one that completed the stop string.
  EXPECT_EQ(stopped.tokens.size(), at + stop.size());
  EXPECT_EQ(last.usage().completion_tokens(), static_cast<int32_t>(at + stop.size()));

  request.set_include_stop_str_in_output(true);
  const StreamResult kept = RunGenerate(*stub_, request);
  ASSERT_TRUE(kept.status.ok());
  EXPECT_EQ(kept.text, free_run.text.substr(0, at + stop.size()));
}

TEST_F(GenerationControlsTest, StopTokenIsReportedAndRendersNoText) {
  Start();
  const StreamResult free_run = RunGenerate(*stub_, TextRequest("a stop token", 16));
  ASSERT_TRUE(free_run.status.ok());
  ASSERT_GE(free_run.tokens.size(), 4u);
  const int32_t stop = free_run.tokens[3];
  const size_t first =
      std::find(free_run.tokens.begin(), free_run.tokens.end(), stop) - free_run.tokens.begin();
  v1::GenerateRequest request = TextRequest("a stop token", 16);
  request.add_stop_token_ids(stop);
  const StreamResult stopped = RunGenerate(*stub_, request);
  ASSERT_TRUE(stopped.status.ok());
  EXPECT_EQ(stopped.messages.back().stop_token_id(), stop);
  EXPECT_EQ(stopped.tokens.size(), first + 1);
  EXPECT_EQ(stopped.text, free_run.text.substr(0, first));  // the stop id's byte is not text
}

TEST_F(GenerationControlsTest, NSamplesShareThePromptAndEachEndsOnce) {
  Start();
  v1::GenerateRequest request = TextRequest("four samples of one prompt", 12);
  request.set_n(4);
  request.mutable_sampling()->set_temperature(1.5f);
  request.mutable_sampling()->set_seed(7);
  const StreamResult run = RunGenerate(*stub_, request);
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  const SampleStreams samples = BySample(run);
  ASSERT_EQ(samples.tokens.size(), 4u);
  std::set<std::vector<int32_t>> distinct;
  for (const auto& [index, tokens] : samples.tokens) {
    EXPECT_EQ(tokens.size(), 12u) << index;
    EXPECT_TRUE(samples.last.contains(index)) << index;
    distinct.insert(tokens);
  }
  EXPECT_GE(distinct.size(), 3u) << "samples with their own seeds should differ";
  // One usage, on the stream's last message only: the prompt once, every sample's tokens.
  for (size_t i = 0; i + 1 < run.messages.size(); ++i) EXPECT_FALSE(run.messages[i].has_usage());
  ASSERT_TRUE(run.messages.back().has_usage());
  EXPECT_EQ(run.messages.back().usage().completion_tokens(), 48);
  EXPECT_EQ(run.messages.back().usage().prompt_tokens(), 26);
  // Same seed, same four outputs; sample 0 is what n = 1 gives with that seed.
  const SampleStreams again = BySample(RunGenerate(*stub_, request));
  EXPECT_EQ(again.tokens, samples.tokens);
  request.set_n(1);
  const StreamResult one = RunGenerate(*stub_, request);
  EXPECT_EQ(one.tokens, samples.tokens.at(0));
  v1::ServerInfo info;
  EXPECT_TRUE(WaitForIdleCache(*stub_, absl::Seconds(5), &info)) << info.DebugString();
  EXPECT_EQ(info.shared_pages(), 0);
}

TEST_F(GenerationControlsTest, NSamplesShowSharedPagesWhileRunningAndCancelFreesThemAll) {
  Start("tiny");
  v1::GenerateRequest request = TextRequest(std::string(100, 'x'), 2000);
  request.set_n(3);
  int64_t shared_seen = 0;
  const StreamResult run =
      RunGenerate(*stub_, request, absl::Seconds(60), [&](const v1::GenerateResponse& m, int) {
        if (m.token_ids_size() == 0) return true;
        shared_seen = std::max(shared_seen, GetInfo(*stub_).shared_pages());
        return shared_seen == 0;  // cancel once sharing was seen
      });
  EXPECT_EQ(run.status.error_code(), grpc::StatusCode::CANCELLED);
  // The prompt's 100 tokens fill 6 pages of 16 (the 7th partly): the full ones stay shared.
  EXPECT_GE(shared_seen, 6);
  v1::ServerInfo info;
  EXPECT_TRUE(WaitForIdleCache(*stub_, absl::Seconds(5), &info)) << info.DebugString();
  EXPECT_EQ(info.shared_pages(), 0);
}

TEST_F(GenerationControlsTest, BadControlsAreInvalidArgumentNamingTheField) {
  Start();
  std::vector<std::pair<v1::GenerateRequest, std::string>> bad;
  {
    v1::GenerateRequest r = TextRequest("x", 4);
    r.set_n(17);
    bad.push_back({r, "n must be in [1, 16]"});
  }
  {
    v1::GenerateRequest r = TextRequest("x", 4);
    r.set_n(-1);
    bad.push_back({r, "n must be"});
  }
  {
    v1::GenerateRequest r = TextRequest("x", 4);
    r.add_stop("");
    bad.push_back({r, "stop[0] has 0 bytes"});
  }
  {
    v1::GenerateRequest r = TextRequest("x", 4);
    r.add_stop("ok");
    r.add_stop(std::string(257, 'a'));
    bad.push_back({r, "stop[1] has 257 bytes"});
  }
  {
    v1::GenerateRequest r = TextRequest("x", 4);
    for (int i = 0; i < 17; ++i) r.add_stop(absl::StrCat("s", i));
    bad.push_back({r, "stop has 17 strings"});
  }
  for (const auto& [request, message] : bad) {
    const StreamResult result = RunGenerate(*stub_, request);
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << message;
    EXPECT_THAT(result.status.error_message(), StartsWith(message));
    EXPECT_TRUE(result.messages.empty());
  }
}

TEST_F(GenerationControlsTest, TokenizeMatchesATextPromptAndDetokenizeInvertsIt) {
  Start();
  const std::string text = "h\xC3\xA9llo \xF0\x9F\x99\x82";  // héllo 🙂
  grpc::ClientContext c1;
  v1::TokenizeRequest tokenize;
  tokenize.set_text(text);
  v1::TokenizeResponse ids;
  ASSERT_TRUE(stub_->Tokenize(&c1, tokenize, &ids).ok());
  // micro is byte-level: one id per byte; a multi-byte character's pieces are each U+FFFD.
  ASSERT_EQ(ids.token_ids_size(), static_cast<int>(text.size()));
  EXPECT_EQ(ids.token_ids(0), 'h');
  EXPECT_EQ(ids.pieces(0), "h");
  EXPECT_EQ(ids.pieces(1), "\xEF\xBF\xBD");
  // The ids a text prompt gets: the usage counts them.
  const StreamResult run = RunGenerate(*stub_, TextRequest(text, 1));
  EXPECT_EQ(run.messages.back().usage().prompt_tokens(), ids.token_ids_size());

  grpc::ClientContext c2;
  tokenize.set_add_special_tokens(true);
  v1::TokenizeResponse with_bos;
  ASSERT_TRUE(stub_->Tokenize(&c2, tokenize, &with_bos).ok());
  ASSERT_EQ(with_bos.token_ids_size(), ids.token_ids_size() + 1);
  EXPECT_EQ(with_bos.token_ids(0), GetInfo(*stub_).bos_token_id());

  grpc::ClientContext c3;
  v1::DetokenizeRequest detokenize;
  detokenize.mutable_token_ids()->CopyFrom(with_bos.token_ids());
  v1::DetokenizeResponse back;
  ASSERT_TRUE(stub_->Detokenize(&c3, detokenize, &back).ok());
  EXPECT_EQ(back.text(), text);  // BOS has no text

  grpc::ClientContext c4;
  detokenize.add_token_ids(259);
  const grpc::Status refused = stub_->Detokenize(&c4, detokenize, &back);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(),
              StartsWith(absl::StrCat("token_ids[", with_bos.token_ids_size(), "] is 259")));

  grpc::ClientContext c5;
  v1::DetokenizeRequest split;
  split.add_token_ids(0xC3);  // half of é
  ASSERT_TRUE(stub_->Detokenize(&c5, split, &back).ok());
  EXPECT_EQ(back.text(), "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace kvserve
