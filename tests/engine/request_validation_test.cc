#include "engine/sched/request_validation.h"

#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/model/model_config.h"
#include "engine/sched/stop_rules.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

ModelConfig Micro() {
  auto config = PresetConfig("micro");
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

GenerationParams ValidParams() {
  GenerationParams p;
  p.has_prompt = true;
  p.prompt_ids = {256, 'H', 'i', '!', 0, 255};
  p.max_tokens = 16;
  p.stop_token_ids = {257, '\n'};
  return p;
}

struct BadCase {
  std::string name;
  std::function<void(GenerationParams&)> mutate;
  std::string field;  // the message must start with this proto field path
};

TEST(RequestValidationTest, ValidRequestIsAccepted) {
  EXPECT_TRUE(ValidateGenerationParams(ValidParams(), Micro()).ok());
}

TEST(RequestValidationTest, EachBadFieldIsRefusedByName) {
  const ModelConfig config = Micro();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<BadCase> cases = {
      {"missing prompt", [](GenerationParams& p) { p.has_prompt = false; }, "prompt"},
      {"empty prompt", [](GenerationParams& p) { p.prompt_ids.clear(); }, "prompt"},
      {"prompt id too large", [](GenerationParams& p) { p.prompt_ids[3] = 259; },
       "prompt.token_ids[3]"},
      {"negative prompt id", [](GenerationParams& p) { p.prompt_ids[1] = -1; },
       "prompt.token_ids[1]"},
      {"prompt longer than context",
       [](GenerationParams& p) {
         p.prompt_ids.assign(513, 'a');
         p.max_tokens = 1;
       },
       "prompt"},
      {"zero max_tokens", [](GenerationParams& p) { p.max_tokens = 0; }, "max_tokens"},
      {"negative max_tokens", [](GenerationParams& p) { p.max_tokens = -5; }, "max_tokens"},
      {"prompt + max_tokens over context", [](GenerationParams& p) { p.max_tokens = 507; },
       "max_tokens"},
      {"huge max_tokens", [](GenerationParams& p) { p.max_tokens = 2147483647; }, "max_tokens"},
      {"NaN temperature", [nan](GenerationParams& p) { p.sampling.temperature = nan; },
       "sampling.temperature"},
      {"infinite temperature", [inf](GenerationParams& p) { p.sampling.temperature = inf; },
       "sampling.temperature"},
      {"negative temperature", [](GenerationParams& p) { p.sampling.temperature = -0.5f; },
       "sampling.temperature"},
      {"NaN top_p", [nan](GenerationParams& p) { p.sampling.top_p = nan; }, "sampling.top_p"},
      {"negative top_p", [](GenerationParams& p) { p.sampling.top_p = -0.1f; }, "sampling.top_p"},
      {"top_p above 1", [](GenerationParams& p) { p.sampling.top_p = std::nextafter(1.0f, 2.0f); },
       "sampling.top_p"},
      {"negative top_k", [](GenerationParams& p) { p.sampling.top_k = -1; }, "sampling.top_k"},
      {"NaN min_p", [nan](GenerationParams& p) { p.sampling.min_p = nan; }, "sampling.min_p"},
      {"negative min_p", [](GenerationParams& p) { p.sampling.min_p = -0.01f; }, "sampling.min_p"},
      {"min_p above 1", [](GenerationParams& p) { p.sampling.min_p = 1.5f; }, "sampling.min_p"},
      {"NaN repetition_penalty",
       [nan](GenerationParams& p) { p.sampling.repetition_penalty = nan; },
       "sampling.repetition_penalty"},
      {"infinite repetition_penalty",
       [inf](GenerationParams& p) { p.sampling.repetition_penalty = inf; },
       "sampling.repetition_penalty"},
      {"negative repetition_penalty",
       [](GenerationParams& p) { p.sampling.repetition_penalty = -1.0f; },
       "sampling.repetition_penalty"},
      {"NaN presence_penalty", [nan](GenerationParams& p) { p.sampling.presence_penalty = nan; },
       "sampling.presence_penalty"},
      {"presence_penalty above 2",
       [](GenerationParams& p) { p.sampling.presence_penalty = std::nextafter(2.0f, 3.0f); },
       "sampling.presence_penalty"},
      {"presence_penalty below -2", [](GenerationParams& p) { p.sampling.presence_penalty = -3; },
       "sampling.presence_penalty"},
      {"NaN frequency_penalty", [nan](GenerationParams& p) { p.sampling.frequency_penalty = nan; },
       "sampling.frequency_penalty"},
      {"infinite frequency_penalty",
       [inf](GenerationParams& p) { p.sampling.frequency_penalty = -inf; },
       "sampling.frequency_penalty"},
      {"frequency_penalty above 2",
       [](GenerationParams& p) { p.sampling.frequency_penalty = 2.5f; },
       "sampling.frequency_penalty"},
      {"logit_bias id too large",
       [](GenerationParams& p) {
         p.sampling.logit_bias = {{5, 1.0f}, {259, 1.0f}};
       },
       "sampling.logit_bias[259]"},
      {"negative logit_bias id",
       [](GenerationParams& p) {
         p.sampling.logit_bias = {{-4, 1.0f}};
       },
       "sampling.logit_bias[-4]"},
      {"NaN logit_bias",
       [nan](GenerationParams& p) {
         p.sampling.logit_bias = {{7, nan}};
       },
       "sampling.logit_bias[7]"},
      {"infinite logit_bias",
       [inf](GenerationParams& p) {
         p.sampling.logit_bias = {{7, -inf}};
       },
       "sampling.logit_bias[7]"},
      {"logit_bias above 100",
       [](GenerationParams& p) {
         p.sampling.logit_bias = {{8, std::nextafter(100.0f, 101.0f)}};
       },
       "sampling.logit_bias[8]"},
      {"logit_bias below -100",
       [](GenerationParams& p) {
         p.sampling.logit_bias = {{9, -101}};
       },
       "sampling.logit_bias[9]"},
      {"repeated logit_bias id",
       [](GenerationParams& p) {
         p.sampling.logit_bias = {{3, 1.0f}, {4, 1.0f}, {3, 2.0f}};
       },
       "sampling.logit_bias[3]"},
      {"too many logit_bias entries",
       [](GenerationParams& p) {
         for (size_t i = 0; i <= kMaxLogitBiasEntries; ++i) {
           p.sampling.logit_bias.push_back({static_cast<int32_t>(i % 259), 1.0f});
         }
       },
       "sampling.logit_bias has 1025 entries, more than the cap of 1024"},
      {"stop id too large", [](GenerationParams& p) { p.stop_token_ids[1] = 259; },
       "stop_token_ids[1]"},
      {"negative stop id", [](GenerationParams& p) { p.stop_token_ids[0] = -7; },
       "stop_token_ids[0]"},
      {"too many stop ids",
       [](GenerationParams& p) { p.stop_token_ids.assign(kMaxStopTokenIds + 1, 'a'); },
       "stop_token_ids has 1025 entries, more than the cap of 1024"},
      {"negative min_tokens", [](GenerationParams& p) { p.min_tokens = -1; }, "min_tokens"},
      {"min_tokens above max_tokens", [](GenerationParams& p) { p.min_tokens = p.max_tokens + 1; },
       "min_tokens"},
      {"negative logprobs", [](GenerationParams& p) { p.logprobs = -1; }, "logprobs"},
      {"logprobs above 20", [](GenerationParams& p) { p.logprobs = 21; }, "logprobs"},
      {"negative prompt_logprobs", [](GenerationParams& p) { p.prompt_logprobs = -1; },
       "prompt_logprobs"},
      {"prompt_logprobs above 20", [](GenerationParams& p) { p.prompt_logprobs = 21; },
       "prompt_logprobs"},
  };
  for (const BadCase& c : cases) {
    GenerationParams p = ValidParams();
    c.mutate(p);
    const absl::Status s = ValidateGenerationParams(p, config);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.name << ": " << s;
    EXPECT_THAT(std::string(s.message()), StartsWith(c.field)) << c.name;
  }
}

TEST(RequestValidationTest, ContextOverflowMessageSaysTheNumbers) {
  GenerationParams p = ValidParams();  // 6 prompt tokens, micro context 512
  p.max_tokens = 510;
  const absl::Status s = ValidateGenerationParams(p, Micro());
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  const std::string message(s.message());
  EXPECT_THAT(message, HasSubstr("510"));
  EXPECT_THAT(message, HasSubstr("516"));
  EXPECT_THAT(message, HasSubstr("512"));
  EXPECT_THAT(message, HasSubstr("506"));  // how many would fit

  GenerationParams long_prompt = ValidParams();
  long_prompt.prompt_ids.assign(600, 'x');
  const absl::Status s2 = ValidateGenerationParams(long_prompt, Micro());
  EXPECT_THAT(std::string(s2.message()), HasSubstr("600"));
  EXPECT_THAT(std::string(s2.message()), HasSubstr("512"));
}

TEST(RequestValidationTest, FloatMessagesShowTheDigitsThatBrokeTheRule) {
  GenerationParams p = ValidParams();
  p.sampling.top_p = 1.0000001f;  // the float after 1.0f; six digits would print it as "1"
  EXPECT_THAT(std::string(ValidateGenerationParams(p, Micro()).message()),
              HasSubstr("got 1.0000001"));
  p = ValidParams();
  p.sampling.temperature = -0.5f;
  EXPECT_THAT(std::string(ValidateGenerationParams(p, Micro()).message()), HasSubstr("got -0.5"));
  EXPECT_EQ(FormatFloatExactly(0.1f), "0.1");
  EXPECT_EQ(FormatFloatExactly(0.95f), "0.95");
  EXPECT_EQ(std::strtof(FormatFloatExactly(0.1f + 1e-8f).c_str(), nullptr), 0.1f + 1e-8f);
}

TEST(RequestValidationTest, ServingLimitsBoundThePromptAndTheWholeCache) {
  GenerationParams p = ValidParams();  // 6 prompt tokens
  p.max_tokens = 10;                   // 16 tokens: 4 pages of 4
  EXPECT_TRUE(ValidateGenerationParams(p, Micro(), {.max_prompt_tokens = 6}).ok());
  const absl::Status prompt = ValidateGenerationParams(p, Micro(), {.max_prompt_tokens = 5});
  EXPECT_EQ(prompt.message(), "prompt has 6 tokens, more than the server's max_prompt_tokens of 5");
  EXPECT_TRUE(ValidateGenerationParams(p, Micro(), {.page_size = 4, .total_pages = 4}).ok());
  const absl::Status cache =
      ValidateGenerationParams(p, Micro(), {.page_size = 4, .total_pages = 3});
  EXPECT_EQ(cache.message(),
            "prompt + max_tokens = 16 tokens needs 4 KV pages; the server's cache has 3");
}

TEST(RequestValidationTest, StopIdsAtTheCapAreValid) {
  GenerationParams p = ValidParams();
  p.stop_token_ids.assign(kMaxStopTokenIds, 'a');
  EXPECT_TRUE(ValidateGenerationParams(p, Micro()).ok());
}

TEST(RequestValidationTest, LogitBiasAtTheCapIsValid) {
  ModelConfig config = Micro();
  config.vocab_size = 2 * static_cast<int32_t>(kMaxLogitBiasEntries);
  GenerationParams p = ValidParams();
  for (size_t i = 0; i < kMaxLogitBiasEntries; ++i) {
    p.sampling.logit_bias.push_back({static_cast<int32_t>(2 * i), i % 2 ? 100.0f : -100.0f});
  }
  EXPECT_TRUE(ValidateGenerationParams(p, config).ok());
  p.sampling.logit_bias.push_back({1, 0.0f});
  EXPECT_EQ(ValidateGenerationParams(p, config).code(), absl::StatusCode::kInvalidArgument);
}

TEST(RequestValidationTest, OutputControlMessagesSayTheBoundsAndTheValue) {
  auto message = [](std::function<void(GenerationParams&)> mutate) {
    GenerationParams p = ValidParams();
    mutate(p);
    return std::string(ValidateGenerationParams(p, Micro()).message());
  };
  EXPECT_EQ(message([](GenerationParams& p) { p.sampling.min_p = 1.0000001f; }),
            "sampling.min_p must be in (0, 1], or 0 for off, got 1.0000001");
  EXPECT_EQ(message([](GenerationParams& p) { p.sampling.presence_penalty = -2.5f; }),
            "sampling.presence_penalty must be in [-2, 2] (0 = off), got -2.5");
  EXPECT_EQ(message([](GenerationParams& p) {
              p.sampling.logit_bias = {{300, 1.0f}};
            }),
            "sampling.logit_bias[300]: token id 300 is outside the vocabulary [0, 259)");
  EXPECT_EQ(message([](GenerationParams& p) {
              p.sampling.logit_bias = {{3, 150.0f}};
            }),
            "sampling.logit_bias[3] must be finite and in [-100, 100], got 150");
  EXPECT_EQ(message([](GenerationParams& p) { p.min_tokens = 17; }),
            "min_tokens must be in [0, max_tokens = 16] (0 = off), got 17");
  EXPECT_EQ(message([](GenerationParams& p) { p.prompt_logprobs = 21; }),
            "prompt_logprobs must be in [0, 20] (or unset for none), got 21");
}

TEST(RequestValidationTest, BadIdMessageSaysTheIdAndVocabulary) {
  GenerationParams p = ValidParams();
  p.prompt_ids[2] = 4000;
  const std::string message(ValidateGenerationParams(p, Micro()).message());
  EXPECT_THAT(message, HasSubstr("4000"));
  EXPECT_THAT(message, HasSubstr("259"));
}

TEST(RequestValidationTest, BoundaryValuesAreValid) {
  const ModelConfig config = Micro();
  const std::vector<std::pair<std::string, std::function<void(GenerationParams&)>>> cases = {
      {"prompt + max_tokens == max_context",
       [&](GenerationParams& p) {
         p.max_tokens = config.max_context - static_cast<int32_t>(p.prompt_ids.size());
       }},
      {"prompt fills the context but one token",
       [&](GenerationParams& p) {
         p.prompt_ids.assign(config.max_context - 1, 'a');
         p.max_tokens = 1;
       }},
      {"single-token prompt", [](GenerationParams& p) { p.prompt_ids = {0}; }},
      {"last vocabulary id",
       [&](GenerationParams& p) {
         p.prompt_ids.push_back(config.vocab_size - 1);
         p.stop_token_ids.push_back(config.vocab_size - 1);
       }},
      {"no stop ids", [](GenerationParams& p) { p.stop_token_ids.clear(); }},
      {"all proto defaults", [](GenerationParams& p) { p.sampling = SamplingParams{}; }},
      {"top_p 1.0",
       [](GenerationParams& p) {
         p.sampling.temperature = 1.0f;
         p.sampling.top_p = 1.0f;
       }},
      {"top_p 0 (off)",
       [](GenerationParams& p) {
         p.sampling.temperature = 1.0f;
         p.sampling.top_p = 0.0f;
       }},
      {"tiny top_p", [](GenerationParams& p) { p.sampling.top_p = 1e-30f; }},
      {"top_k larger than the vocabulary", [](GenerationParams& p) { p.sampling.top_k = 100000; }},
      {"huge finite temperature",
       [](GenerationParams& p) { p.sampling.temperature = std::numeric_limits<float>::max(); }},
      {"negative zero temperature", [](GenerationParams& p) { p.sampling.temperature = -0.0f; }},
      {"any seed",
       [](GenerationParams& p) { p.sampling.seed = std::numeric_limits<uint64_t>::max(); }},
      {"ignore_eos", [](GenerationParams& p) { p.ignore_eos = true; }},
      {"min_p 1", [](GenerationParams& p) { p.sampling.min_p = 1.0f; }},
      {"tiny min_p", [](GenerationParams& p) { p.sampling.min_p = 1e-30f; }},
      {"repetition_penalty 1 (off)",
       [](GenerationParams& p) { p.sampling.repetition_penalty = 1; }},
      {"tiny repetition_penalty",
       [](GenerationParams& p) { p.sampling.repetition_penalty = 1e-30f; }},
      {"huge repetition_penalty",
       [](GenerationParams& p) {
         p.sampling.repetition_penalty = std::numeric_limits<float>::max();
       }},
      {"penalties at the bounds",
       [](GenerationParams& p) {
         p.sampling.presence_penalty = -2.0f;
         p.sampling.frequency_penalty = 2.0f;
       }},
      {"logit_bias at the bounds and edge ids",
       [&](GenerationParams& p) {
         p.sampling.logit_bias = {{0, -100.0f}, {config.vocab_size - 1, 100.0f}, {5, 0.0f}};
       }},
      {"min_tokens == max_tokens", [](GenerationParams& p) { p.min_tokens = p.max_tokens; }},
      {"logprobs 0 and 20",
       [](GenerationParams& p) {
         p.logprobs = 0;
         p.prompt_logprobs = kMaxLogprobs;
       }},
      {"logprobs 20 and prompt_logprobs 0",
       [](GenerationParams& p) {
         p.logprobs = kMaxLogprobs;
         p.prompt_logprobs = 0;
       }},
  };
  for (const auto& [name, mutate] : cases) {
    GenerationParams p = ValidParams();
    mutate(p);
    const absl::Status s = ValidateGenerationParams(p, config);
    EXPECT_TRUE(s.ok()) << name << ": " << s;
  }
}

TEST(RequestValidationTest, StopCriteriaComeFromTheRequestAndModel) {
  const ModelConfig config = Micro();
  GenerationParams p = ValidParams();
  p.ignore_eos = true;
  const StopCriteria c = MakeStopCriteria(p, config);
  EXPECT_EQ(c.eos_token_ids, std::vector<int32_t>{config.eos_token_id});
  EXPECT_TRUE(c.ignore_eos);
  EXPECT_EQ(c.stop_token_ids, p.stop_token_ids);
  EXPECT_EQ(c.max_tokens, p.max_tokens);
  EXPECT_EQ(CheckStop('a', p.max_tokens, c), FinishReason::kLength);
  EXPECT_EQ(CheckStop('\n', 1, c), FinishReason::kStop);
}

TEST(RequestValidationTest, EosIdsAreOneListPrimaryFirstEachOnce) {
  ModelConfig config = Micro();
  config.eos_token_id = 257;
  config.more_eos_token_ids = {300, 257, 301, 300};
  EXPECT_EQ(EosTokenIds(config), (std::vector<int32_t>{257, 300, 301}));
  config.eos_token_id = -1;
  config.more_eos_token_ids = {};
  EXPECT_TRUE(EosTokenIds(config).empty());
}

}  // namespace
}  // namespace kvserve
