// OpenAI request bodies → GenerateRequest (server/openai/openai_request.h) and the response shapes
// (openai_response.h): every mapped field, OpenAI's defaults, and a refusal that names the field.
#include "server/openai/openai_request.h"

#include <string>

#include "absl/status/status.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/openai/openai_response.h"

namespace kvserve::openai {
namespace {

using ::testing::HasSubstr;

TEST(OpenAiRequestTest, CompletionFieldsMapOntoTheGenerateRequest) {
  absl::StatusOr<OpenAiRequest> r = ParseOpenAiRequest(Endpoint::kCompletions, R"({
      "model": "m", "prompt": "hi", "max_tokens": 7, "temperature": 0.5, "top_p": 0.9,
      "top_k": -1, "min_p": 0.05, "seed": 18446744073709551615, "stop": ["a", "bb"], "n": 2,
      "presence_penalty": 0.5, "frequency_penalty": -0.5, "logit_bias": {"65": -100},
      "logprobs": 3, "ignore_eos": true, "min_tokens": 2, "stream": true,
      "stream_options": {"include_usage": true}, "user": "ignored", "unknown": {"x": 1}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model, "m");
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_TRUE(r->logprobs);
  const v1::GenerateRequest& g = r->request;
  EXPECT_EQ(g.text(), "hi");
  EXPECT_EQ(g.max_tokens(), 7);
  EXPECT_FLOAT_EQ(g.sampling().temperature(), 0.5f);
  EXPECT_FLOAT_EQ(g.sampling().top_p(), 0.9f);
  EXPECT_EQ(g.sampling().top_k(), 0);  // -1: off, as vLLM
  EXPECT_FLOAT_EQ(g.sampling().min_p(), 0.05f);
  EXPECT_EQ(g.sampling().seed(), 18446744073709551615ull);
  EXPECT_EQ(g.stop_size(), 2);
  EXPECT_EQ(g.n(), 2);
  EXPECT_FLOAT_EQ(g.sampling().presence_penalty(), 0.5f);
  EXPECT_FLOAT_EQ(g.sampling().frequency_penalty(), -0.5f);
  ASSERT_EQ(g.sampling().logit_bias_size(), 1);
  EXPECT_FLOAT_EQ(g.sampling().logit_bias().at(65), -100.0f);
  EXPECT_EQ(g.logprobs(), 3);
  EXPECT_TRUE(g.ignore_eos());
  EXPECT_EQ(g.min_tokens(), 2);
}

TEST(OpenAiRequestTest, DefaultsAreOpenAisNotTheProtos) {
  absl::StatusOr<OpenAiRequest> completion =
      ParseOpenAiRequest(Endpoint::kCompletions, R"({"prompt": [1, 2, 3]})");
  ASSERT_TRUE(completion.ok()) << completion.status();
  EXPECT_EQ(completion->request.max_tokens(), kDefaultCompletionMaxTokens);
  EXPECT_FLOAT_EQ(completion->request.sampling().temperature(), 1.0f);
  EXPECT_EQ(completion->request.token_ids().ids_size(), 3);
  EXPECT_FALSE(completion->request.has_logprobs());
  EXPECT_FALSE(completion->stream);

  absl::StatusOr<OpenAiRequest> chat = ParseOpenAiRequest(
      Endpoint::kChatCompletions,
      R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"},
                                                     {"type": "text", "text": "b"}]}],
          "temperature": null, "logprobs": true})");
  ASSERT_TRUE(chat.ok()) << chat.status();
  EXPECT_TRUE(chat->max_tokens_from_context);
  EXPECT_FLOAT_EQ(chat->request.sampling().temperature(), 1.0f);  // null is absent
  ASSERT_EQ(chat->request.chat().messages_size(), 1);
  EXPECT_EQ(chat->request.chat().messages(0).content(), "ab");
  EXPECT_EQ(chat->request.logprobs(), 0);  // logprobs without top_logprobs: the token's own only
}

