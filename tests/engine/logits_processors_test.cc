// The logits processors (min_tokens, logit_bias, repetition / presence / frequency penalties),
// PenaltyState, and SampleNextToken: hand-computed rows, HF and OpenAI semantics, determinism, and
// the no-copy fast path.
#include "engine/sched/logits_processors.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "engine/model/model_config.h"
#include "engine/sched/stop_rules.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr int32_t kEos = 257;  // the micro preset's

ModelConfig Micro() { return *PresetConfig("micro"); }

std::vector<float> RandomLogits(int n, uint32_t seed, float scale = 2.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> logits(n);
  for (float& x : logits) x = dist(rng);
  return logits;
}

GenerationParams Request(std::vector<int32_t> prompt, SamplingParams sampling) {
  GenerationParams p;
  p.has_prompt = true;
  p.prompt_ids = std::move(prompt);
  p.max_tokens = 64;
  p.sampling = std::move(sampling);
  return p;
}

std::vector<float> Processed(const std::vector<float>& raw, const RequestSampling& s,
                             int64_t output_index) {
  std::vector<float> out(raw.size());
  ApplyLogitsProcessors(raw, s, output_index, absl::MakeSpan(out));
  return out;
}

TEST(LogitsProcessorsTest, HandComputedRowInTheDocumentedOrder) {
  ModelConfig config = Micro();
  config.vocab_size = 8;
  config.eos_token_id = 6;
  const std::vector<float> raw = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 0.0f, 1.0f, 4.0f};
  GenerationParams p = Request({0, 1, 1}, {.repetition_penalty = 2.0f,
                                           .presence_penalty = 0.5f,
                                           .frequency_penalty = 0.25f,
                                           .logit_bias = {{5, 1.5f}, {7, -3.0f}, {3, 1.0f}}});
  p.min_tokens = 4;
  RequestSampling s = MakeRequestSampling(p, config);
  for (int32_t t : {2, 2, 3}) s.Accept(t);
  // 1. EOS (6) masked while output_index < 4; 2. bias; 3. repetition over prompt {0, 1} and
  // output {2, 3}; 4-5. frequency and presence over output {2: twice, 3: once}.
  const std::vector<float> want = {
      2.0f / 2,                              // prompt: 1
      -1.0f * 2,                             // prompt: -2
      0.5f / 2 - 0.25f * 2 - 0.5f,           // -0.75
      (3.0f + 1.0f) / 2 - 0.25f * 1 - 0.5f,  // bias first, then penalties: 1.25
      -2.0f,                                 // untouched
      0.0f + 1.5f,                           // bias only
      -kInf,                                 // EOS before min_tokens
      4.0f - 3.0f,                           // bias only
  };
  EXPECT_EQ(Processed(raw, s, 3), want);
  // From output index 4 on, EOS is back.
  std::vector<float> after = want;
  after[6] = 1.0f;
  EXPECT_EQ(Processed(raw, s, 4), after);
  // Greedy sampling sees the processed row: token 3's 3.0 became 1.25, 7's 4.0 became 1.0, so the
  // argmax is 5 (1.5), not the raw argmax 7.
  SamplerScratch scratch;
  EXPECT_EQ(SampleNextToken(raw, s, 3, &scratch), 5);
}

TEST(LogitsProcessorsTest, RepetitionPenaltyHasHuggingFaceSemantics) {
  // HF's RepetitionPenaltyLogitsProcessor: score < 0 ? score * p : score / p, for every id in the
  // sequence so far (prompt + output); other ids untouched.
  const ModelConfig config = Micro();
  const std::vector<float> raw = RandomLogits(259, 3);
  for (float penalty : {1.3f, 0.5f}) {
    GenerationParams p = Request({10, 11, 12, 10}, {.repetition_penalty = penalty});
    RequestSampling s = MakeRequestSampling(p, config);
    s.Accept(20);
    s.Accept(10);
    const std::vector<float> out = Processed(raw, s, 2);
    const std::set<int32_t> seen = {10, 11, 12, 20};
    for (int32_t i = 0; i < 259; ++i) {
      const float hf = raw[i] < 0 ? raw[i] * penalty : raw[i] / penalty;
      EXPECT_EQ(out[i], seen.count(i) ? hf : raw[i]) << "id " << i << " penalty " << penalty;
    }
  }
  // A penalty > 1 discourages: greedy leaves a repeated argmax for a fresh token.
  std::vector<float> row(259, 0.0f);
  row[10] = 3.0f;
  row[50] = 2.0f;
  GenerationParams p = Request({10}, {.repetition_penalty = 2.0f});
  SamplerScratch scratch;
  EXPECT_EQ(SampleNextToken(row, MakeRequestSampling(p, config), 0, &scratch), 50);
  p.sampling.repetition_penalty = 1.0f;  // off
  EXPECT_EQ(SampleNextToken(row, MakeRequestSampling(p, config), 0, &scratch), 10);
}

