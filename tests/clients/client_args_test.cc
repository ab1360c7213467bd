// The command-line pieces kvctl and kvload share: repeatable flags taken out of argv, flag values
// checked before absl would exit on them, and the value parsers (C escapes, id lists, logit bias,
// chat messages from flags and JSON).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "clients/chat_messages.h"
#include "clients/command_line.h"
#include "clients/flag_values.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_FLAG(int32_t, test_count, 1, "a test flag");
ABSL_FLAG(bool, test_switch, false, "a test flag");
ABSL_FLAG(std::optional<int32_t>, test_optional, std::nullopt, "a test flag");

namespace kvserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// argv for a command line (the strings must outlive the result).
std::vector<char*> Argv(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return argv;
}

std::vector<std::string> Strings(const std::vector<char*>& argv) {
  return std::vector<std::string>(argv.begin(), argv.end());
}

TEST(ExtractRepeatedFlagsTest, TakesEveryOccurrenceInOrderInEveryForm) {
  std::vector<std::string> args = {"kvctl",      "chat",   "--user=a", "--max_tokens", "5",
                                   "-user",      "b:c",    "--system", "--stop",       "x",
                                   "--stop=--y", "-stop=", "--",       "--user=z"};
  std::vector<char*> argv = Argv(args);
  absl::StatusOr<ExtractedArgs> got =
      ExtractRepeatedFlags(static_cast<int>(argv.size()), argv.data(), {"user", "system", "stop"});
  ASSERT_TRUE(got.ok()) << got.status();
  // "--system" takes the next argument as its value, whatever it looks like.
  EXPECT_THAT(Strings(got->argv),
              ElementsAre("kvctl", "chat", "--max_tokens", "5", "x", "--", "--user=z"));
  ASSERT_EQ(got->flags.size(), 5u);
  EXPECT_EQ(got->flags[0].name, "user");
  EXPECT_EQ(got->flags[2].name, "system");
  EXPECT_EQ(got->flags[2].value, "--stop");
  EXPECT_THAT(got->Values("user"), ElementsAre("a", "b:c"));
  EXPECT_THAT(got->Values("stop"), ElementsAre("--y", ""));
  EXPECT_TRUE(got->Values("message").empty());
}

TEST(ExtractRepeatedFlagsTest, ALastFlagWithoutValueIsAnError) {
  std::vector<std::string> args = {"kvctl", "generate", "hi", "--stop"};
  std::vector<char*> argv = Argv(args);
  absl::StatusOr<ExtractedArgs> got =
      ExtractRepeatedFlags(static_cast<int>(argv.size()), argv.data(), {"stop"});
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("--stop needs a value"));
}

TEST(CheckFlagValuesTest, AcceptsGoodValuesAndSetsThem) {
  std::vector<std::string> args = {
      "prog", "--help",        "--helpmatch=x",   "--test_count",     "7",
      "pos",  "--test_switch", "--notest_switch", "-test_optional=3", "-",
      "--",   "--bogus"};
  EXPECT_TRUE(CheckFlagValues(Argv(args)).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_test_count), 7);
  EXPECT_EQ(absl::GetFlag(FLAGS_test_optional), 3);
}

