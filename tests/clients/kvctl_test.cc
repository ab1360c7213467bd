// kvctl's commands without a daemon: the generation flags' checks and the request they make,
// how text, finish reasons and logprobs are shown, and RunGenerate / RunTokenize / RunDetokenize /
// RunRenderChat against a scripted service (n > 1 samples printed by index, breaches of the
// message protocol reported with exit code 1).
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "clients/generate_call.h"
#include "clients/kvctl_commands.h"
#include "clients/kvctl_generate.h"
#include "clients/kvctl_output.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvserve/v1/kvserve.pb.h"
#include "tests/clients/scripted_service.h"

namespace kvserve {
namespace {

using ::kvserve::testing::Finishing;
using ::kvserve::testing::Message;
using ::kvserve::testing::Script;
using ::kvserve::testing::ScriptedServer;
using ::testing::HasSubstr;
using ::testing::Not;

GenerateCommand TextCommand(const std::string& prompt = "hi") {
  GenerateCommand c;
  c.prompt_text = prompt;
  return c;
}

// A FILE* whose contents the test reads back.
class Capture {
 public:
  Capture() : file_(std::tmpfile()) {}
  ~Capture() { std::fclose(file_); }
  std::FILE* file() { return file_; }
  std::string Text() {
    std::fflush(file_);
    std::rewind(file_);
    std::string text;
    for (int c; (c = std::fgetc(file_)) != EOF;) text.push_back(static_cast<char>(c));
    return text;
  }