TEST(LogitsProcessorsTest, PresenceAndFrequencyCountOutputTokensOnly) {
  const ModelConfig config = Micro();
  const std::vector<float> raw(259, 1.0f);
  GenerationParams p = Request({40, 41}, {.presence_penalty = 0.75f, .frequency_penalty = -0.5f});
  RequestSampling s = MakeRequestSampling(p, config);
  EXPECT_EQ(Processed(raw, s, 0), raw);  // nothing generated yet: the prompt does not count
  for (int32_t t : {40, 7, 7, 7, 9}) s.Accept(t);
  const std::vector<float> out = Processed(raw, s, 5);
  EXPECT_EQ(out[40], 1.0f + 0.5f * 1 - 0.75f);
  EXPECT_EQ(out[7], 1.0f + 0.5f * 3 - 0.75f);
  EXPECT_EQ(out[9], 1.0f + 0.5f * 1 - 0.75f);
  EXPECT_EQ(out[41], 1.0f);  // prompt only
  EXPECT_EQ(out[8], 1.0f);
  EXPECT_EQ(s.penalties.Find(7)->output_count, 3);
  EXPECT_EQ(s.penalties.Find(41), nullptr);  // kOutput does not track the prompt
}

TEST(LogitsProcessorsTest, LogitBiasForcesAndBansTokensUnderGreedy) {
  const ModelConfig config = Micro();
  SamplerScratch scratch;
  for (uint32_t seed = 0; seed < 20; ++seed) {
    const std::vector<float> raw = RandomLogits(259, seed);
    const int32_t argmax = GreedyToken(raw);
    const int32_t forced = static_cast<int32_t>((seed * 37 + 11) % 259);
    GenerationParams p = Request({1}, {.logit_bias = {{forced, 100.0f}}});
    EXPECT_EQ(SampleNextToken(raw, MakeRequestSampling(p, config), 0, &scratch), forced);
    // Sampling at temperature 1 picks it too: +100 outweighs every other logit by e^90.
    p.sampling.temperature = 1.0f;
    p.sampling.seed = seed;
    EXPECT_EQ(SampleNextToken(raw, MakeRequestSampling(p, config), 0, &scratch), forced);
    // -100 bans the argmax: greedy takes the runner-up.
    GenerationParams ban = Request({1}, {.logit_bias = {{argmax, -100.0f}}});
    std::vector<float> without = raw;
    without[argmax] = -kInf;
    EXPECT_EQ(SampleNextToken(raw, MakeRequestSampling(ban, config), 0, &scratch),
              GreedyToken(without));
  }
}

TEST(LogitsProcessorsTest, MinTokensMasksStopIdsUntilTheCountThenAllowsThem) {
  const ModelConfig config = Micro();
  std::vector<float> raw = RandomLogits(259, 5, 0.5f);
  raw[kEos] = 30.0f;  // EOS, then stop id 10, are by far the likeliest (even at temperature 3)
  raw[10] = 29.0f;
  GenerationParams p = Request({1, 2}, {});
  p.stop_token_ids = {10};
  p.min_tokens = 3;
  RequestSampling s = MakeRequestSampling(p, config);
  EXPECT_EQ(s.min_tokens_masked_ids, (std::vector<int32_t>{10, kEos}));
  SamplerScratch scratch;
  std::vector<float> others = raw;
  others[kEos] = others[10] = -kInf;
  for (int64_t i = 0; i < 3; ++i)
    EXPECT_EQ(SampleNextToken(raw, s, i, &scratch), GreedyToken(others));
  EXPECT_EQ(SampleNextToken(raw, s, 3, &scratch), kEos);
  // Sampled at a high temperature: never a stop id before min_tokens, often one after.
  p.sampling = {.temperature = 3.0f, .seed = 17};
  s = MakeRequestSampling(p, config);
  int stops_after = 0;
  for (int64_t i = 0; i < 400; ++i) {
    const int32_t masked = SampleNextToken(raw, s, i % 3, &scratch);  // indices 0..2: masked
    ASSERT_TRUE(masked != kEos && masked != 10) << i;
    const int32_t free = SampleNextToken(raw, s, 3 + i, &scratch);
    stops_after += free == kEos || free == 10;
  }
  EXPECT_GT(stops_after, 380);
  // With ignore_eos, EOS does not stop the request, so only the stop ids are masked.
  p.ignore_eos = true;
  s = MakeRequestSampling(p, config);
  EXPECT_EQ(s.min_tokens_masked_ids, (std::vector<int32_t>{10}));
  p.sampling = {};
  EXPECT_EQ(SampleNextToken(raw, MakeRequestSampling(p, config), 0, &scratch), kEos);
  // Every EOS id of the model is masked.
  ModelConfig many_eos = config;
  many_eos.more_eos_token_ids = {258, 3};
  p.ignore_eos = false;
  EXPECT_EQ(MakeRequestSampling(p, many_eos).min_tokens_masked_ids,
            (std::vector<int32_t>{3, 10, kEos, 258}));
  p.min_tokens = 0;
  EXPECT_TRUE(MakeRequestSampling(p, many_eos).min_tokens_masked_ids.empty());
}

