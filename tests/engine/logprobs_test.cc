// Log-probabilities against an independent long-double reference: exact ids, order and ranks,
// logprobs within 1e-5 absolute (plus float rounding of the value itself, which for |logprob| in
// the thousands is larger than 1e-5).
#include "engine/sched/logprobs.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace kvserve {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Reference: log_softmax in long double, straight from the definition, NaN as -inf.
struct Reference {
  std::vector<long double> logprob;
  std::vector<int32_t> order;  // (logprob desc, id asc)
};
Reference ReferenceLogprobs(const std::vector<float>& row) {
  const int64_t n = static_cast<int64_t>(row.size());
  std::vector<long double> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = std::isnan(row[i]) ? -INFINITY : row[i];
  long double m = -INFINITY;
  for (long double v : x) m = std::max(m, v);
  Reference ref;
  ref.logprob.assign(n, -INFINITY);
  if (m == INFINITY) {
    const auto count = std::count(x.begin(), x.end(), static_cast<long double>(INFINITY));
    for (int64_t i = 0; i < n; ++i) {
      if (x[i] == INFINITY) ref.logprob[i] = -std::log(static_cast<long double>(count));
    }
  } else if (m > -INFINITY) {
    long double sum = 0;
    for (long double v : x) sum += std::exp(v - m);
    for (int64_t i = 0; i < n; ++i) ref.logprob[i] = x[i] - m - std::log(sum);
  }
  ref.order.resize(n);
  std::iota(ref.order.begin(), ref.order.end(), 0);
  // Ordered by the exact logit (logprob = logit - constant), ties towards the lower id.
  std::stable_sort(ref.order.begin(), ref.order.end(),
                   [&](int32_t a, int32_t b) { return x[a] > x[b]; });
  return ref;
}

int32_t ReferenceRank(const Reference& ref, int32_t token) {
  const auto it = std::find(ref.order.begin(), ref.order.end(), token);
  return static_cast<int32_t>(it - ref.order.begin()) + 1;
}

void ExpectClose(float got, long double want, const char* what) {
  if (std::isinf(want)) {
    EXPECT_EQ(got, static_cast<float>(want)) << what;
    return;
  }
  const long double tolerance = 1e-5L + std::fabs(want) * 0x1p-22L;  // 1e-5 + 2 float ulps
  EXPECT_LE(std::fabs(got - want), tolerance) << what << ": got " << got << " want " << want;
}

// Random rows: mostly normal logits, with -inf, NaN and values large enough to overflow exp
// without max-subtraction; `huge` adds a few at +-1e4..1e30.
std::vector<float> RandomRow(int64_t n, uint32_t seed, bool huge) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> row(n);
  for (float& x : row) {
    const float u = unit(rng);
    if (u < 0.03f) {
      x = -kInf;
    } else if (u < 0.04f) {
      x = kNaN;
    } else if (huge && u < 0.045f) {
      const float magnitudes[] = {1e4f, 3e4f, 1e6f, 1e30f};
      x = magnitudes[rng() % 4] * (rng() % 2 ? 1.0f : -1.0f);
    } else {
      x = normal(rng) + (huge ? 90.0f : 0.0f);  // exp(90) overflows float
    }
  }
  return row;
}

void CheckRow(const std::vector<float>& row, int32_t num_top, SamplerScratch* scratch) {
  const Reference ref = ReferenceLogprobs(row);
  const int32_t n = static_cast<int32_t>(row.size());
  // The argmax, a middling token, a -inf one and a NaN one (if any), the last id.
  std::vector<int32_t> tokens = {ref.order[0], ref.order[n / 2], n - 1, 0};
  for (int32_t i = 0; i < n; ++i) {
    if (row[i] == -kInf || std::isnan(row[i])) tokens.push_back(i);
    if (tokens.size() > 8) break;
  }
  for (int32_t token : tokens) {
    TokenLogprobs out;
    ComputeTokenLogprobs(row, token, num_top, scratch, &out);
    EXPECT_EQ(out.token, token);
    ExpectClose(out.logprob, ref.logprob[token], "sampled token");
    EXPECT_EQ(out.rank, ReferenceRank(ref, token)) << "token " << token;
    ASSERT_EQ(out.num_top, std::min(num_top, n));
    for (int32_t j = 0; j < out.num_top; ++j) {
      ASSERT_EQ(out.top[j].token, ref.order[j]) << "top " << j;
      ExpectClose(out.top[j].logprob, ref.logprob[ref.order[j]], "top entry");
    }
    if (out.rank <= out.num_top) {
      EXPECT_EQ(out.top[out.rank - 1].token, token);
      EXPECT_EQ(out.top[out.rank - 1].logprob, out.logprob);
    }
  }
}

TEST(LogprobsTest, MatchTheLongDoubleReferenceOnRandomRows) {
  SamplerScratch scratch;
  for (int64_t vocab : {259, 150000}) {
    for (uint32_t seed = 0; seed < 6; ++seed) {
      SCOPED_TRACE(testing::Message() << "vocab " << vocab << " seed " << seed);
      CheckRow(RandomRow(vocab, seed, /*huge=*/seed % 2 == 1), seed % 3 == 0 ? 20 : 5, &scratch);
    }
  }
}

TEST(LogprobsTest, ProbabilitiesSumToOne) {
  const std::vector<float> row = RandomRow(259, 42, false);
  SamplerScratch scratch;
  double total = 0;
  for (int32_t i = 0; i < 259; ++i) {
    TokenLogprobs out;
    ComputeTokenLogprobs(row, i, 0, &scratch, &out);
    total += std::exp(static_cast<double>(out.logprob));
  }
  EXPECT_NEAR(total, 1.0, 1e-5);
}

