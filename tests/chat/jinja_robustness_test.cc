// Garbled templates (random edits of real ones, fragment soup, random bytes) and hostile ones:
// every one must give text or a clean error (INVALID_ARGUMENT naming a line, or
// RESOURCE_EXHAUSTED from a limit), never a crash, a hang or an internal error. Run under
// ASan/UBSan by deploy/test.sh like every other test.
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "engine/chat/chat_template.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

const char* const kFixtures[] = {
    "Qwen-Qwen2.5-7B-Instruct.jinja",
    "Qwen-Qwen3-0.6B.jinja",
    "meta-llama-Llama-3.1-8B-Instruct.jinja",
    "mistralai-Mistral-Nemo-Instruct-2407.jinja",
    "Mistral-Small-3.2-24B-Instruct-2506.jinja",
    "google-gemma-2-2b-it.jinja",
    "HuggingFaceTB-SmolLM3-3B.jinja",
};

const char* const kFragments[] = {
    "{%",       "%}",
    "{{",       "}}",
    "{#",       "#}",
    "{%-",      "-%}",
    "{{-",      "-}}",
    "(",        ")",
    "[",        "]",
    "{",        "}",
    "'",        "\"",
    "\\",       ",",
    ":",        ".",
    "|",        "~",
    "+",        "-",
    "*",        "/",
    "//",       "%",
    "**",       "==",
    "!=",       "<",
    ">=",       "=",
    " ",        "\n",
    "if",       "elif",
    "else",     "endif",
    "for",      "in",
    "endfor",   "set",
    "endset",   "macro",
    "endmacro", "not",
    "and",      "or",
    "is",       "defined",
    "none",     "loop",
    "messages", "message",
    "ns",       "namespace(",
    "range(",   "raise_exception(",
    "tojson",   "trim",
    "length",   "items()",
    "0",        "1",
    "-1",       "1.5",
    "'x'",      "break",
    "continue", "filter",
    "with",     "raw",
    "endraw",   "x",
    "[::-1]",   "[1:]",
    "()",       "selectattr(",
    "map(",
};

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(KVSERVE_CHAT_TEMPLATES_DIR) + "/" + name, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

ChatRenderOptions SmallLimits() {
  ChatRenderOptions options;
  options.bos_token = "<s>";
  options.eos_token = "</s>";
  options.now = absl::UnixEpoch();
  options.limits.max_steps = 20000;
  options.limits.max_output_bytes = 64 << 10;
  options.limits.max_built_bytes = 1 << 20;
  options.limits.max_call_depth = 16;
  return options;
}

// Parses and renders `source`; checks that whatever happens is a clean outcome.
void Exercise(const std::string& source) {
  static const std::vector<ChatMessage> messages = {
      {"system", "S"}, {"user", "U"}, {"assistant", "A"}, {"user", "U2"}};
  absl::StatusOr<ChatTemplate> parsed = ChatTemplate::Parse(source);
  if (!parsed.ok()) {
    ASSERT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << source;
    ASSERT_TRUE(absl::StartsWith(parsed.status().message(), "chat template: line "))
        << parsed.status() << "\n"
        << source;
    return;
  }
  absl::StatusOr<std::string> text = parsed->Render(messages, SmallLimits());
  if (!text.ok()) {
    const absl::StatusCode code = text.status().code();
    ASSERT_TRUE(code == absl::StatusCode::kInvalidArgument ||
                code == absl::StatusCode::kResourceExhausted)
        << text.status() << "\n"
        << source;
  } else {
    ASSERT_LE(text->size(), size_t{64} << 10);
  }
}

TEST(JinjaRobustnessTest, RandomEditsOfRealTemplates) {
  std::mt19937_64 rng(20240726);
  int parsed = 0;
  for (const char* name : kFixtures) {
    const std::string original = Fixture(name);
    ASSERT_FALSE(original.empty()) << name;
    for (int round = 0; round < 400; ++round) {
      std::string s = original;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !s.empty(); ++e) {
        const size_t at = rng() % s.size();
        const size_t len = 1 + rng() % 12;
        switch (rng() % 4) {
          case 0:
            s.erase(at, len);
            break;
          case 1:
            s.insert(at, s.substr(at, len));
            break;
          case 2:
            s.insert(at, kFragments[rng() % std::size(kFragments)]);
            break;
          default:
            s[at] = static_cast<char>(rng() % 256);
        }
      }
      Exercise(s);
      if (HasFatalFailure()) return;
      parsed += ChatTemplate::Parse(s).ok();
    }
  }
  // Some edits leave a valid template: the render path is exercised too.
  EXPECT_GT(parsed, 50);
}

TEST(JinjaRobustnessTest, FragmentSoupAndRandomBytes) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 3000; ++round) {
    std::string s;
    const int n = 1 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      if (round % 5 == 0) {
        s.push_back(static_cast<char>(rng() % 256));
      } else {
        s += kFragments[rng() % std::size(kFragments)];
      }
    }
    Exercise(s);
    if (HasFatalFailure()) return;
  }
}

TEST(JinjaRobustnessTest, HostileTemplatesHitALimit) {
  const char* hostile[] = {
      "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
      "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
      "{% macro f(n) %}{{ f(n) ~ f(n) }}{% endmacro %}{{ f(1) }}",
      "{{ 'x' * 100000000 }}",
      "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
      "{% endfor %}",
      "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}"
      "{% endfor %}{{ ns.l | length }}",
      "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}{{ ns | string | length }}",
      "{{ range(100000) | join(',') * 1000 }}",
  };
  for (const char* source : hostile) {
    absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(source);
    ASSERT_TRUE(t.ok()) << source << ": " << t.status();
    absl::StatusOr<std::string> text = t->Render({}, SmallLimits());
    if (text.ok()) {
      EXPECT_LE(text->size(), size_t{64} << 10) << source;
    } else {
      EXPECT_THAT(text.status().code(), ::testing::AnyOf(absl::StatusCode::kResourceExhausted,
                                                         absl::StatusCode::kInvalidArgument))
          << source << ": " << text.status();
    }
  }
}

}  // namespace
}  // namespace kvserve
