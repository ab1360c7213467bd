#include "engine/sched/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "engine/sched/stop_rules.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> RandomLogits(int n, uint32_t seed, float scale = 3.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> logits(n);
  for (float& x : logits) x = dist(rng);
  return logits;
}

// Straightforward double-precision reference of the documented rule: candidates cut by min_p,
// ordered by (probability desc, id asc), cut to top_k, renormalized, cut to the nucleus, then the
// inverse CDF of SamplingUniform(seed, index) over them in id order.
struct Candidate {
  int32_t id;
  double p;
};
std::vector<Candidate> ReferenceDistribution(const std::vector<float>& logits,
                                             const SamplingParams& params) {
  const int n = static_cast<int>(logits.size());
  const double m = *std::max_element(logits.begin(), logits.end());
  std::vector<Candidate> c(n);
  for (int i = 0; i < n; ++i) c[i] = {i, std::exp((logits[i] - m) / params.temperature)};
  // min_p: the top token has weight 1, so a weight is the probability over the top one's.
  if (params.min_p > 0) {
    std::erase_if(c, [&](const Candidate& x) { return x.p < params.min_p; });
  }
  const bool top_k = params.top_k > 0 && params.top_k < n;
  const bool top_p = params.top_p > 0 && params.top_p < 1;
  if (top_k || top_p) {
    std::sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) {
      return a.p > b.p || (a.p == b.p && a.id < b.id);
    });
  }
  if (top_k && c.size() > static_cast<size_t>(params.top_k)) c.resize(params.top_k);
  auto normalize = [&c] {
    double total = 0;
    for (const Candidate& x : c) total += x.p;
    for (Candidate& x : c) x.p /= total;
  };
  normalize();
  if (top_p) {
    double cum = 0;
    size_t keep = c.size();
    for (size_t j = 0; j < c.size(); ++j) {
      cum += c[j].p;
      if (cum >= params.top_p) {
        keep = j + 1;
        break;
      }
    }
    c.resize(keep);
    normalize();
  }
  return c;
}

int32_t ReferenceSample(const std::vector<float>& logits, const SamplingParams& params,
                        int64_t index) {
  std::vector<Candidate> c = ReferenceDistribution(logits, params);
  std::sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
  const double u = SamplingUniform(params.seed, index);
  double cum = 0;
  for (const Candidate& x : c) {
    cum += x.p;
    if (cum > u) return x.id;
  }
  return c.back().id;
}

// Pearson's chi-square of `counts` against probabilities `p` (same order).
double ChiSquare(const std::vector<int>& counts, const std::vector<double>& p, int draws) {
  double chi2 = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double expected = p[i] * draws;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return chi2;
}

TEST(SamplerTest, GreedyIsTheArgmaxWithTheLowestIndexOnTies) {
  SamplerScratch scratch;
  for (uint32_t s = 0; s < 20; ++s) {
    const std::vector<float> logits = RandomLogits(259, s);
    const int32_t expected =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    EXPECT_EQ(GreedyToken(logits), expected);
    for (int64_t i : {0, 1, 17}) {
      EXPECT_EQ(SampleToken(logits, {.temperature = 0.0f, .seed = s}, i, &scratch), expected);
    }
  }
  const std::vector<float> ties = {1.0f, 5.0f, 2.0f, 5.0f, 5.0f};
  EXPECT_EQ(GreedyToken(ties), 1);
  EXPECT_EQ(SampleToken(ties, {}, 3, &scratch), 1);
  // NaN is never the argmax; all -inf falls back to id 0; empty gives -1.
  EXPECT_EQ(GreedyToken(std::vector<float>{kNaN, 1.0f, kNaN, 2.0f}), 3);
  EXPECT_EQ(GreedyToken(std::vector<float>{-kInf, -kInf}), 0);
  EXPECT_EQ(GreedyToken({}), -1);
  EXPECT_EQ(SampleToken({}, {.temperature = 1.0f}, 0, &scratch), -1);
}

TEST(SamplerTest, UniformDependsOnlyOnSeedAndIndex) {
  double sum = 0;
  std::set<double> distinct;
  for (int64_t i = 0; i < 10000; ++i) {
    const double u = SamplingUniform(42, i);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    EXPECT_EQ(u, SamplingUniform(42, i));
    sum += u;
    distinct.insert(u);
  }
  EXPECT_NEAR(sum / 10000, 0.5, 0.02);
  EXPECT_EQ(distinct.size(), 10000u);
  int same = 0;
  for (int64_t i = 0; i < 1000; ++i) same += SamplingUniform(1, i) == SamplingUniform(2, i);
  EXPECT_EQ(same, 0);
  // Neighbouring indices and seeds are not correlated in an obvious way.
  EXPECT_NE(SamplingUniform(0, 1), SamplingUniform(1, 0));
}

