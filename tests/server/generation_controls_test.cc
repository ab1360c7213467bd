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

namespace kvserve {
namespace {

v1::ChatPrompt TwoTurns() {
  v1::ChatPrompt chat;
  v1::ChatMessage* system = chat.add_messages();
  system->set_role("system");
  system->set_content("Be brief.");
  v1::ChatMessage* user = chat.add_messages();
  user->set_role("user");
  user->set_content("Hi!");
  return chat;
}

TEST_F(GenerationControlsTest, ChatMessagesRenderWithTheTemplateAndGenerate) {
  Start();
  EXPECT_TRUE(GetInfo(*stub_).has_chat_template());
  grpc::ClientContext c1;
  v1::RenderedChat rendered;
  ASSERT_TRUE(stub_->RenderChat(&c1, TwoTurns(), &rendered).ok());
  // The presets' built-in ChatML.
  EXPECT_EQ(rendered.text(),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(rendered.token_ids_size(), static_cast<int>(rendered.text().size()));  // bytes

  v1::ChatPrompt no_prompt = TwoTurns();
  no_prompt.set_no_generation_prompt(true);
  grpc::ClientContext c2;
  v1::RenderedChat bare;
  ASSERT_TRUE(stub_->RenderChat(&c2, no_prompt, &bare).ok());
  EXPECT_EQ(bare.text(), rendered.text().substr(0, rendered.text().size() - 22));

  v1::GenerateRequest request;
  *request.mutable_chat() = TwoTurns();
  request.set_max_tokens(8);
  request.set_ignore_eos(true);
  const StreamResult run = RunGenerate(*stub_, request);
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.messages.back().usage().prompt_tokens(), rendered.token_ids_size());
  // The same ids sent as a token prompt give the same tokens.
  v1::GenerateRequest as_ids;
  as_ids.mutable_token_ids()->mutable_ids()->CopyFrom(rendered.token_ids());
  as_ids.set_max_tokens(8);
  as_ids.set_ignore_eos(true);
  EXPECT_EQ(RunGenerate(*stub_, as_ids).tokens, run.tokens);
}

TEST_F(GenerationControlsTest, BadChatPromptsAreRefusedSayingWhy) {
  Start();
  v1::GenerateRequest request;
  request.mutable_chat();  // no messages
  request.set_max_tokens(4);
  const StreamResult empty = RunGenerate(*stub_, request);
  EXPECT_EQ(empty.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(empty.status.error_message(), StartsWith("chat.messages is empty"));
  grpc::ClientContext c;
  v1::RenderedChat rendered;
  const grpc::Status status = stub_->RenderChat(&c, v1::ChatPrompt(), &rendered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace kvserve

namespace kvserve {
namespace {

TEST_F(GenerationControlsTest, LogprobsAndPromptLogprobsComeWithTheirTexts) {
  Start();
  v1::GenerateRequest request = TextRequest("logprobs", 6);
  request.set_logprobs(3);
  request.set_prompt_logprobs(2);
  const StreamResult run = RunGenerate(*stub_, request);
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  int prompt_entries = 0;
  std::vector<v1::TokenLogprob> logprobs;
  for (const v1::GenerateResponse& m : run.messages) {
    prompt_entries += m.prompt_logprobs_size();
    ASSERT_EQ(m.logprobs_size(), m.token_ids_size());
    for (int i = 0; i < m.logprobs_size(); ++i) {
      EXPECT_EQ(m.logprobs(i).token_id(), m.token_ids(i));
      logprobs.push_back(m.logprobs(i));
    }
  }
  ASSERT_TRUE(run.messages.front().prompt_logprobs_size() > 0);
  EXPECT_EQ(prompt_entries, 7);  // "logprobs" has 8 byte tokens: every one after the first
  EXPECT_EQ(run.messages.front().prompt_logprobs(0).token_id(), 'o');
  EXPECT_EQ(run.messages.front().prompt_logprobs(0).text(), "o");
  EXPECT_EQ(run.messages.front().prompt_logprobs(0).top_size(), 2);
  ASSERT_EQ(logprobs.size(), 6u);
  for (const v1::TokenLogprob& lp : logprobs) {
    // Greedy: the chosen token is the most likely one of the raw distribution.
    EXPECT_EQ(lp.rank(), 1);
    ASSERT_EQ(lp.top_size(), 3);
    EXPECT_EQ(lp.top(0).token_id(), lp.token_id());
    EXPECT_FLOAT_EQ(lp.top(0).logprob(), lp.logprob());
    EXPECT_GE(lp.top(0).logprob(), lp.top(1).logprob());
    EXPECT_LE(lp.logprob(), 0.0f);
  }
}

TEST_F(GenerationControlsTest, LogitBiasForcesATokenAndPenaltiesAreAccepted) {
  Start();
  v1::GenerateRequest request = TextRequest("bias", 5);
  (*request.mutable_sampling()->mutable_logit_bias())['Q'] = 100.0f;
  const StreamResult forced = RunGenerate(*stub_, request);
  ASSERT_TRUE(forced.status.ok()) << forced.status.error_message();
  EXPECT_EQ(forced.text, "QQQQQ");
  request.mutable_sampling()->set_repetition_penalty(1.3f);
  request.mutable_sampling()->set_frequency_penalty(2.0f);
  request.mutable_sampling()->set_presence_penalty(-2.0f);
  request.mutable_sampling()->set_min_p(0.1f);
  EXPECT_TRUE(RunGenerate(*stub_, request).status.ok());
}

TEST_F(GenerationControlsTest, BadSamplingControlsNameTheirField) {
  Start();
  std::vector<std::pair<v1::GenerateRequest, std::string>> bad;
  auto with = [](auto set) {
    v1::GenerateRequest r = TextRequest("x", 4);
    set(r);
    return r;
  };
  bad.push_back({with([](auto& r) { r.mutable_sampling()->set_min_p(1.5f); }), "sampling.min_p"});
  bad.push_back({with([](auto& r) { r.mutable_sampling()->set_repetition_penalty(-1.0f); }),
                 "sampling.repetition_penalty"});
  bad.push_back({with([](auto& r) { r.mutable_sampling()->set_presence_penalty(2.5f); }),
                 "sampling.presence_penalty"});
  bad.push_back({with([](auto& r) { r.mutable_sampling()->set_frequency_penalty(NAN); }),
                 "sampling.frequency_penalty"});
  bad.push_back({with([](auto& r) { (*r.mutable_sampling()->mutable_logit_bias())[5] = 101.0f; }),
                 "sampling.logit_bias[5]"});
  bad.push_back({with([](auto& r) { (*r.mutable_sampling()->mutable_logit_bias())[999] = 1.0f; }),
                 "sampling.logit_bias[999]"});
  bad.push_back({with([](auto& r) { r.set_min_tokens(5); }), "min_tokens"});
  bad.push_back({with([](auto& r) { r.set_logprobs(21); }), "logprobs"});
  bad.push_back({with([](auto& r) { r.set_prompt_logprobs(-1); }), "prompt_logprobs"});
  for (const auto& [request, field] : bad) {
    const StreamResult result = RunGenerate(*stub_, request);
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_THAT(result.status.error_message(), StartsWith(field));
  }
}

}  // namespace
}  // namespace kvserve