TEST(CheckFlagValuesTest, RefusesBadValuesAndUnknownFlagsNamingThem) {
  const auto check = [](std::vector<std::string> args) {
    args.insert(args.begin(), "prog");
    return CheckFlagValues(Argv(args));
  };
  absl::Status s = check({"--test_count", "abc"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--test_count"));
  EXPECT_THAT(check({"--test_count=1.5"}).message(), HasSubstr("--test_count"));
  EXPECT_THAT(check({"--test_switch=maybe"}).message(), HasSubstr("--test_switch"));
  EXPECT_THAT(check({"--test_optional=x"}).message(), HasSubstr("--test_optional"));
  EXPECT_THAT(check({"--no_such_flag=1"}).message(), HasSubstr("unknown flag --no_such_flag"));
  EXPECT_THAT(check({"--notest_count"}).message(), HasSubstr("unknown flag --notest_count"));
  EXPECT_THAT(check({"--test_count"}).message(), HasSubstr("--test_count needs a value"));
}

TEST(FlagValuesTest, UnescapesCEscapes) {
  EXPECT_EQ(*UnescapeFlagText("\\n\\n"), "\n\n");
  EXPECT_EQ(*UnescapeFlagText("a\\tb\\\\c\\\"d"), "a\tb\\c\"d");
  EXPECT_EQ(*UnescapeFlagText("\\x41\\101"), "AA");
  EXPECT_EQ(*UnescapeFlagText("\\u00e9"), "\xc3\xa9");
  EXPECT_EQ(*UnescapeFlagText("plain, text: ok"), "plain, text: ok");
  for (const char* bad : {"\\", "\\q", "\\x", "\\u12"}) {
    absl::StatusOr<std::string> got = UnescapeFlagText(bad);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(got.status().message(), HasSubstr("bad escape")) << bad;
  }
}

TEST(FlagValuesTest, ParsesIdLists) {
  EXPECT_THAT(*ParseIdList("1,2, 3"), ElementsAre(1, 2, 3));
  EXPECT_TRUE(ParseIdList(" ")->empty());
  EXPECT_THAT(ParseIdList("1,x").status().message(), HasSubstr("item 1 ('x')"));
}

TEST(FlagValuesTest, ParsesLogitBias) {
  absl::StatusOr<std::map<int32_t, float>> got = ParseLogitBias("13:-100, 42:2.5,0:100");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 3u);
  EXPECT_FLOAT_EQ(got->at(13), -100.0f);
  EXPECT_FLOAT_EQ(got->at(42), 2.5f);
  EXPECT_FLOAT_EQ(got->at(0), 100.0f);
  EXPECT_TRUE(ParseLogitBias("")->empty());
}

TEST(FlagValuesTest, RefusesBadLogitBiasNamingTheEntry) {
  const auto message = [](const char* text) {
    absl::StatusOr<std::map<int32_t, float>> got = ParseLogitBias(text);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << text;
    return std::string(got.status().message());
  };
  EXPECT_THAT(message("13"), HasSubstr("'13': not ID:BIAS"));
  EXPECT_THAT(message("1:2:3"), HasSubstr("not ID:BIAS"));
  EXPECT_THAT(message("x:1"), HasSubstr("the id is not an integer >= 0"));
  EXPECT_THAT(message("-1:1"), HasSubstr("the id is not an integer >= 0"));
  EXPECT_THAT(message("1:y"), HasSubstr("'1:y': the bias is not a finite number"));
  EXPECT_THAT(message("1:nan"), HasSubstr("not a finite number"));
  EXPECT_THAT(message("1:inf"), HasSubstr("not a finite number"));
  EXPECT_THAT(message("1:100.5"), HasSubstr("outside [-100, 100]"));
  EXPECT_THAT(message("1:-101"), HasSubstr("outside [-100, 100]"));
  EXPECT_THAT(message("5:1,5:2"), HasSubstr("id 5 appears twice"));
  EXPECT_THAT(message("1:1,,2:2"), HasSubstr("not ID:BIAS"));
  std::string many;
  for (int i = 0; i <= 1024; ++i) many += std::to_string(i) + ":1,";
  many.pop_back();
  EXPECT_THAT(message(many.c_str()), HasSubstr("1025 entries, more than the cap of 1024"));
}

TEST(ChatMessagesTest, ParsesRoleContent) {
  absl::StatusOr<v1::ChatMessage> m = ParseRoleContent("user:a: b");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->role(), "user");
  EXPECT_EQ(m->content(), "a: b");
  EXPECT_EQ(ParseRoleContent("tool:")->content(), "");
  EXPECT_THAT(ParseRoleContent("hello").status().message(), HasSubstr("not ROLE:CONTENT"));
  EXPECT_THAT(ParseRoleContent(":hi").status().message(), HasSubstr("no role"));
  EXPECT_THAT(ParseRoleContent("a b:hi").status().message(), HasSubstr("whitespace"));
}

TEST(ChatMessagesTest, ParsesJsonListsAndRequestBodies) {
  absl::StatusOr<std::vector<v1::ChatMessage>> list = ParseChatMessagesJson(
      R"([{"role": "system", "content": "Be brief."}, {"content": "Hi\n", "role": "user"}])");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].role(), "system");
  EXPECT_EQ((*list)[1].content(), "Hi\n");
  absl::StatusOr<std::vector<v1::ChatMessage>> body =
      ParseChatMessagesJson(R"({"model": "x", "messages": [{"role": "user", "content": "Q"}]})");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ((*body)[0].content(), "Q");
}

TEST(ChatMessagesTest, RefusesMalformedJsonNamingTheMessage) {
  const auto message = [](const char* json) {
    absl::StatusOr<std::vector<v1::ChatMessage>> got = ParseChatMessagesJson(json);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << json;
    return std::string(got.status().message());
  };
  EXPECT_THAT(message("[{"), HasSubstr("not valid JSON"));
  EXPECT_THAT(message("[]"), HasSubstr("empty"));
  EXPECT_THAT(message(R"("hi")"), HasSubstr("not a JSON list"));
  EXPECT_THAT(message(R"({"model": "x"})"), HasSubstr("without \"messages\""));
  EXPECT_THAT(message(R"([{"role": "user", "content": "a"}, 3])"),
              HasSubstr("message 1: not an object"));
  EXPECT_THAT(message(R"([{"role": "user"}])"), HasSubstr("message 0: \"content\" is missing"));
  EXPECT_THAT(message(R"([{"role": 1, "content": "a"}])"),
              HasSubstr("\"role\" is missing or not a string"));
  EXPECT_THAT(message(R"([{"role": "user", "content": [{"type": "text"}]}])"),
              HasSubstr("\"content\" is missing or not a string"));
  EXPECT_THAT(message(R"([{"role": "user", "content": "a", "name": "bob"}])"),
              HasSubstr("unknown key \"name\""));
}

}  // namespace
}  // namespace kvserve