TEST(LogprobsTest, TiesRankTowardsTheLowerIdAndNanCountsAsMinusInfinity) {
  const std::vector<float> row = {1.0f, 3.0f, kNaN, 3.0f, -kInf, 2.0f, 3.0f};
  SamplerScratch scratch;
  TokenLogprobs out;
  ComputeTokenLogprobs(row, 3, 7, &scratch, &out);
  EXPECT_EQ(out.rank, 2);  // after id 1, before id 6
  ASSERT_EQ(out.num_top, 7);
  const int32_t want[] = {1, 3, 6, 5, 0, 2, 4};  // NaN (2) and -inf (4) tie: lower id first
  for (int j = 0; j < 7; ++j) EXPECT_EQ(out.top[j].token, want[j]) << j;
  EXPECT_FLOAT_EQ(out.logprob, out.top[0].logprob);
  ComputeTokenLogprobs(row, 2, 0, &scratch, &out);
  EXPECT_EQ(out.logprob, -kInf);
  EXPECT_EQ(out.rank, 6);
  ComputeTokenLogprobs(row, 4, 0, &scratch, &out);
  EXPECT_EQ(out.rank, 7);
  // Exact value on a tiny row: log(e^3 / (e + 3e^3 + e^2)).
  ComputeTokenLogprobs(row, 6, 0, &scratch, &out);
  const double z = std::exp(1.0) + 3 * std::exp(3.0) + std::exp(2.0);
  EXPECT_NEAR(out.logprob, 3.0 - std::log(z), 1e-6);
}

TEST(LogprobsTest, InfiniteAndEmptyDistributions) {
  SamplerScratch scratch;
  TokenLogprobs out;
  const std::vector<float> two_inf = {0.0f, kInf, 5.0f, kInf};
  ComputeTokenLogprobs(two_inf, 3, 3, &scratch, &out);
  EXPECT_FLOAT_EQ(out.logprob, -std::log(2.0f));
  EXPECT_EQ(out.rank, 2);
  EXPECT_EQ(out.top[0].token, 1);
  EXPECT_EQ(out.top[2].token, 2);
  EXPECT_EQ(out.top[2].logprob, -kInf);
  const std::vector<float> none = {-kInf, kNaN, -kInf};
  ComputeTokenLogprobs(none, 1, 2, &scratch, &out);
  EXPECT_EQ(out.logprob, -kInf);
  EXPECT_EQ(out.rank, 2);
  EXPECT_EQ(out.top[0].logprob, -kInf);
  // Asking for more alternatives than the vocabulary (or than kMaxLogprobs) is clamped.
  ComputeTokenLogprobs(two_inf, 0, 50, &scratch, &out);
  EXPECT_EQ(out.num_top, 4);
  ComputeTokenLogprobs(RandomRow(259, 1, false), 0, 50, &scratch, &out);
  EXPECT_EQ(out.num_top, kMaxLogprobs);
  // A token outside the row.
  ComputeTokenLogprobs(two_inf, 4, 0, &scratch, &out);
  EXPECT_EQ(out.logprob, -kInf);
  EXPECT_EQ(out.rank, 0);
}

TEST(LogprobsTest, PromptLogprobsPairEachRowWithTheNextPromptToken) {
  constexpr int32_t kVocab = 259;
  const std::vector<int32_t> prompt = {5, 17, 200, 3, 3, 99, 258};
  // Rows of a fake model: row for position p is RandomRow(seed p).
  auto row_after = [](int32_t position) { return RandomRow(kVocab, 100 + position, false); };
  auto rows = [&](int32_t first, int32_t count) {
    std::vector<float> r;
    for (int32_t p = first; p < first + count; ++p) {
      const std::vector<float> one = row_after(p);
      r.insert(r.end(), one.begin(), one.end());
    }
    return r;
  };
  SamplerScratch scratch;
  std::vector<TokenLogprobs> out;
  // Chunks [0, 3), [3, 4), [4, 7): the last row (after the final prompt token) predicts the first
  // generated token and is skipped.
  AppendPromptLogprobs(rows(0, 3), kVocab, prompt, 0, 2, &scratch, &out);
  EXPECT_EQ(out.size(), 3u);
  AppendPromptLogprobs(rows(3, 1), kVocab, prompt, 3, 2, &scratch, &out);
  AppendPromptLogprobs(rows(4, 3), kVocab, prompt, 4, 2, &scratch, &out);
  ASSERT_EQ(out.size(), prompt.size() - 1);
  for (size_t t = 1; t < prompt.size(); ++t) {
    TokenLogprobs want;
    ComputeTokenLogprobs(row_after(static_cast<int32_t>(t) - 1), prompt[t], 2, &scratch, &want);
    EXPECT_EQ(out[t - 1].token, prompt[t]);
    EXPECT_EQ(out[t - 1].logprob, want.logprob) << t;
    EXPECT_EQ(out[t - 1].rank, want.rank) << t;
    ASSERT_EQ(out[t - 1].num_top, 2);
    EXPECT_EQ(out[t - 1].top[1], want.top[1]);
  }
}

TEST(LogprobsTest, NoAllocationOnceTheScratchIsWarm) {
  const std::vector<float> row = RandomRow(150000, 9, true);
  SamplerScratch scratch;
  scratch.Reserve(150000);
  const float* weights = scratch.weights.data();
  const int32_t* ids = scratch.ids.data();
  TokenLogprobs out;
  for (int32_t k : {0, 1, 20}) ComputeTokenLogprobs(row, 7, k, &scratch, &out);
  EXPECT_EQ(scratch.weights.data(), weights);
  EXPECT_EQ(scratch.ids.data(), ids);
}

}  // namespace
}  // namespace kvserve
