// The OpenAI-compatible HTTP front end (server/openai/http_front_end.h) in-process, beside the
// gRPC service on the same scheduler: replies in OpenAI's shapes, the same tokens as gRPC, every
// refusal with its status, and a cache that balances after finished, dropped and refused requests.
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "security/bearer_token.h"
#include "tests/server/generate_client.h"
#include "tests/server/http_client.h"
#include "tests/server/in_process_server.h"

namespace kvserve {
namespace {

using ::nlohmann::json;
using ::testing::HasSubstr;
using testing::HttpCall;
using testing::HttpReply;
using testing::SseData;

class HttpFrontEndTest : public testing::InProcessServerTest {
 protected:
  void StartHttp(KvServerOptions options = {}, const std::string& model = "micro") {
    options.http_port = 0;
    options.served_model_name = model;
    server_ = testing::StartInProcessServer(model, Small(), options);
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(server_->http_port(), 0);
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::Generation::NewStub(channel_);
  }
  HttpReply Post(const std::string& path, const json& body,
                 const std::vector<std::string>& headers = {}) {
    return HttpCall(server_->http_port(), "POST", path, body.dump(), headers);
  }
  static json Parse(const std::string& text) {
    json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(doc.is_discarded()) << text;
    return doc;
  }
  void ExpectIdleCache() {
    v1::ServerInfo info;
    EXPECT_TRUE(testing::WaitForIdleCache(*stub_, absl::Seconds(10), &info)) << info.DebugString();
  }
};

TEST_F(HttpFrontEndTest, CompletionMatchesTheGrpcTokensForTheSameGreedyRequest) {
  StartHttp();
  const HttpReply reply = Post("/v1/completions", {{"model", "micro"},
                                                   {"prompt", "Hello there"},
                                                   {"max_tokens", 12},
                                                   {"temperature", 0},
                                                   {"ignore_eos", true}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_TRUE(reply.HasHeader("content-type: application/json")) << reply.head;
  const json body = Parse(reply.body);
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_TRUE(absl::StartsWith(body["id"].get<std::string>(), "cmpl-")) << body;
  EXPECT_EQ(body["model"], "micro");
  ASSERT_EQ(body["choices"].size(), 1u);
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["usage"]["completion_tokens"], 12);
  EXPECT_EQ(body["usage"]["total_tokens"].get<int>(),
            body["usage"]["prompt_tokens"].get<int>() + 12);

  v1::GenerateRequest request = testing::TextRequest("Hello there", 12);
  const testing::StreamResult grpc = testing::RunGenerate(*stub_, request);
  ASSERT_TRUE(grpc.status.ok()) << grpc.status.error_message();
  EXPECT_EQ(body["choices"][0]["text"].get<std::string>(), grpc.text);
  ExpectIdleCache();
}

TEST_F(HttpFrontEndTest, StreamedCompletionIsSseChunksEndingWithUsageAndDone) {
  StartHttp();
  const json request = {{"prompt", "Stream me"}, {"max_tokens", 9},
                        {"temperature", 0},      {"ignore_eos", true},
                        {"stream", true},        {"stream_options", {{"include_usage", true}}}};
  const HttpReply streamed = Post("/v1/completions", request);
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_TRUE(streamed.chunked);
  EXPECT_TRUE(streamed.HasHeader("content-type: text/event-stream")) << streamed.head;
  const std::vector<std::string> events = SseData(streamed.body);
  ASSERT_GE(events.size(), 3u) << streamed.body;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  int tokens = 0;
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    const json chunk = Parse(events[i]);
    EXPECT_EQ(chunk["object"], "text_completion");
    text += chunk["choices"][0]["text"].get<std::string>();
    ++tokens;
    const bool last = i + 3 == events.size();
    EXPECT_EQ(chunk["choices"][0]["finish_reason"], last ? json("length") : json(nullptr));
  }
  EXPECT_EQ(tokens, 9);
  const json usage = Parse(events[events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 9);

  json whole = request;
  whole["stream"] = false;
  const HttpReply unstreamed = Post("/v1/completions", whole);
  ASSERT_EQ(unstreamed.status, 200);
  EXPECT_EQ(Parse(unstreamed.body)["choices"][0]["text"].get<std::string>(), text);
  ExpectIdleCache();
}

TEST_F(HttpFrontEndTest, ChatStreamStartsWithTheRoleAndNSamplesEachFinish) {
  StartHttp();
  const HttpReply reply =
      Post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Hi!"}}}},
                                    {"max_tokens", 6},
                                    {"n", 2},
                                    {"seed", 7},
                                    {"stream", true}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  const std::vector<std::string> events = SseData(reply.body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  int roles = 0;
  int finished[2] = {0, 0};
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json chunk = Parse(events[i]);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    const json& choice = chunk["choices"][0];
    const int index = choice["index"].get<int>();
    ASSERT_TRUE(index == 0 || index == 1) << chunk;
    if (choice["delta"].contains("role")) {
      EXPECT_EQ(choice["delta"]["role"], "assistant");
      EXPECT_EQ(finished[index], 0) << "a role chunk after the choice finished";
      ++roles;
    }
    if (!choice["finish_reason"].is_null()) ++finished[index];
  }
  EXPECT_EQ(roles, 2);
  EXPECT_EQ(finished[0], 1);
  EXPECT_EQ(finished[1], 1);

  const HttpReply whole =
      Post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Hi!"}}}},
                                    {"max_completion_tokens", 5},
                                    {"logprobs", true},
                                    {"top_logprobs", 2}});
  ASSERT_EQ(whole.status, 200) << whole.body;
  const json body = Parse(whole.body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  const json& content = body["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), body["usage"]["completion_tokens"].get<size_t>()) << body;
  EXPECT_EQ(content[0]["top_logprobs"].size(), 2u);
  EXPECT_LE(content[0]["logprob"].get<double>(), 0.0);
  ExpectIdleCache();
}

TEST_F(HttpFrontEndTest, BadRequestsGetTheirStatusAndOpenAiErrorShape) {
  StartHttp();
  const int port = server_->http_port();
  struct Case {
    std::string method, path, body;
    int status;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"POST", "/v1/completions", "{\"prompt\": ", 400, "JSON"},
      {"POST", "/v1/completions", "[1, 2]", 400, "object"},
      {"POST", "/v1/completions", R"({"prompt": "x", "temperature": "hot"})", 400, "temperature"},
      {"POST", "/v1/completions", R"({"prompt": "x", "max_tokens": 0})", 400, "max_tokens"},
      {"POST", "/v1/completions", R"({"prompt": "x", "max_tokens": 100000})", 400, "context"},
      {"POST", "/v1/completions", R"({"prompt": "x", "model": "gpt-4"})", 404, "gpt-4"},
      {"POST", "/v1/completions", "{\"prompt\": \"bad \xff\xfe utf-8\"}", 400, "JSON"},
      {"POST", "/v1/chat/completions", R"({"messages": "hi"})", 400, "messages"},
      {"POST", "/v1/nothing", "{}", 404, "/v1/nothing"},
      {"GET", "/v1/completions", "", 405, "POST"},
      {"POST", "/detokenize", R"({"tokens": [1, 999999]})", 400, "vocabulary"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    const HttpReply reply = HttpCall(port, c.method, c.path, c.body);
    EXPECT_EQ(reply.status, c.status) << reply.body;
    const json body = Parse(reply.body);
    ASSERT_TRUE(body.contains("error")) << reply.body;
    EXPECT_THAT(body["error"]["message"].get<std::string>(), HasSubstr(c.message));
    EXPECT_TRUE(body["error"].contains("type"));
  }
  // Over the body limit (the server's max message size): libevent's own 413.
  const std::string huge = absl::StrCat(R"({"prompt": ")", std::string(5 << 20, 'a'), R"("})");
  EXPECT_EQ(HttpCall(port, "POST", "/v1/completions", huge).status, 413);
  // Still serving, nothing held.
  EXPECT_EQ(HttpCall(port, "GET", "/health").status, 200);
  ExpectIdleCache();
}

TEST_F(HttpFrontEndTest, ModelsHealthTokenizeAndDetokenize) {
  StartHttp();
  const HttpReply models = HttpCall(server_->http_port(), "GET", "/v1/models");
  ASSERT_EQ(models.status, 200);
  const json list = Parse(models.body);
  EXPECT_EQ(list["object"], "list");
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_EQ(list["data"][0]["id"], "micro");

  const HttpReply tokenized =
      Post("/tokenize", {{"prompt", "héllo"}, {"add_special_tokens", false}});
  ASSERT_EQ(tokenized.status, 200) << tokenized.body;
  const json ids = Parse(tokenized.body);
  EXPECT_EQ(ids["count"].get<size_t>(), ids["tokens"].size());
  EXPECT_EQ(ids["count"], 6);  // the byte tokenizer: é is two bytes
  const HttpReply detokenized = Post("/detokenize", {{"tokens", ids["tokens"]}});
  ASSERT_EQ(detokenized.status, 200) << detokenized.body;
  EXPECT_EQ(Parse(detokenized.body)["prompt"], "héllo");

  const HttpReply chat = Post("/tokenize", {{"messages", {{{"role", "user"}, {"content", "x"}}}}});
  ASSERT_EQ(chat.status, 200) << chat.body;
  EXPECT_GT(Parse(chat.body)["count"].get<int>(), 1);
}

TEST_F(HttpFrontEndTest, AClientThatHangsUpMidStreamIsCancelledAndItsPagesFreed) {
  StartHttp({}, "tiny");
  const int port = server_->http_port();
  for (const bool stream : {true, false}) {
    SCOPED_TRACE(stream ? "streaming" : "not streaming");
    const int fd = testing::ConnectLocal(port);
    ASSERT_GE(fd, 0);
    const json request = {
        {"prompt", "long"}, {"max_tokens", 3000}, {"ignore_eos", true}, {"stream", stream}};
    ASSERT_TRUE(
        testing::SendAll(fd, testing::RequestBytes("POST", "/v1/completions", request.dump())));
    if (stream) {
      std::string seen;  // read until the first token's chunk came: the request is running
      char buffer[4096];
      while (!absl::StrContains(seen, "\"text\"")) {
        const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
        ASSERT_GT(n, 0) << seen;
        seen.append(buffer, static_cast<size_t>(n));
      }
      ASSERT_TRUE(absl::StartsWith(seen, "HTTP/1.1 200")) << seen;
    } else {
      // Hang up once the request runs (stats are published after each step, so an earlier look
      // could see the idle cache from before it was admitted).
      const absl::Time end = absl::Now() + absl::Seconds(10);
      while (server_->scheduler().stats().running == 0 && absl::Now() < end) {
        absl::SleepFor(absl::Milliseconds(1));
      }
      ASSERT_EQ(server_->scheduler().stats().running, 1);
    }
    close(fd);
    // The client may see its first token before the step that made it is published in the stats
    // (sinks are fed before OnStep), so wait for the cancelled request to be counted first; then
    // the cache is idle long before 3000 tokens would have been generated.
    const absl::Time end = absl::Now() + absl::Seconds(10);
    while (server_->scheduler().stats().requests_failed < (stream ? 1 : 2) && absl::Now() < end) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    ExpectIdleCache();
    const SchedulerStats stats = server_->scheduler().stats();
    EXPECT_GE(stats.requests_failed, stream ? 1 : 2)
        << "finished " << stats.requests_finished << " generated " << stats.generated_tokens;
  }
  // And the server still serves.
  EXPECT_EQ(Post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 2}}).status, 200);
}

