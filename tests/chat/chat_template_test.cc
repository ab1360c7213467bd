// The public API: ChatTemplate::Parse / Render / RenderJson with the variables transformers
// passes, on real models' templates (tests/chat/templates) and on small ones.
#include "engine/chat/chat_template.h"

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/chat/chat_template_source.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

using ::testing::HasSubstr;

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(KVSERVE_CHAT_TEMPLATES_DIR) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

ChatTemplate MustParse(absl::string_view source) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(source);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : *ChatTemplate::Parse("");
}

const std::vector<ChatMessage> kConversation = {
    {"system", "You are terse."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}};

TEST(ChatTemplateTest, Llama31RendersTheSystemPromptAndTheDefaultDate) {
  const ChatTemplate t = MustParse(Fixture("meta-llama-Llama-3.1-8B-Instruct.jinja"));
  ChatRenderOptions options;
  options.bos_token = "<|begin_of_text|>";
  absl::StatusOr<std::string> text = t.Render(kConversation, options);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
            "You are terse.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplateTest, Llama32TakesTheDateFromStrftimeNow) {
  const ChatTemplate t = MustParse(Fixture("meta-llama-Llama-3.2-3B-Instruct.jinja"));
  ChatRenderOptions options;
  options.now = absl::FromCivil(absl::CivilSecond(2025, 2, 3, 12, 0, 0), absl::UTCTimeZone());
  options.time_zone = absl::UTCTimeZone();
  options.add_generation_prompt = false;
  absl::StatusOr<std::string> text = t.Render({{"user", "Hi"}}, options);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_THAT(*text, HasSubstr("Today Date: 03 Feb 2025\n\n"));
  EXPECT_THAT(*text, ::testing::EndsWith("Hi<|eot_id|>"));
  EXPECT_THAT(*text, ::testing::StartsWith("<|start_header_id|>"));  // no bos_token given
}

TEST(ChatTemplateTest, Qwen25AddsItsDefaultSystemPromptAndTheGenerationPrompt) {
  const ChatTemplate t = MustParse(Fixture("Qwen-Qwen2.5-7B-Instruct.jinja"));
  absl::StatusOr<std::string> with = t.Render({{"user", "Hi"}}, {});
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(*with,
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
            "assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  ChatRenderOptions no_prompt;
  no_prompt.add_generation_prompt = false;
  absl::StatusOr<std::string> without = t.Render({{"user", "Hi"}}, no_prompt);
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(*with, *without + "<|im_start|>assistant\n");
}

TEST(ChatTemplateTest, ExtraVariablesReachTheTemplate) {
  const ChatTemplate t = MustParse(Fixture("Qwen-Qwen3-0.6B.jinja"));
  ChatRenderOptions options;
  options.extra_variables = {{"enable_thinking", false}};
  absl::StatusOr<std::string> text = t.Render({{"user", "Hi"}}, options);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_THAT(*text, ::testing::EndsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
}

TEST(ChatTemplateTest, RenderJsonPassesEveryMessageField) {
  const ChatTemplate t = MustParse(Fixture("Qwen-Qwen3-0.6B.jinja"));
  const nlohmann::ordered_json messages = nlohmann::ordered_json::parse(R"([
      {"role": "user", "content": "Q"},
      {"role": "assistant", "content": "A", "reasoning_content": "because"}])");
  ChatRenderOptions options;
  options.add_generation_prompt = false;
  absl::StatusOr<std::string> text = t.RenderJson(messages, options);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text,
            "<|im_start|>user\nQ<|im_end|>\n"
            "<|im_start|>assistant\n<think>\nbecause\n</think>\n\nA<|im_end|>\n");
  EXPECT_THAT(t.RenderJson(nlohmann::ordered_json::object(), options).status().message(),
              HasSubstr("messages must be a JSON array"));
}

TEST(ChatTemplateTest, BosAndEosAreUndefinedUnlessGiven) {
  const ChatTemplate t = MustParse("{{ bos_token is defined }}{{ eos_token }}|{{ tools }}");
  EXPECT_EQ(*t.Render({}, {}), "False|None");
  ChatRenderOptions options;
  options.bos_token = "<s>";
  options.eos_token = "</s>";
  EXPECT_EQ(*t.Render({}, options), "True</s>|None");
}

TEST(ChatTemplateTest, RaiseExceptionsMessageReachesTheCallerUnchanged) {
  const ChatTemplate t = MustParse(Fixture("google-gemma-2-2b-it.jinja"));
  const absl::Status status = t.Render(kConversation, {}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "System role not supported");
  const absl::Status alternation = t.Render({{"user", "a"}, {"user", "b"}}, {}).status();
  EXPECT_EQ(alternation.message(),
            "Conversation roles must alternate user/assistant/user/assistant/...");
}

TEST(ChatTemplateTest, ErrorsArePrefixedAndNameTheLine) {
  const absl::Status parse = ChatTemplate::Parse("ok\n{% include 'x' %}").status();
  EXPECT_EQ(parse.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parse.message(),
            "chat template: line 2: unsupported construct '{% include %}': including other "
            "templates is not supported");
  const ChatTemplate t = MustParse("{% for m in messages %}\n{{ m.content.nope() }}{% endfor %}");
  EXPECT_EQ(t.Render({{"user", "x"}}, {}).status().message(),
            "chat template: line 2: 'str object' has no attribute 'nope'");
}

TEST(ChatTemplateTest, DefaultChatMlTemplate) {
  const ChatTemplate t = MustParse(DefaultChatMlTemplate());
  absl::StatusOr<std::string> text = t.Render({{"system", "S"}, {"user", "U"}}, {});
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplateTest, EveryFixtureParses) {
  for (const char* name :
       {"Qwen-Qwen2.5-7B-Instruct.jinja", "Qwen-Qwen3-0.6B.jinja",
        "meta-llama-Llama-3.1-8B-Instruct.jinja", "meta-llama-Llama-3.2-3B-Instruct.jinja",
        "meta-llama-Llama-3.3-70B-Instruct.jinja", "mistralai-Mistral-Nemo-Instruct-2407.jinja",
        "Mistral-Small-3.2-24B-Instruct-2506.jinja", "microsoft-Phi-3.5-mini-instruct.jinja",
        "google-gemma-2-2b-it.jinja", "HuggingFaceTB-SmolLM3-3B.jinja"}) {
    EXPECT_TRUE(ChatTemplate::Parse(Fixture(name)).ok()) << name;
  }
}

TEST(ChatTemplateTest, ConcurrentRendersOfOneTemplateAgree) {
  const ChatTemplate t = MustParse(Fixture("Qwen-Qwen3-0.6B.jinja"));
  const std::string expected = *t.Render(kConversation, {});
  std::vector<std::string> results(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      const ChatTemplate copy = t;  // copies share the parsed tree
      for (int k = 0; k < 50; ++k) {
        absl::StatusOr<std::string> text = copy.Render(kConversation, {});
        results[i] = text.ok() ? *text : std::string(text.status().message());
        if (results[i] != expected) return;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const std::string& r : results) EXPECT_EQ(r, expected);
}

}  // namespace
}  // namespace kvserve
