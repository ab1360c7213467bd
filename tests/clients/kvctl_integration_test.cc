// The kvctl binary against the real daemon (micro model, 127.0.0.1, port 0): stop strings typed
// with C escapes end the text and are named, n samples are printed by index (distinct with
// temperature > 0, the same for the same seed), logprob tables, the sampling controls (logit
// bias, penalties, min_tokens) reaching the sampler, chat rendered with the preset's ChatML
// template from flags or JSON and generated, tokenize and detokenize round-trip, and bad flag
// values are refused with exit status 2 before any call.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/daemon_process.h"

namespace kvserve::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class KvctlIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon =
        DaemonProcess::Start(KVSERVE_BINARY, {"--model=micro"}, absl::Seconds(30));
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = daemon->release();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void TearDown() override {
    if (HasFailure() && daemon_ != nullptr) {
      std::fprintf(stderr, "--- kvserve stderr ---\n%s\n", daemon_->Stderr().c_str());
    }
  }

  static CommandResult Kvctl(std::vector<std::string> args) {
    args.push_back("--target=" + daemon_->target());
    args.push_back("--timeout_ms=30000");
    return RunCommand(KVCTL_BINARY, args, absl::Seconds(60));
  }

  static DaemonProcess* daemon_;
};

DaemonProcess* KvctlIntegrationTest::daemon_ = nullptr;

// kvctl's n > 1 output: "[INDEX] finish=... tokens=K" lines, each followed by its sample's text
// (and a newline kvctl adds if the text lacks one). Index → header and text.
struct Sample {
  std::string header;
  std::string text;
};
std::map<int, Sample> ParseSamples(const std::string& out) {
  std::map<int, Sample> samples;
  Sample* current = nullptr;
  absl::string_view text = out;
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);  // ends the last line
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    int index = -1;
    const size_t close = line.find("] finish=");
    if (!line.empty() && line[0] == '[' && close != absl::string_view::npos &&
        absl::SimpleAtoi(line.substr(1, close - 1), &index)) {
      EXPECT_EQ(samples.count(index), 0u) << "sample " << index << " printed twice";
      current = &samples[index];
      current->header = std::string(line);
      continue;
    }
    if (current != nullptr) absl::StrAppend(&current->text, line, "\n");
  }
  return samples;
}