 private:
  std::FILE* file_;
};

TEST(ValidateGenerateCommandTest, AcceptsTheDefaultsAndTheBounds) {
  EXPECT_TRUE(ValidateGenerateCommand(TextCommand()).ok());
  GenerateCommand c = TextCommand();
  c.n = 16;
  c.logprobs = 20;
  c.prompt_logprobs = 0;
  c.min_p = 1;
  c.presence_penalty = -2;
  c.frequency_penalty = 2;
  c.repetition_penalty = 1.3f;
  c.min_tokens = c.max_tokens;
  c.stop = std::vector<std::string>(16, std::string(256, 'x'));
  EXPECT_TRUE(ValidateGenerateCommand(c).ok()) << ValidateGenerateCommand(c);
}

TEST(ValidateGenerateCommandTest, RefusesEachBadValueNamingTheFlag) {
  constexpr float nan = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    void (*set)(GenerateCommand&);
    const char* message;
  };
  const std::vector<Case> cases = {
      {[](GenerateCommand& c) { c.n = 0; }, "--n must be in [1, 16], not 0"},
      {[](GenerateCommand& c) { c.n = 17; }, "--n must be in [1, 16], not 17"},
      {[](GenerateCommand& c) { c.logprobs = 21; }, "--logprobs must be in [0, 20]"},
      {[](GenerateCommand& c) { c.logprobs = -1; }, "--logprobs must be in [0, 20]"},
      {[](GenerateCommand& c) { c.prompt_logprobs = 99; }, "--prompt_logprobs must be in [0, 20]"},
      {[](GenerateCommand& c) { c.min_tokens = 65; }, "--min_tokens must be in [0, 64]"},
      {[](GenerateCommand& c) { c.min_tokens = -1; }, "--min_tokens"},
      {[](GenerateCommand& c) { c.min_p = 1.5f; }, "--min_p must be in [0, 1]"},
      {[](GenerateCommand& c) { c.min_p = nan; }, "--min_p"},
      {[](GenerateCommand& c) { c.presence_penalty = 2.5f; },
       "--presence_penalty must be in [-2, 2]"},
      {[](GenerateCommand& c) { c.frequency_penalty = nan; }, "--frequency_penalty"},
      {[](GenerateCommand& c) { c.repetition_penalty = -1; },
       "--repetition_penalty must be a finite"},
      {[](GenerateCommand& c) { c.repetition_penalty = nan; }, "--repetition_penalty"},
      {[](GenerateCommand& c) { c.temperature = -0.5f; },
       "--temperature must be a finite number >= 0"},
      {[](GenerateCommand& c) { c.temperature = std::numeric_limits<float>::infinity(); },
       "--temperature"},
      {[](GenerateCommand& c) { c.top_p = 1.01f; }, "--top_p must be in [0, 1]"},
      {[](GenerateCommand& c) { c.top_k = -3; }, "--top_k"},
      {[](GenerateCommand& c) { c.stop = {""}; }, "--stop \"\" has 0 bytes; want 1 to 256"},
      {[](GenerateCommand& c) { c.stop = {std::string(257, 'x')}; }, "has 257 bytes"},
      {[](GenerateCommand& c) { c.stop = std::vector<std::string>(17, "x"); },
       "--stop given 17 times"},
      {[](GenerateCommand& c) { c.prompt_tokens = std::vector<int32_t>{1}; }, "not both"},
      {[](GenerateCommand& c) { c.prompt_text.reset(); }, "not neither"},
      {[](GenerateCommand& c) {
         c.prompt_text.reset();
         c.chat.emplace();
       },
       "no chat messages"},
  };
  for (const Case& k : cases) {
    GenerateCommand c = TextCommand();
    k.set(c);
    const absl::Status s = ValidateGenerateCommand(c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << k.message;
    EXPECT_THAT(s.message(), HasSubstr(k.message));
  }
}

TEST(MakeGenerateRequestTest, CarriesEveryField) {
  GenerateCommand c = TextCommand("hello");
  c.max_tokens = 9;
  c.stop = {"\n\n", "END"};
  c.include_stop_str_in_output = true;
  c.n = 3;
  c.min_tokens = 2;
  c.logprobs = 0;  // set, though 0
  c.min_p = 0.1f;
  c.repetition_penalty = 1.1f;
  c.presence_penalty = 0.5f;
  c.frequency_penalty = -0.5f;
  c.logit_bias = {{13, -100.0f}, {42, 2.5f}};
  c.seed = 7;
  const v1::GenerateRequest r = MakeGenerateRequest(c);
  EXPECT_EQ(r.text(), "hello");
  EXPECT_EQ(r.max_tokens(), 9);
  ASSERT_EQ(r.stop_size(), 2);
  EXPECT_EQ(r.stop(0), "\n\n");
  EXPECT_TRUE(r.include_stop_str_in_output());
  EXPECT_EQ(r.n(), 3);
  EXPECT_EQ(r.min_tokens(), 2);
  ASSERT_TRUE(r.has_logprobs());
  EXPECT_EQ(r.logprobs(), 0);
  EXPECT_FALSE(r.has_prompt_logprobs());
  ASSERT_TRUE(r.has_sampling());
  EXPECT_FLOAT_EQ(r.sampling().min_p(), 0.1f);
  EXPECT_FLOAT_EQ(r.sampling().repetition_penalty(), 1.1f);
  EXPECT_FLOAT_EQ(r.sampling().presence_penalty(), 0.5f);
  EXPECT_FLOAT_EQ(r.sampling().frequency_penalty(), -0.5f);
  EXPECT_EQ(r.sampling().logit_bias().size(), 2u);
  EXPECT_FLOAT_EQ(r.sampling().logit_bias().at(13), -100.0f);
  EXPECT_EQ(r.sampling().seed(), 7u);

  // The defaults leave sampling, n and logprobs unset (today's behaviour on the server).
  const v1::GenerateRequest plain = MakeGenerateRequest(TextCommand());
  EXPECT_FALSE(plain.has_sampling());
  EXPECT_EQ(plain.n(), 0);
  EXPECT_FALSE(plain.has_logprobs());
  EXPECT_EQ(plain.stop_size(), 0);
}

TEST(MakeGenerateRequestTest, ChatMessagesBecomeTheChatPrompt) {
  GenerateCommand c;
  v1::ChatMessage system;
  system.set_role("system");
  system.set_content("Be brief.");
  v1::ChatMessage user;
  user.set_role("user");
  user.set_content("Hi");
  c.chat = std::vector<v1::ChatMessage>{system, user};
  c.no_generation_prompt = true;
  const v1::GenerateRequest r = MakeGenerateRequest(c);
  ASSERT_TRUE(r.has_chat());
  ASSERT_EQ(r.chat().messages_size(), 2);
  EXPECT_EQ(r.chat().messages(1).content(), "Hi");
  EXPECT_TRUE(r.chat().no_generation_prompt());
}

TEST(KvctlOutputTest, QuotesTextVisibly) {
  EXPECT_EQ(QuoteText("a\nb"), "\"a\\nb\"");
  EXPECT_EQ(QuoteText("\t\"\\\r\x01\x7f"), "\"\\t\\\"\\\\\\r\\x01\\x7f\"");
  EXPECT_EQ(QuoteText("h\xc3\xa9"), "\"h\xc3\xa9\"");  // UTF-8 stays
}

TEST(KvctlOutputTest, FinishTextNamesTheStopReason) {
  SampleRecord s;
  s.finish_reason = v1::FINISH_REASON_STOP;
  s.has_stop_string = true;
  s.stop_string = "\n\n";
  EXPECT_EQ(FinishText(s), "finish=stop stop=\"\\n\\n\"");
  s.has_stop_string = false;
  s.stop_token_id = 2;
  EXPECT_EQ(FinishText(s), "finish=stop stop_token=2");
  s = SampleRecord();
  s.finish_reason = v1::FINISH_REASON_LENGTH;
  EXPECT_EQ(FinishText(s), "finish=length");
}

v1::TokenLogprob Entry(int32_t id, const std::string& text, float logprob, int32_t rank,
                       std::vector<std::pair<std::string, float>> top = {}) {
  v1::TokenLogprob e;
  e.set_token_id(id);
  e.set_text(text);
  e.set_logprob(logprob);
  e.set_rank(rank);
  for (const auto& [t, l] : top) {
    v1::TopLogprob* x = e.add_top();
    x->set_text(t);
    x->set_logprob(l);
  }
  return e;
}

TEST(KvctlOutputTest, LogprobTableHasOneRowPerTokenAndTheAlternatives) {
  const std::string table = FormatLogprobTable(
      "logprobs", {Entry(72, "H", -1.23456f, 1, {{"H", -1.23456f}, {"a", -2.0f}}),
                   Entry(10, "\n", -0.5f, 3, {{"x", -0.1f}})});
  EXPECT_THAT(table, HasSubstr("logprobs:\n"));
  EXPECT_THAT(table, HasSubstr("pos"));
  EXPECT_THAT(table, HasSubstr("top"));
  EXPECT_THAT(
      table,
      HasSubstr("    0        72  \"H\"       -1.2346     1  \"H\" -1.2346, \"a\" -2.0000\n"));
  EXPECT_THAT(table, HasSubstr("    1        10  \"\\n\"      -0.5000     3  \"x\" -0.1000\n"));
  // Without alternatives there is no top column; positions start where asked.
  const std::string bare = FormatLogprobTable("prompt logprobs", {Entry(5, "b", -3, 2)}, 1);
  EXPECT_THAT(bare, Not(HasSubstr("top")));
  EXPECT_THAT(bare, HasSubstr("    1         5  \"b\"  "));
  EXPECT_EQ(FormatLogprobTable("logprobs", {}), "logprobs: none (the server sent none)\n");
}

class RunCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.ok()); }

  testing::ScriptedService& service() { return server_.service(); }
  int Generate(const GenerateCommand& c) {
    return RunGenerate(server_.channel(), c, out_.file(), err_.file());
  }

  ScriptedServer server_;
  Capture out_;
  Capture err_;
};