TEST(SamplerTest, SameSeedAndIndexGiveTheSameTokenWhateverTheInterleaving) {
  const std::vector<float> a_logits = RandomLogits(259, 1, 1.0f);
  const std::vector<float> b_logits = RandomLogits(259, 2, 1.0f);
  const SamplingParams a{.temperature = 0.9f, .top_k = 50, .top_p = 0.95f, .seed = 123};
  const SamplingParams b{.temperature = 1.3f, .seed = 456};
  constexpr int kSteps = 64;

  std::vector<int32_t> alone;
  SamplerScratch scratch;
  for (int64_t i = 0; i < kSteps; ++i) alone.push_back(SampleToken(a_logits, a, i, &scratch));

  // Batched with another request on a shared scratch, in a different order each step, and with a
  // "preemption" that recomputes the last 10 tokens.
  Sampler shared;
  std::vector<int32_t> batched;
  for (int64_t i = 0; i < kSteps; ++i) {
    if (i % 2) shared.Sample(b_logits, b, i * 7);
    batched.push_back(shared.Sample(a_logits, a, i));
    if (i % 3 == 0) shared.Sample(b_logits, b, i);
  }
  EXPECT_EQ(batched, alone);
  for (int64_t i = kSteps - 10; i < kSteps; ++i) EXPECT_EQ(shared.Sample(a_logits, a, i), alone[i]);
  // Sanity: the sequence is not constant, so the equality above means something.
  EXPECT_GT(std::set<int32_t>(alone.begin(), alone.end()).size(), 5u);
}

TEST(SamplerTest, DifferentSeedsGiveDifferentTokens) {
  const std::vector<float> flat(259, 0.0f);
  SamplerScratch scratch;
  int same = 0;
  for (int64_t i = 0; i < 500; ++i) {
    same += SampleToken(flat, {.temperature = 1.0f, .seed = 1}, i, &scratch) ==
            SampleToken(flat, {.temperature = 1.0f, .seed = 2}, i, &scratch);
  }
  EXPECT_LT(same, 15);  // 500 / 259 ~ 2 expected by chance
}

TEST(SamplerTest, TopKOneAndTinyTopPAreGreedy) {
  SamplerScratch scratch;
  for (uint32_t s = 0; s < 10; ++s) {
    std::vector<float> logits = RandomLogits(259, s, 0.5f);
    logits[s * 20] = logits[s * 20 + 3] = *std::max_element(logits.begin(), logits.end()) + 0.01f;
    const int32_t greedy = GreedyToken(logits);
    ASSERT_EQ(greedy, static_cast<int32_t>(s * 20));
    for (float t : {0.05f, 1.0f, 10.0f, 1000.0f}) {
      for (int64_t i = 0; i < 20; ++i) {
        EXPECT_EQ(SampleToken(logits, {.temperature = t, .top_k = 1, .seed = s}, i, &scratch),
                  greedy);
        EXPECT_EQ(SampleToken(logits, {.temperature = t, .top_p = 1e-6f, .seed = s}, i, &scratch),
                  greedy);
        EXPECT_EQ(SampleToken(logits, {.temperature = t, .top_k = 7, .top_p = 1e-6f, .seed = s}, i,
                              &scratch),
                  greedy);
      }
    }
  }
}

TEST(SamplerTest, MatchesTheReferenceRule) {
  SamplerScratch scratch;
  const std::vector<float> logits = RandomLogits(259, 5, 2.0f);
  const SamplingParams cases[] = {
      {.temperature = 1.0f},
      {.temperature = 0.3f, .top_k = 10},
      {.temperature = 2.0f, .top_p = 0.7f},
      {.temperature = 1.5f, .top_k = 40, .top_p = 0.9f},
      {.temperature = 1.0f, .top_k = 259},   // off: >= vocab
      {.temperature = 1.0f, .top_p = 1.0f},  // off
      {.temperature = 1.0f, .min_p = 0.1f},
      {.temperature = 0.5f, .top_k = 30, .min_p = 0.05f},
      {.temperature = 1.5f, .top_k = 40, .top_p = 0.8f, .min_p = 0.2f},
      {.temperature = 2.0f, .top_p = 0.9f, .min_p = 0.3f},
  };
  int c = 0;
  for (SamplingParams params : cases) {
    params.seed = 1000 + c++;
    for (int64_t i = 0; i < 300; ++i) {
      ASSERT_EQ(SampleToken(logits, params, i, &scratch), ReferenceSample(logits, params, i))
          << "case " << c << " index " << i;
    }
  }
}