TEST_F(HttpFrontEndTest, ASlowLorisConnectionDoesNotStopOthers) {
  StartHttp();
  const int port = server_->http_port();
  const int slow = testing::ConnectLocal(port);
  ASSERT_GE(slow, 0);
  ASSERT_TRUE(testing::SendAll(slow, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Le"));
  const HttpReply reply = Post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 3}});
  EXPECT_EQ(reply.status, 200) << reply.body;
  // Headers over the limit are refused, not buffered without end.
  const int big = testing::ConnectLocal(port);
  ASSERT_GE(big, 0);
  std::string headers = "GET /health HTTP/1.1\r\n";
  for (int i = 0; i < 4000; ++i)
    absl::StrAppend(&headers, "X-Filler-", i, ": ", std::string(20, 'y'), "\r\n");
  testing::SendAll(big, absl::StrCat(headers, "\r\n"));
  const HttpReply refused = testing::ParseReply(testing::ReadToClose(big));
  EXPECT_NE(refused.status, 200);
  close(big);
  close(slow);
  EXPECT_EQ(HttpCall(port, "GET", "/health").status, 200);
}

TEST_F(HttpFrontEndTest, TheBearerTokenIsRequiredExceptOnHealth) {
  absl::StatusOr<BearerTokenVerifier> verifier = BearerTokenVerifier::Create("s3cret-token");
  ASSERT_TRUE(verifier.ok());
  KvServerOptions options;
  options.auth = std::make_shared<const BearerTokenVerifier>(*verifier);
  StartHttp(options);
  const json request = {{"prompt", "x"}, {"max_tokens", 2}};
  const HttpReply without = Post("/v1/completions", request);
  EXPECT_EQ(without.status, 401) << without.body;
  EXPECT_EQ(Parse(without.body)["error"]["type"], "authentication_error");
  EXPECT_EQ(Post("/v1/completions", request, {"Authorization: Bearer wrong"}).status, 401);
  EXPECT_EQ(Post("/v1/completions", request, {"Authorization: Bearer s3cret-token"}).status, 200);
  EXPECT_EQ(HttpCall(server_->http_port(), "GET", "/health").status, 200);
}

