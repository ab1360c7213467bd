// Loading a checkpoint's chat template and special tokens the way transformers does.
#include "engine/chat/chat_template_source.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ChatTemplateSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("chat_source_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }

  fs::path dir_;
};

TEST_F(ChatTemplateSourceTest, StringTemplateAndPlainTokens) {
  Write("tokenizer_config.json",
        R"({"chat_template": "{{ bos_token }}hi", "bos_token": "<s>", "eos_token": "</s>"})");
  absl::StatusOr<std::optional<ChatTemplateSource>> source = LoadChatTemplate(dir_);
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_TRUE(source->has_value());
  EXPECT_EQ((*source)->text, "{{ bos_token }}hi");
  EXPECT_EQ((*source)->origin, (dir_ / "tokenizer_config.json").string());
  EXPECT_EQ((*source)->tokens.bos_token, "<s>");
  EXPECT_EQ((*source)->tokens.eos_token, "</s>");
}

TEST_F(ChatTemplateSourceTest, ListOfNamedTemplatesTakesDefault) {
  Write("tokenizer_config.json", R"({"chat_template": [
      {"name": "tool_use", "template": "TOOLS"}, {"name": "default", "template": "DEFAULT"}]})");
  absl::StatusOr<std::optional<ChatTemplateSource>> source = LoadChatTemplate(dir_);
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_TRUE(source->has_value());
  EXPECT_EQ((*source)->text, "DEFAULT");
}

TEST_F(ChatTemplateSourceTest, ListWithoutDefaultIsAnErrorNamingTheTemplates) {
  Write("tokenizer_config.json", R"({"chat_template": [
      {"name": "tool_use", "template": "T"}, {"name": "rag", "template": "R"}]})");
  absl::StatusOr<std::optional<ChatTemplateSource>> source = LoadChatTemplate(dir_);
  EXPECT_EQ(source.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(source.status().message(),
              HasSubstr("\"chat_template\" lists 'tool_use', 'rag' but none named 'default'"));
}

TEST_F(ChatTemplateSourceTest, AddedTokenObjectsGiveTheirContent) {
  Write("tokenizer_config.json", R"({"chat_template": "x",
      "bos_token": {"__type": "AddedToken", "content": "<|begin_of_text|>", "lstrip": false},
      "eos_token": null})");
  absl::StatusOr<std::optional<ChatTemplateSource>> source = LoadChatTemplate(dir_);
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->tokens.bos_token, "<|begin_of_text|>");
  EXPECT_FALSE((*source)->tokens.eos_token.has_value());
}

TEST_F(ChatTemplateSourceTest, ChatTemplateJinjaWinsOverTheConfig) {
  Write("tokenizer_config.json", R"({"chat_template": "FROM CONFIG", "eos_token": "</s>"})");
  Write("chat_template.jinja", "FROM FILE\n");
  absl::StatusOr<std::optional<ChatTemplateSource>> source = LoadChatTemplate(dir_);
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_TRUE(source->has_value());
  EXPECT_EQ((*source)->text, "FROM FILE\n");
  EXPECT_EQ((*source)->origin, (dir_ / "chat_template.jinja").string());
  EXPECT_EQ((*source)->tokens.eos_token, "</s>");  // tokens still come from the config
}

TEST_F(ChatTemplateSourceTest, ChatTemplateJinjaAloneIsEnough) {
  Write("chat_template.jinja", "ONLY");
  absl::StatusOr<std::optional<ChatTemplateSource>> source = LoadChatTemplate(dir_);
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_TRUE(source->has_value());
  EXPECT_EQ((*source)->text, "ONLY");
  EXPECT_FALSE((*source)->tokens.bos_token.has_value());
}

TEST_F(ChatTemplateSourceTest, NoTemplateAtAll) {
  absl::StatusOr<std::optional<ChatTemplateSource>> none = LoadChatTemplate(dir_);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  Write("tokenizer_config.json", R"({"bos_token": "<s>", "chat_template": null})");
  none = LoadChatTemplate(dir_);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  absl::StatusOr<ChatSpecialTokens> tokens = LoadChatSpecialTokens(dir_);
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(tokens->bos_token, "<s>");
}

TEST_F(ChatTemplateSourceTest, SpecialTokensMapIsTheFallback) {
  Write("tokenizer_config.json", R"({"chat_template": "x", "eos_token": "<eos>"})");
  Write("special_tokens_map.json",
        R"({"bos_token": {"content": "<bos>"}, "eos_token": "<not used>"})");
  absl::StatusOr<ChatSpecialTokens> tokens = LoadChatSpecialTokens(dir_);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->bos_token, "<bos>");
  EXPECT_EQ(tokens->eos_token, "<eos>");
}

TEST_F(ChatTemplateSourceTest, MalformedFilesAreErrorsNamingTheFileAndField) {
  Write("tokenizer_config.json", "{not json");
  EXPECT_THAT(LoadChatTemplate(dir_).status().message(),
              HasSubstr("tokenizer_config.json: not valid JSON"));
  Write("tokenizer_config.json", R"({"chat_template": 7})");
  EXPECT_THAT(LoadChatTemplate(dir_).status().message(),
              HasSubstr("\"chat_template\" must be a string or a list of named templates"));
  Write("tokenizer_config.json", R"({"chat_template": [{"name": "default"}]})");
  EXPECT_THAT(LoadChatTemplate(dir_).status().message(),
              HasSubstr("must have a string \"name\" and a string \"template\""));
  Write("tokenizer_config.json", R"({"chat_template": "x", "eos_token": 5})");
  const absl::Status token = LoadChatTemplate(dir_).status();
  EXPECT_EQ(token.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(token.message(), HasSubstr("\"eos_token\" must be a string or an object"));
  Write("tokenizer_config.json", "[1, 2]");
  EXPECT_THAT(LoadChatTemplate(dir_).status().message(), HasSubstr("not a JSON object"));
}

TEST_F(ChatTemplateSourceTest, MissingDirectoryAndFile) {
  EXPECT_EQ(LoadChatTemplate(dir_ / "nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadChatTemplateFile(dir_ / "nope.jinja").status().code(), absl::StatusCode::kNotFound);
  Write("t.jinja", "{{ x }}");
  EXPECT_EQ(*ReadChatTemplateFile(dir_ / "t.jinja"), "{{ x }}");
}

}  // namespace
}  // namespace kvserve