TEST_F(RunCommandsTest, OneSampleStreamsTextThenTheFinishLine) {
  service().SetHandler(Script({Message("", {1, 2}, "Hel"), [] {
                                 v1::GenerateResponse m = Finishing(
                                     Message("", {3}, "lo"), v1::FINISH_REASON_STOP, true, 5, 3);
                                 m.set_stop_string("\n\n");
                                 return m;
                               }()}));
  EXPECT_EQ(Generate(TextCommand()), 0) << err_.Text();
  EXPECT_EQ(out_.Text(), "Hello");  // not a terminal: no newline added
  EXPECT_THAT(err_.Text(), HasSubstr("[finish=stop stop=\"\\n\\n\" prompt_tokens=5 "
                                     "completion_tokens=3 cached=1"));
}

TEST_F(RunCommandsTest, SamplesArePrintedByIndexOnceFinished) {
  v1::GenerateResponse s0_end =
      Finishing(Message("", {3}, "c\n", 0), v1::FINISH_REASON_STOP, true, 5, 4);
  s0_end.set_stop_token_id(2);
  service().SetHandler(Script({Message("", {1}, "a", 0),
                               Finishing(Message("", {2}, "xy", 1), v1::FINISH_REASON_LENGTH),
                               Message("", {4}, "b", 0), s0_end}));
  GenerateCommand c = TextCommand();
  c.n = 2;
  EXPECT_EQ(Generate(c), 0) << err_.Text();
  // Sample 1 finished first, so it comes first; each text ends its block with one newline.
  EXPECT_EQ(out_.Text(),
            "[1] finish=length tokens=1\nxy\n[0] finish=stop stop_token=2 tokens=3\nabc\n");
  EXPECT_THAT(err_.Text(), HasSubstr("[n=2 prompt_tokens=5 completion_tokens=4"));
  EXPECT_EQ(service().last_generate().n(), 2);
}