TEST(SamplerTest, LargeVocabularyNucleusMatchesTheReference) {
  // 150k ids with a broad distribution: the nucleus holds thousands of tokens, so the incremental
  // partial sort takes several rounds.
  const std::vector<float> logits = RandomLogits(150000, 11, 1.0f);
  const SamplingParams params{.temperature = 1.0f, .top_p = 0.9f, .seed = 77};
  ASSERT_GT(ReferenceDistribution(logits, params).size(), 10000u);
  SamplerScratch scratch;
  for (int64_t i = 0; i < 10; ++i) {
    EXPECT_EQ(SampleToken(logits, params, i, &scratch), ReferenceSample(logits, params, i));
  }
  const SamplingParams top_k{.temperature = 0.8f, .top_k = 50, .seed = 78};
  for (int64_t i = 0; i < 10; ++i) {
    EXPECT_EQ(SampleToken(logits, top_k, i, &scratch), ReferenceSample(logits, top_k, i));
  }
}

TEST(SamplerTest, FrequenciesFollowTheSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 0.0f, 2.5f, -0.5f};
  const int n = static_cast<int>(logits.size());
  constexpr int kDraws = 40000;
  SamplerScratch scratch;
  const SamplingParams cases[] = {
      {.temperature = 0.7f, .seed = 3},
      {.temperature = 2.0f, .seed = 4},
      {.temperature = 1.0f, .top_k = 3, .seed = 5},
      {.temperature = 1.0f, .top_p = 0.8f, .seed = 6},
      {.temperature = 1.0f, .seed = 7, .min_p = 0.2f},
      {.temperature = 2.0f, .top_k = 6, .seed = 8, .min_p = 0.3f},
  };
  for (const SamplingParams& params : cases) {
    // Expected probabilities computed independently, per id.
    std::vector<double> p(n, 0.0);
    for (const Candidate& x : ReferenceDistribution(logits, params)) p[x.id] = x.p;
    std::vector<int> counts(n, 0);
    for (int64_t i = 0; i < kDraws; ++i) ++counts[SampleToken(logits, params, i, &scratch)];
    std::vector<int> support_counts;
    std::vector<double> support_p;
    for (int id = 0; id < n; ++id) {
      if (p[id] == 0.0) {
        EXPECT_EQ(counts[id], 0) << "id " << id << " is outside the support";
      } else {
        support_counts.push_back(counts[id]);
        support_p.push_back(p[id]);
      }
    }
    // Degrees of freedom <= 7: the 99.9999% quantile of chi-square(7) is about 38.
    EXPECT_LT(ChiSquare(support_counts, support_p, kDraws), 38.0)
        << "temperature " << params.temperature << " top_k " << params.top_k;
  }
  // And temperature really matters: the most likely id is much more frequent when colder.
  std::vector<int> cold(n, 0), hot(n, 0);
  for (int64_t i = 0; i < 5000; ++i) {
    ++cold[SampleToken(logits, {.temperature = 0.5f, .seed = 9}, i, &scratch)];
    ++hot[SampleToken(logits, {.temperature = 5.0f, .seed = 9}, i, &scratch)];
  }
  EXPECT_GT(cold[4], hot[4] + 1000);
}