TEST_F(HttpFrontEndTest, DrainingRefusesNewRequestsWith503AndEndsRunningStreams) {
  StartHttp({}, "tiny");
  const int port = server_->http_port();
  const int fd = testing::ConnectLocal(port);
  ASSERT_GE(fd, 0);
  const json request = {
      {"prompt", "long"}, {"max_tokens", 3000}, {"ignore_eos", true}, {"stream", true}};
  ASSERT_TRUE(
      testing::SendAll(fd, testing::RequestBytes("POST", "/v1/completions", request.dump())));
  char first[64];
  ASSERT_GT(recv(fd, first, sizeof(first), MSG_PEEK), 0);
  std::thread drain([&] { server_->Shutdown(absl::Milliseconds(300), absl::Seconds(1)); });
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(HttpCall(port, "GET", "/health").status, 503);
  EXPECT_EQ(Post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 2}}).status, 503);
  // The running stream ends with an error event and [DONE], not a cut connection.
  const HttpReply streamed = testing::ParseReply(testing::ReadToClose(fd));
  close(fd);
  drain.join();
  ASSERT_EQ(streamed.status, 200);
  const std::vector<std::string> events = SseData(streamed.body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_THAT(events[events.size() - 2], HasSubstr("\"error\""));
}

}  // namespace
}  // namespace kvserve