TEST(OpenAiRequestTest, RefusalsNameTheField) {
  struct Case {
    Endpoint endpoint;
    std::string body;
    std::string message;
  };
  const Case cases[] = {
      {Endpoint::kCompletions, "not json", "not valid JSON"},
      {Endpoint::kCompletions, "[]", "object"},
      {Endpoint::kCompletions, "{}", "prompt is required"},
      {Endpoint::kCompletions, R"({"prompt": 5})", "prompt"},
      {Endpoint::kCompletions, R"({"prompt": ["a", "b"]})", "prompt"},
      {Endpoint::kCompletions, R"({"prompt": "x", "max_tokens": "9"})", "max_tokens"},
      {Endpoint::kCompletions, R"({"prompt": "x", "temperature": true})", "temperature"},
      {Endpoint::kCompletions, R"({"prompt": "x", "stream": 1})", "stream"},
      {Endpoint::kCompletions, R"({"prompt": "x", "stop": 3})", "stop"},
      {Endpoint::kCompletions, R"({"prompt": "x", "logit_bias": {"a": 1}})", "logit_bias"},
      {Endpoint::kCompletions, R"({"prompt": "x", "seed": 1.5})", "seed"},
      {Endpoint::kCompletions, R"({"prompt": "x", "echo": true})", "echo"},
      {Endpoint::kCompletions, R"({"prompt": "x", "best_of": 3})", "best_of"},
      {Endpoint::kChatCompletions, R"({"messages": [{"role": "user", "content": 7}]})", "content"},
      {Endpoint::kChatCompletions, R"({"messages": [{"content": "x"}]})", "role"},
      {Endpoint::kChatCompletions, R"({"messages": [], "top_logprobs": 2})", "messages"},
      {Endpoint::kChatCompletions,
       R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})", "top_logprobs"},
      {Endpoint::kChatCompletions,
       R"({"messages": [{"role": "user", "content": "x"}], "tools": [{}]})", "tools"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    absl::StatusOr<OpenAiRequest> r = ParseOpenAiRequest(c.endpoint, c.body);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.message));
  }
}

TEST(OpenAiRequestTest, TokenizeAndDetokenizeBodies) {
  absl::StatusOr<TokenizeBody> text = ParseTokenizeBody(R"({"prompt": "hi"})");
  ASSERT_TRUE(text.ok());
  EXPECT_FALSE(text->chat);
  EXPECT_TRUE(text->text.add_special_tokens());
  absl::StatusOr<TokenizeBody> chat = ParseTokenizeBody(
      R"({"messages": [{"role": "user", "content": "x"}], "add_generation_prompt": false})");
  ASSERT_TRUE(chat.ok()) << chat.status();
  EXPECT_TRUE(chat->chat);
  EXPECT_TRUE(chat->messages.no_generation_prompt());
  EXPECT_FALSE(ParseTokenizeBody(R"({"prompt": 1})").ok());
  absl::StatusOr<v1::DetokenizeRequest> ids = ParseDetokenizeBody(R"({"tokens": [5, 6]})");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->token_ids_size(), 2);
  EXPECT_FALSE(ParseDetokenizeBody(R"({"tokens": "5"})").ok());
}

TEST(OpenAiResponseTest, StatusesAndErrorShape) {
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInternal), 500);
  const nlohmann::json error = ErrorBody(absl::ResourceExhaustedError("queue full"));
  EXPECT_EQ(error["error"]["message"], "queue full");
  EXPECT_EQ(error["error"]["type"], "rate_limit_error");
  EXPECT_TRUE(error["error"]["param"].is_null());
}

TEST(OpenAiResponseTest, ACompletionCollectsEveryChoiceWithLogprobsAndUsage) {
  ByteTokenizer tokenizer;
  ResponseHeader header{.endpoint = Endpoint::kCompletions,
                        .id = "cmpl-1",
                        .created = 5,
                        .model = "m",
                        .logprobs = true};
  Completion completion(header, 2);
  TokenEvent a{.index = 0, .token = 'h', .text = "h"};
  a.has_logprobs = true;
  a.logprobs.token = 'h';
  a.logprobs.logprob = -0.5f;
  completion.Add(tokenizer, a);
  TokenEvent b{.index = 1, .token = 'y', .text = "y", .finish = FinishReason::kLength};
  b.has_logprobs = true;
  b.logprobs.token = 'y';
  completion.Add(tokenizer, b);
  TokenEvent c{.index = 0, .token = 'i', .text = "i", .finish = FinishReason::kStop};
  c.has_logprobs = true;
  c.logprobs.token = 'i';
  completion.Add(tokenizer, c);
  const nlohmann::json body = completion.Body(Usage{.prompt_tokens = 3, .completion_tokens = 3});
  EXPECT_EQ(body["object"], "text_completion");
  ASSERT_EQ(body["choices"].size(), 2u);
  EXPECT_EQ(body["choices"][0]["text"], "hi");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(body["choices"][1]["finish_reason"], "length");
  EXPECT_EQ(body["choices"][0]["logprobs"]["tokens"].size(), 2u);
  EXPECT_EQ(body["choices"][0]["logprobs"]["text_offset"][1], 1);
  EXPECT_FLOAT_EQ(body["choices"][0]["logprobs"]["token_logprobs"][0].get<float>(), -0.5f);
  EXPECT_EQ(body["usage"]["total_tokens"], 6);

  const std::string event = SseEvent(TokenChunk(header, tokenizer, a));
  EXPECT_TRUE(event.rfind("data: {", 0) == 0) << event;
  EXPECT_EQ(event.substr(event.size() - 2), "\n\n");
}

}  // namespace
}  // namespace kvserve::openai