TEST(LogitsProcessorsTest, FastPathDoesNotCopyTheRow) {
  const ModelConfig config = Micro();
  const std::vector<float> raw = RandomLogits(259, 8);
  const SamplingParams sampled{.temperature = 0.8f, .top_k = 40, .seed = 3, .min_p = 0.05f};
  SamplerScratch scratch;
  // Inactive: plain params; presence / frequency before any output; min_tokens already reached.
  GenerationParams plain = Request({1, 2, 3}, sampled);
  GenerationParams presence = plain;
  presence.sampling.presence_penalty = 1.0f;
  presence.sampling.frequency_penalty = 0.5f;
  GenerationParams min_tokens = plain;
  min_tokens.min_tokens = 2;
  for (const GenerationParams& p : {plain, presence, min_tokens}) {
    const RequestSampling s = MakeRequestSampling(p, config);
    EXPECT_FALSE(LogitsProcessorsActive(s, 2));
    for (int64_t i = 2; i < 50; ++i) {
      TokenLogprobs lp;
      ASSERT_EQ(SampleNextToken(raw, s, i, &scratch, i % 2 ? &lp : nullptr),
                SampleToken(raw, p.sampling, i, &scratch));
    }
  }
  EXPECT_EQ(scratch.processed.capacity(), 0u) << "an inactive call copied the row";
  // Active: the copy lands in the scratch, which is then reused without reallocation.
  RequestSampling s = MakeRequestSampling(presence, config);
  s.Accept(4);
  ASSERT_TRUE(LogitsProcessorsActive(s, 1));
  SampleNextToken(raw, s, 1, &scratch);
  ASSERT_EQ(scratch.processed.size(), raw.size());
  const float* buffer = scratch.processed.data();
  for (int64_t i = 2; i < 50; ++i) {
    s.Accept(SampleNextToken(raw, s, i, &scratch));
    ASSERT_EQ(scratch.processed.data(), buffer);
  }
}

TEST(LogitsProcessorsTest, ActiveSamplingEqualsSampleTokenOnTheProcessedRow) {
  const ModelConfig config = Micro();
  const std::vector<float> raw = RandomLogits(259, 9);
  GenerationParams p = Request({5, 6, 7}, {.temperature = 1.1f,
                                           .top_p = 0.9f,
                                           .seed = 99,
                                           .repetition_penalty = 1.2f,
                                           .frequency_penalty = 0.3f,
                                           .logit_bias = {{100, 2.0f}}});
  RequestSampling s = MakeRequestSampling(p, config);
  SamplerScratch scratch, other;
  for (int64_t i = 0; i < 100; ++i) {
    const int32_t token = SampleNextToken(raw, s, i, &scratch);
    ASSERT_EQ(token, SampleToken(Processed(raw, s, i), p.sampling, i, &other)) << i;
    s.Accept(token);
  }
}