TEST(SamplerTest, MinPDropsTokensBelowAFractionOfTheTopProbabilityAfterTemperature) {
  // Probabilities proportional to 1, 1/2, 1/4, 1/10, 1/20 at temperature 1.
  const std::vector<float> logits = {std::log(0.25f), 0.0f, std::log(0.05f), std::log(0.5f),
                                     std::log(0.1f)};
  SamplerScratch scratch;
  auto support = [&](SamplingParams params) {
    std::set<int32_t> seen;
    for (int64_t i = 0; i < 3000; ++i) seen.insert(SampleToken(logits, params, i, &scratch));
    return seen;
  };
  EXPECT_EQ(support({.temperature = 1.0f, .seed = 1}), (std::set<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(support({.temperature = 1.0f, .seed = 1, .min_p = 0.2f}), (std::set<int32_t>{0, 1, 3}));
  // Temperature 2 flattens first (relative probabilities 1, .71, .5, .32, .22): min_p 0.3 keeps 4.
  EXPECT_EQ(support({.temperature = 2.0f, .seed = 1, .min_p = 0.3f}),
            (std::set<int32_t>{0, 1, 3, 4}));
  // The top-k path applies it too; min_p 1 keeps only the top token (sampling becomes greedy).
  EXPECT_EQ(support({.temperature = 1.0f, .top_k = 4, .seed = 1, .min_p = 0.2f}),
            (std::set<int32_t>{0, 1, 3}));
  EXPECT_EQ(support({.temperature = 1.0f, .seed = 1, .min_p = 1.0f}), (std::set<int32_t>{1}));
  EXPECT_EQ(support({.temperature = 1.0f, .top_k = 3, .seed = 1, .min_p = 1.0f}),
            (std::set<int32_t>{1}));
  // And min_p never changes the greedy token.
  EXPECT_EQ(SampleToken(logits, {.min_p = 1.0f}, 0, &scratch), 1);
}

TEST(SamplerTest, TopKRestrictsTheSupport) {
  const std::vector<float> logits = RandomLogits(100, 21, 0.3f);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  const std::set<int32_t> top5(order.begin(), order.begin() + 5);
  SamplerScratch scratch;
  std::set<int32_t> seen;
  for (int64_t i = 0; i < 2000; ++i) {
    seen.insert(SampleToken(logits, {.temperature = 50.0f, .top_k = 5, .seed = 8}, i, &scratch));
  }
  EXPECT_EQ(seen, top5);
}

TEST(SamplerTest, TiesAtTheCutKeepTheLowerIds) {
  // Flat logits: every cut is a tie, broken towards the lower id.
  const std::vector<float> flat(10, 0.25f);
  SamplerScratch scratch;
  std::set<int32_t> top3, nucleus;
  for (int64_t i = 0; i < 1000; ++i) {
    top3.insert(SampleToken(flat, {.temperature = 1.0f, .top_k = 3, .seed = 4}, i, &scratch));
    nucleus.insert(
        SampleToken(flat, {.temperature = 1.0f, .top_p = 0.45f, .seed = 4}, i, &scratch));
  }
  EXPECT_EQ(top3, (std::set<int32_t>{0, 1, 2}));
  EXPECT_EQ(nucleus, (std::set<int32_t>{0, 1, 2, 3, 4}));  // 5 * 0.1 is the first sum >= 0.45
}

TEST(SamplerTest, TinyVocabularies) {
  SamplerScratch scratch;
  const std::vector<float> one = {-3.0f};
  const std::vector<float> two = {0.0f, std::log(3.0f)};  // p = 1/4, 3/4
  int ones = 0;
  for (int64_t i = 0; i < 4000; ++i) {
    for (const SamplingParams& p :
         {SamplingParams{.temperature = 1.0f}, SamplingParams{.temperature = 1.0f, .top_k = 1},
          SamplingParams{.temperature = 1.0f, .top_k = 5, .top_p = 0.5f}}) {
      ASSERT_EQ(SampleToken(one, p, i, &scratch), 0);
    }
    ones += SampleToken(two, {.temperature = 1.0f, .seed = 12}, i, &scratch);
    ASSERT_EQ(SampleToken(two, {.temperature = 1.0f, .top_p = 0.7f, .seed = 12}, i, &scratch), 1);
  }
  EXPECT_NEAR(ones / 4000.0, 0.75, 0.03);
}

TEST(SamplerTest, NanLogitsAreNeverSampled) {
  std::vector<float> logits(50, 0.0f);
  for (int i = 0; i < 50; i += 2) logits[i] = kNaN;
  SamplerScratch scratch;
  for (const SamplingParams& params :
       {SamplingParams{.temperature = 1.0f}, SamplingParams{.temperature = 1.0f, .top_k = 30},
        SamplingParams{.temperature = 1.0f, .top_p = 0.5f}}) {
    for (int64_t i = 0; i < 500; ++i) {
      const int32_t t = SampleToken(logits, params, i, &scratch);
      ASSERT_EQ(t % 2, 1) << t;
    }
  }
  // Masked (-inf) tokens are never sampled either.
  std::vector<float> masked(10, -kInf);
  masked[6] = 0.0f;
  masked[8] = 0.0f;
  for (int64_t i = 0; i < 100; ++i) {
    const int32_t t = SampleToken(masked, {.temperature = 1.0f, .seed = 1}, i, &scratch);
    ASSERT_TRUE(t == 6 || t == 8) << t;
  }
}

TEST(SamplerTest, ScratchIsNotReallocatedOnceWarm) {
  const std::vector<float> logits = RandomLogits(4096, 3);
  SamplerScratch scratch;
  const SamplingParams params[] = {{.temperature = 1.0f},
                                   {.temperature = 1.0f, .top_k = 20},
                                   {.temperature = 1.0f, .top_p = 0.5f},
                                   {.temperature = 0.5f, .top_k = 100, .top_p = 0.9f}};
  for (const SamplingParams& p : params) SampleToken(logits, p, 0, &scratch);
  const int32_t* ids = scratch.ids.data();
  const float* weights = scratch.weights.data();
  for (int64_t i = 1; i < 200; ++i) {
    SampleToken(logits, params[i % 4], i, &scratch);
    ASSERT_EQ(scratch.ids.data(), ids);
    ASSERT_EQ(scratch.weights.data(), weights);
  }
  // A smaller vocabulary reuses the same buffers too.
  SampleToken(RandomLogits(259, 4), params[3], 0, &scratch);
  EXPECT_EQ(scratch.ids.data(), ids);
  EXPECT_EQ(scratch.weights.data(), weights);

  // Reserve() makes even the first call of every kind allocation-free.
  SamplerScratch reserved;
  reserved.Reserve(4096);
  const int32_t* reserved_ids = reserved.ids.data();
  const float* reserved_weights = reserved.weights.data();
  for (int64_t i = 0; i < 8; ++i) {
    SampleToken(logits, params[i % 4], i, &reserved);
    ASSERT_EQ(reserved.ids.data(), reserved_ids);
    ASSERT_EQ(reserved.weights.data(), reserved_weights);
  }
}

TEST(StopCriteriaTest, StopsOnEosStopIdsAndLength) {
  const StopCriteria c{
      .eos_token_ids = {257}, .ignore_eos = false, .stop_token_ids = {10, 33}, .max_tokens = 5};
  EXPECT_EQ(CheckStop('a', 1, c), FinishReason::kNone);
  EXPECT_EQ(CheckStop(257, 1, c), FinishReason::kStop);
  EXPECT_EQ(CheckStop(10, 2, c), FinishReason::kStop);
  EXPECT_EQ(CheckStop(33, 3, c), FinishReason::kStop);
  EXPECT_EQ(CheckStop('a', 4, c), FinishReason::kNone);
  EXPECT_EQ(CheckStop('a', 5, c), FinishReason::kLength);
  // A stop token that is also the last allowed token reports kStop.
  EXPECT_EQ(CheckStop(257, 5, c), FinishReason::kStop);
  EXPECT_EQ(CheckStop(10, 5, c), FinishReason::kStop);
}

TEST(StopCriteriaTest, EveryEosIdStops) {
  StopCriteria c{
      .eos_token_ids = {257, 300, 301}, .ignore_eos = false, .stop_token_ids = {}, .max_tokens = 9};
  EXPECT_EQ(CheckStop(257, 1, c), FinishReason::kStop);
  EXPECT_EQ(CheckStop(300, 1, c), FinishReason::kStop);
  EXPECT_EQ(CheckStop(301, 1, c), FinishReason::kStop);
  EXPECT_EQ(CheckStop(302, 1, c), FinishReason::kNone);
  c.ignore_eos = true;
  EXPECT_EQ(CheckStop(300, 1, c), FinishReason::kNone);
}

TEST(StopCriteriaTest, IgnoreEosKeepsGoingButStopIdsStillStop) {
  const StopCriteria c{
      .eos_token_ids = {257}, .ignore_eos = true, .stop_token_ids = {257 - 1}, .max_tokens = 3};
  EXPECT_EQ(CheckStop(257, 1, c), FinishReason::kNone);
  EXPECT_EQ(CheckStop(257, 3, c), FinishReason::kLength);
  EXPECT_EQ(CheckStop(256, 1, c), FinishReason::kStop);
  // EOS listed explicitly in stop_token_ids stops even with ignore_eos.
  StopCriteria explicit_eos = c;
  explicit_eos.stop_token_ids.push_back(257);
  EXPECT_EQ(CheckStop(257, 1, explicit_eos), FinishReason::kStop);
  // No EOS in the model.
  const StopCriteria no_eos{
      .eos_token_ids = {}, .ignore_eos = false, .stop_token_ids = {}, .max_tokens = 2};
  EXPECT_EQ(CheckStop(257, 1, no_eos), FinishReason::kNone);
  EXPECT_EQ(CheckStop(-1, 1, no_eos), FinishReason::kNone);
  EXPECT_EQ(CheckStop(0, 2, no_eos), FinishReason::kLength);
  EXPECT_STREQ(FinishReasonName(FinishReason::kLength), "length");
}

}  // namespace
}  // namespace kvserve