TEST_F(RunCommandsTest, LogprobTablesFollowTheTextAndPromptOnesComeFirst) {
  v1::GenerateResponse first = Message("", {1}, "a");
  *first.add_logprobs() = Entry(1, "a", -0.25f, 1);
  *first.add_prompt_logprobs() = Entry(104, "h", -4.5f, 7);
  v1::GenerateResponse last =
      Finishing(Message("", {2}, "b"), v1::FINISH_REASON_LENGTH, true, 2, 2);
  *last.add_logprobs() = Entry(2, "b", -0.75f, 2);
  service().SetHandler(Script({first, last}));
  GenerateCommand c = TextCommand();
  c.logprobs = 0;
  c.prompt_logprobs = 0;
  EXPECT_EQ(Generate(c), 0) << err_.Text();
  const std::string out = out_.Text();
  const size_t prompt_table = out.find("prompt logprobs:\n");
  const size_t text = out.find("ab\n");
  const size_t table = out.find("\nlogprobs:\n");
  ASSERT_NE(prompt_table, std::string::npos) << out;
  ASSERT_NE(text, std::string::npos) << out;
  ASSERT_NE(table, std::string::npos) << out;
  EXPECT_LT(prompt_table, text);
  EXPECT_LT(text, table);
  EXPECT_THAT(out, HasSubstr("    1       104  \"h\"  "));  // prompt positions start at 1
  EXPECT_THAT(out, HasSubstr("-0.7500     2"));
}

TEST_F(RunCommandsTest, ABrokenStreamIsAnError) {
  // Usage says 5 tokens, 2 arrived, and sample 1 of n = 2 never finished.
  service().SetHandler(
      Script({Finishing(Message("", {1, 2}, "ab", 0), v1::FINISH_REASON_LENGTH, true, 5, 5)}));
  GenerateCommand c = TextCommand();
  c.n = 2;
  EXPECT_EQ(Generate(c), 1);
  EXPECT_THAT(err_.Text(), HasSubstr("error: the stream broke the contract: a sample never got "
                                     "its finish_reason; 2 tokens received, usage says 5"));
}

TEST_F(RunCommandsTest, RefusesABadCommandWithExitCode2BeforeCalling) {
  GenerateCommand c = TextCommand();
  c.n = 0;
  EXPECT_EQ(Generate(c), 2);
  EXPECT_THAT(err_.Text(), HasSubstr("error: --n must be in [1, 16], not 0"));
  EXPECT_EQ(service().last_generate().max_tokens(), 0);  // no call was made
}

TEST_F(RunCommandsTest, TokenizePrintsIdsThenOnePiecePerLine) {
  v1::TokenizeResponse response;
  for (int32_t id : {72, 10}) response.add_token_ids(id);
  response.add_pieces("H");
  response.add_pieces("\n");
  service().SetTokenize(response);
  v1::TokenizeRequest request;
  request.set_text("H\n");
  request.set_add_special_tokens(true);
  EXPECT_EQ(RunTokenize(server_.channel(), request, 5000, out_.file(), err_.file()), 0);
  EXPECT_EQ(out_.Text(), "2 tokens: 72,10\n      0        72  \"H\"\n      1        10  \"\\n\"\n");
  EXPECT_TRUE(service().last_tokenize().add_special_tokens());
}

TEST_F(RunCommandsTest, DetokenizeAndRenderChatPrintTheText) {
  v1::DetokenizeRequest ids;
  for (int32_t id : {1, 2}) ids.add_token_ids(id);
  EXPECT_EQ(RunDetokenize(server_.channel(), ids, 5000, out_.file(), err_.file()), 0);
  EXPECT_EQ(out_.Text(), "<1><2>");

  v1::RenderedChat rendered;
  rendered.set_text("<|user|>Hi");
  rendered.add_token_ids(9);
  service().SetRendered(rendered);
  v1::ChatPrompt prompt;
  v1::ChatMessage* m = prompt.add_messages();
  m->set_role("user");
  m->set_content("Hi");
  Capture out;
  EXPECT_EQ(RunRenderChat(server_.channel(), prompt, 5000, out.file(), err_.file()), 0);
  EXPECT_EQ(out.Text(), "<|user|>Hi\n1 token: 9\n");
  EXPECT_EQ(service().last_render().messages(0).content(), "Hi");
}

}  // namespace
}  // namespace kvserve