// A little generation loop over a fake model whose logits depend on the last token: tokens, with
// or without logprobs, with a preemption (state rebuilt from the tokens) in the middle.
struct Generated {
  std::vector<int32_t> tokens;
  std::vector<TokenLogprobs> logprobs;
};
Generated Generate(const GenerationParams& p, bool with_logprobs, int64_t rebuild_at = -1) {
  const ModelConfig config = Micro();
  RequestSampling s = MakeRequestSampling(p, config);
  SamplerScratch scratch;
  Generated g;
  int32_t last = p.prompt_ids.back();
  for (int64_t i = 0; i < p.max_tokens; ++i) {
    if (i == rebuild_at) {
      s = MakeRequestSampling(p, config);  // everything but the tokens lost
      s.Rebuild(p.prompt_ids, g.tokens);
    }
    const std::vector<float> row = RandomLogits(259, 1000 + last, 1.5f);
    TokenLogprobs lp;
    const int32_t token = SampleNextToken(row, s, i, &scratch, with_logprobs ? &lp : nullptr);
    s.Accept(token);
    g.tokens.push_back(token);
    if (with_logprobs) g.logprobs.push_back(lp);
    last = token;
  }
  return g;
}

TEST(LogitsProcessorsTest, SameSeedSameTokensWithOrWithoutLogprobsAndAcrossARebuild) {
  GenerationParams p = Request({3, 1, 4, 1, 5}, {.temperature = 0.9f,
                                                 .top_k = 50,
                                                 .seed = 2024,
                                                 .min_p = 0.02f,
                                                 .repetition_penalty = 1.3f,
                                                 .presence_penalty = 0.4f,
                                                 .frequency_penalty = 0.2f,
                                                 .logit_bias = {{65, 1.0f}}});
  p.logprobs = 3;
  p.min_tokens = 5;
  p.max_tokens = 48;
  const Generated plain = Generate(p, false);
  const Generated with_logprobs = Generate(p, true);
  const Generated rebuilt = Generate(p, true, 20);
  EXPECT_EQ(with_logprobs.tokens, plain.tokens);
  EXPECT_EQ(rebuilt.tokens, plain.tokens);
  ASSERT_EQ(with_logprobs.logprobs.size(), 48u);
  for (size_t i = 0; i < 48; ++i) {
    EXPECT_EQ(with_logprobs.logprobs[i].token, plain.tokens[i]);
    EXPECT_EQ(with_logprobs.logprobs[i].num_top, 3);
    EXPECT_EQ(with_logprobs.logprobs[i].logprob, rebuilt.logprobs[i].logprob);
  }
  // The penalties really change the output (so the equalities above mean something).
  GenerationParams unpenalized = p;
  unpenalized.sampling.repetition_penalty = 0.0f;
  unpenalized.sampling.presence_penalty = unpenalized.sampling.frequency_penalty = 0.0f;
  EXPECT_NE(Generate(unpenalized, false).tokens, plain.tokens);
  GenerationParams other_seed = p;
  other_seed.sampling.seed = 2025;
  EXPECT_NE(Generate(other_seed, false).tokens, plain.tokens);
}

TEST(PenaltyStateTest, IncrementalEqualsRebuiltAndAddDoesNotAllocate) {
  const std::vector<int32_t> prompt = {9, 8, 9, 7};
  const std::vector<int32_t> output = {7, 1, 1, 2, 9, 1};
  PenaltyState incremental;
  incremental.Configure(PenaltyState::Track::kPromptAndOutput, prompt.size() + output.size());
  incremental.Rebuild(prompt, {});
  const PenaltyState::Entry* entries = incremental.entries().data();
  for (int32_t t : output) incremental.Add(t);
  EXPECT_EQ(incremental.entries().data(), entries);  // reserved at Configure
  PenaltyState rebuilt = incremental;
  rebuilt.Rebuild(prompt, output);
  ASSERT_EQ(rebuilt.entries().size(), 5u);
  EXPECT_TRUE(std::equal(rebuilt.entries().begin(), rebuilt.entries().end(),
                         incremental.entries().begin(), incremental.entries().end()));
  const std::vector<PenaltyState::Entry> want = {
      {9, 1, true}, {8, 0, true}, {7, 1, true}, {1, 3, false}, {2, 1, false}};
  EXPECT_TRUE(std::equal(want.begin(), want.end(), rebuilt.entries().begin()));
  EXPECT_EQ(rebuilt.num_output(), 6);
  // Tracking nothing ignores everything.
  PenaltyState none;
  none.Rebuild(prompt, output);
  none.Add(3);
  EXPECT_TRUE(none.entries().empty());
  EXPECT_EQ(none.num_output(), 0);
}

}  // namespace
}  // namespace kvserve