TEST_F(KvctlIntegrationTest, StopStringEndsTheTextAndIsNamed) {
  const CommandResult plain = Kvctl({"generate", "Hello", "--max_tokens=32", "--ignore_eos"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  // A printable ASCII character from the middle of the greedy text (before any byte that is not
  // ASCII), typed as a C escape.
  size_t pos = 0;
  for (size_t i = 4; i < plain.out.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(plain.out[i]);
    if (c >= 0x80) break;
    if (c > 0x20 && c < 0x7f && c != '\\') {
      pos = i;
      break;
    }
  }
  ASSERT_GT(pos, 0u) << "no ASCII character to stop on in " << plain.out;
  const std::string stop(1, plain.out[pos]);
  const std::string before = plain.out.substr(0, plain.out.find(stop));
  const std::string escaped = absl::StrCat("\\x", absl::Hex(plain.out[pos], absl::kZeroPad2));

  const CommandResult stopped =
      Kvctl({"generate", "Hello", "--max_tokens=32", "--ignore_eos", "--stop", escaped});
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_EQ(stopped.out, before);
  EXPECT_THAT(stopped.err, HasSubstr(absl::StrCat("[finish=stop stop=\"", stop, "\"")));
  const CommandResult kept = Kvctl({"generate", "Hello", "--max_tokens=32", "--ignore_eos",
                                    "--stop", escaped, "--include_stop_str_in_output"});
  ASSERT_EQ(kept.exit_code, 0) << kept.err;
  EXPECT_EQ(kept.out, before + stop);
  // A stop string that never occurs leaves the text alone; several may be given.
  const CommandResult never = Kvctl({"generate", "Hello", "--max_tokens=32", "--ignore_eos",
                                     "--stop=\\n\\n\\n\\n", "--stop=\\x01\\x02"});
  ASSERT_EQ(never.exit_code, 0) << never.err;
  EXPECT_EQ(never.out, plain.out);
  EXPECT_THAT(never.err, StartsWith("[finish=length"));
}

TEST_F(KvctlIntegrationTest, NSamplesArePrintedByIndexDistinctAndRepeatableBySeed) {
  const std::vector<std::string> args = {"generate",        "Once upon",    "--n=3",
                                         "--max_tokens=16", "--ignore_eos", "--temperature=0.9",
                                         "--seed=7"};
  const CommandResult first = Kvctl(args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::map<int, Sample> samples = ParseSamples(first.out);
  ASSERT_EQ(samples.size(), 3u) << first.out;
  for (const auto& [index, sample] : samples) {
    EXPECT_GE(index, 0);
    EXPECT_LT(index, 3);
    EXPECT_EQ(sample.header, absl::StrCat("[", index, "] finish=length tokens=16"));
  }
  EXPECT_NE(samples.at(0).text, samples.at(1).text);
  EXPECT_NE(samples.at(0).text, samples.at(2).text);
  EXPECT_NE(samples.at(1).text, samples.at(2).text);
  EXPECT_THAT(first.err, HasSubstr("[n=3 prompt_tokens=9 completion_tokens=48 "));

  // The same seed gives the same three samples (their order on the page may differ).
  const CommandResult second = Kvctl(args);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  const std::map<int, Sample> again = ParseSamples(second.out);
  ASSERT_EQ(again.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(again.at(i).text, samples.at(i).text) << i;
}

TEST_F(KvctlIntegrationTest, TokenizeAndDetokenizeRoundTrip) {
  const std::string text = "Hello, kvserve: \xc3\xa9t\xc3\xa9!";
  const CommandResult tokens = Kvctl({"tokenize", text});
  ASSERT_EQ(tokens.exit_code, 0) << tokens.err;
  // "N tokens: a,b,c" then one line per token.
  const std::vector<std::string> lines = absl::StrSplit(tokens.out, '\n', absl::SkipEmpty());
  ASSERT_FALSE(lines.empty());
  const size_t colon = lines[0].find(" tokens: ");
  ASSERT_NE(colon, std::string::npos) << tokens.out;
  int count = 0;
  ASSERT_TRUE(absl::SimpleAtoi(lines[0].substr(0, colon), &count));
  const std::string ids = lines[0].substr(colon + 9);
  EXPECT_EQ(count, static_cast<int>(std::vector<std::string>(absl::StrSplit(ids, ',')).size()));
  EXPECT_EQ(static_cast<int>(lines.size()), 1 + count);
  // The byte-level micro model: one id per byte.
  EXPECT_EQ(count, static_cast<int>(text.size()));

  const CommandResult back = Kvctl({"detokenize", ids});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(back.out, text);
  // Ids as separate arguments, and from stdin for tokenize.
  const std::vector<std::string> id_list = absl::StrSplit(ids, ',');
  std::vector<std::string> args = {"detokenize"};
  args.insert(args.end(), id_list.begin(), id_list.end());
  EXPECT_EQ(Kvctl(args).out, text);
  const CommandResult piped =
      RunCommand("/bin/sh", {"-c", absl::StrCat("printf 'Hello' | ", KVCTL_BINARY,
                                                " tokenize - --target=", daemon_->target())});
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_THAT(piped.out, StartsWith("5 tokens: 72,101,108,108,111\n"));

  // --add_special_tokens prepends the BOS that kvctl info names.
  const CommandResult info = Kvctl({"info"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.out, HasSubstr("\nhas_chat_template: "));  // bools are shown too
  const size_t bos_at = info.out.find("bos_token_id: ");
  ASSERT_NE(bos_at, std::string::npos) << info.out;
  const std::string bos = info.out.substr(bos_at + 14, info.out.find('\n', bos_at) - bos_at - 14);
  const CommandResult with_bos = Kvctl({"tokenize", "Hello", "--add_special_tokens"});
  ASSERT_EQ(with_bos.exit_code, 0) << with_bos.err;
  EXPECT_THAT(with_bos.out, StartsWith(absl::StrCat("6 tokens: ", bos, ",72,101,108,108,111\n")));

  // An id outside the vocabulary is the server's INVALID_ARGUMENT: exit 1.
  const CommandResult bad = Kvctl({"detokenize", "1", "999999"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(bad.err, HasSubstr("999999"));
}

// The rows of a kvctl logprob table titled `title`: each row's columns (pos, id, token, logprob,
// rank, then the alternatives as "text" logprob pairs).
std::vector<std::vector<std::string>> TableRows(const std::string& out, const std::string& title) {
  std::vector<std::vector<std::string>> rows;
  // The title starts a line ("logprobs:" is also the end of "prompt logprobs:").
  const std::string text = "\n" + out;
  const size_t at = text.find("\n" + title + ":\n");
  if (at == std::string::npos) return rows;
  const std::vector<std::string> lines = absl::StrSplit(text.substr(at + title.size() + 3), '\n');
  for (size_t i = 1; i < lines.size(); ++i) {  // lines[0] is the header
    const std::vector<std::string> columns = absl::StrSplit(lines[i], ' ', absl::SkipWhitespace());
    int pos = 0;
    if (columns.size() < 5 || !absl::SimpleAtoi(columns[0], &pos)) break;
    rows.push_back(columns);
  }
  return rows;
}

// "[... completion_tokens=N ...]" → N.
int CompletionTokens(const std::string& err) {
  const size_t at = err.find("completion_tokens=");
  int n = -1;
  if (at == std::string::npos) return n;
  const std::string rest = err.substr(at + 18);
  EXPECT_TRUE(absl::SimpleAtoi(rest.substr(0, rest.find(' ')), &n)) << err;
  return n;
}

TEST_F(KvctlIntegrationTest, LogprobTablesHaveARowPerTokenAndTheAlternatives) {
  const CommandResult r = Kvctl({"generate", "Hello", "--max_tokens=4", "--ignore_eos",
                                 "--logprobs=3", "--prompt_logprobs=2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The prompt's table first: its tokens after the first (positions 1..4 of "Hello").
  const std::vector<std::vector<std::string>> prompt = TableRows(r.out, "prompt logprobs");
  ASSERT_EQ(prompt.size(), 4u) << r.out;
  EXPECT_EQ(prompt[0][0], "1");
  EXPECT_EQ(prompt[0][1], "101");  // 'e'
  EXPECT_EQ(prompt[3][2], "\"o\"");
  const std::vector<std::vector<std::string>> generated = TableRows(r.out, "logprobs");
  ASSERT_EQ(generated.size(), 4u) << r.out;
  EXPECT_LT(r.out.find("prompt logprobs:"), r.out.find("\nlogprobs:"));
  for (const std::vector<std::string>& row : generated) {
    double logprob = 0;
    ASSERT_TRUE(absl::SimpleAtod(row[3], &logprob)) << row[3];
    EXPECT_LE(logprob, 0.0);
    // Greedy: the chosen token is the most likely one, first among the 3 alternatives.
    EXPECT_EQ(row[4], "1");
    ASSERT_EQ(row.size(), 5u + 2 * 3) << absl::StrJoin(row, " ");
    EXPECT_EQ(row[5], row[2]);
    EXPECT_EQ(row[6], row[3] + ",");
  }
}

TEST_F(KvctlIntegrationTest, SamplingControlsReachTheSampler) {
  // A +100 bias forces 'A'; a -100 bias bans the greedy first token.
  const CommandResult forced =
      Kvctl({"generate", "Hello", "--max_tokens=6", "--ignore_eos", "--logit_bias=65:100"});
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(forced.out, "AAAAAA");
  const CommandResult plain = Kvctl({"generate", "Hello", "--max_tokens=12", "--ignore_eos"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  ASSERT_FALSE(plain.out.empty());
  const int first = static_cast<unsigned char>(plain.out[0]);
  const CommandResult banned = Kvctl({"generate", "Hello", "--max_tokens=12", "--ignore_eos",
                                      absl::StrCat("--logit_bias=", first, ":-100")});
  ASSERT_EQ(banned.exit_code, 0) << banned.err;
  ASSERT_FALSE(banned.out.empty());
  EXPECT_NE(banned.out[0], plain.out[0]);
  // Penalties change a greedy text that repeats itself.
  for (const char* penalty :
       {"--repetition_penalty=3", "--presence_penalty=2", "--frequency_penalty=2"}) {
    const CommandResult r =
        Kvctl({"generate", "Hello", "--max_tokens=12", "--ignore_eos", penalty});
    ASSERT_EQ(r.exit_code, 0) << penalty << ": " << r.err;
    EXPECT_NE(r.out, plain.out) << penalty;
  }
  // min_tokens holds a stop string back: the stop on the first token's text cannot end it
  // before 8 tokens.
  const std::string escaped = absl::StrCat("\\x", absl::Hex(first, absl::kZeroPad2));
  const CommandResult early =
      Kvctl({"generate", "Hello", "--max_tokens=12", "--ignore_eos", "--stop", escaped});
  ASSERT_EQ(early.exit_code, 0) << early.err;
  EXPECT_EQ(early.out, "");
  EXPECT_EQ(CompletionTokens(early.err), 1);
  const CommandResult held = Kvctl({"generate", "Hello", "--max_tokens=12", "--ignore_eos",
                                    "--stop", escaped, "--min_tokens=8"});
  ASSERT_EQ(held.exit_code, 0) << held.err;
  EXPECT_GE(CompletionTokens(held.err), 8) << held.err;
}

TEST_F(KvctlIntegrationTest, ChatRendersWithTheTemplateAndReplies) {
  const std::string rendered_text =
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
      "<|im_start|>assistant\n";
  const CommandResult render =
      Kvctl({"chat", "--system", "Be brief.", "--user", "Hi", "--render_only"});
  ASSERT_EQ(render.exit_code, 0) << render.err;
  ASSERT_TRUE(absl::StartsWith(render.out, rendered_text)) << render.out;
  const std::string id_line = render.out.substr(rendered_text.size());
  EXPECT_THAT(id_line, StartsWith(absl::StrCat(rendered_text.size(), " tokens: 60,124,")));

  // The same messages from --message, and as JSON on stdin.
  const CommandResult by_message =
      Kvctl({"chat", "--message=system:Be brief.", "--message", "user:Hi", "--render_only"});
  EXPECT_EQ(by_message.out, render.out);
  const CommandResult piped = RunCommand(
      "/bin/sh",
      {"-c", absl::StrCat("printf '%s' '[{\"role\": \"system\", \"content\": \"Be brief.\"}, "
                          "{\"role\": \"user\", \"content\": \"Hi\"}]' | ",
                          KVCTL_BINARY,
                          " chat --messages - --render_only --target=", daemon_->target())});
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.out, render.out);

  // Generating: the prompt is the rendered one.
  const CommandResult reply =
      Kvctl({"chat", "--system", "Be brief.", "--user", "Hi", "--max_tokens=8", "--ignore_eos",
             "--n=2", "--seed=1", "--temperature=0.8"});
  ASSERT_EQ(reply.exit_code, 0) << reply.err;
  EXPECT_EQ(ParseSamples(reply.out).size(), 2u) << reply.out;
  EXPECT_THAT(reply.err, HasSubstr(absl::StrCat("[n=2 prompt_tokens=", rendered_text.size(), " ")));
  const CommandResult info = Kvctl({"info"});
  EXPECT_THAT(info.out, HasSubstr("has_chat_template: true\n"));
}

TEST(KvctlFlagsTest, BadFlagValuesAreRefusedWithExitStatus2) {
  struct Case {
    std::vector<std::string> args;
    const char* message;
  };
  // No daemon: kvctl refuses these before it connects (the target does not exist).
  const std::vector<Case> cases = {
      {{"generate", "x", "--n=abc"}, "error: --n: "},
      {{"generate", "x", "--n=17"}, "error: --n must be in [1, 16], not 17"},
      {{"generate", "x", "--max_tokens=ten"}, "error: --max_tokens: "},
      {{"generate", "x", "--logit_bias=5"}, "error: --logit_bias: '5': not ID:BIAS"},
      {{"generate", "x", "--logit_bias=5:101"}, "outside [-100, 100]"},
      {{"generate", "x", "--stop=\\q"}, "error: --stop: bad escape"},
      {{"generate", "x", "--stop="}, "--stop \"\" has 0 bytes"},
      {{"generate", "x", "--logprobs=21"}, "--logprobs must be in [0, 20]"},
      {{"generate", "x", "--min_p=nan"}, "--min_p must be in [0, 1]"},
      {{"generate", "x", "--presence_penalty=3"}, "--presence_penalty must be in [-2, 2]"},
      {{"generate", "x", "--no_such_flag"}, "error: unknown flag --no_such_flag"},
      {{"generate", "x", "--user=hi"}, "are for chat"},
      {{"chat", "--message=nocolon"}, "--message: 'nocolon' is not ROLE:CONTENT"},
      {{"chat", "--messages=/no/such/file.json"}, "cannot open '/no/such/file.json'"},
      {{"chat"}, "chat needs messages"},
      {{"detokenize", "1", "x"}, "is not an integer"},
      {{"tokenize", "x", "--add_special_tokens", "--no_special_tokens"}, "contradict"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.args;
    args.push_back("--target=127.0.0.1:1");
    const CommandResult r = RunCommand(KVCTL_BINARY, args, absl::Seconds(30));
    EXPECT_EQ(r.exit_code, 2) << c.message << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message));
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

}  // namespace
}  // namespace kvserve::testing
