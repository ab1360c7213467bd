#include "clients/kvsoak/soak_plan.h"

#include <cmath>
#include <map>

#include "gtest/gtest.h"

namespace kvserve::soak {
namespace {

constexpr ModelLimits kLimits{.vocab_size = 300, .max_context = 512};

TEST(SoakPlanTest, SameSeedSamePlan) {
  const SoakMix mix;
  for (int64_t i = 0; i < 50; ++i) {
    const SoakPlan a = MakeSoakPlan(mix, kLimits, 3, i);
    const SoakPlan b = MakeSoakPlan(mix, kLimits, 3, i);
    EXPECT_EQ(a.request.SerializeAsString(), b.request.SerializeAsString());
    EXPECT_EQ(a.kind, b.kind);
  }
}

TEST(SoakPlanTest, KindsFollowTheMixAndValidRequestsFitTheModel) {
  const SoakMix mix;  // 20% cancel, 10% deadline, 5% invalid
  ASSERT_TRUE(ValidateSoakMix(mix, kLimits).ok());
  std::map<SoakKind, int> kinds;
  std::map<InvalidWay, int> ways;
  constexpr int kN = 4000;
  for (int64_t i = 0; i < kN; ++i) {
    const SoakPlan plan = MakeSoakPlan(mix, kLimits, 11, i);
    ++kinds[plan.kind];
    EXPECT_EQ(plan.index, i);
    const auto& r = plan.request;
    if (plan.kind == SoakKind::kInvalid) {
      ++ways[plan.invalid];
      continue;
    }
    ASSERT_GT(r.token_ids().ids_size(), 0);
    EXPECT_EQ(r.token_ids().ids_size(), plan.prompt_len);
    EXPECT_GT(r.max_tokens(), 0);
    EXPECT_LE(plan.prompt_len + r.max_tokens(), kLimits.max_context);
    for (int32_t id : r.token_ids().ids()) {
      EXPECT_GE(id, 0);
      EXPECT_LT(id, kLimits.vocab_size);
    }
    EXPECT_TRUE(std::isfinite(r.sampling().temperature()));
    if (plan.kind == SoakKind::kCancel) {
      EXPECT_GE(plan.cancel_after_tokens, 1);
      EXPECT_LE(plan.cancel_after_tokens, r.max_tokens());
    } else {
      EXPECT_EQ(plan.cancel_after_tokens, -1);
    }
    if (plan.kind == SoakKind::kDeadline) {
      EXPECT_GE(plan.deadline_ms, mix.deadline_ms.lo);
      EXPECT_LE(plan.deadline_ms, mix.deadline_ms.hi);
    } else {
      EXPECT_EQ(plan.deadline_ms, 0);
    }
  }
  // Binomial(4000, p): 5 standard deviations is at most ±64 requests here.
  EXPECT_NEAR(kinds[SoakKind::kCancel], 0.20 * kN, 130);
  EXPECT_NEAR(kinds[SoakKind::kDeadline], 0.10 * kN, 100);
  EXPECT_NEAR(kinds[SoakKind::kInvalid], 0.05 * kN, 75);
  EXPECT_EQ(ways.size(), static_cast<size_t>(kNumInvalidWays));  // every way is exercised
}

TEST(SoakPlanTest, InvalidRequestsBreakExactlyTheirRule) {
  const SoakMix mix{.cancel_fraction = 0, .deadline_fraction = 0, .invalid_fraction = 1};
  for (int64_t i = 0; i < 500; ++i) {
    const SoakPlan plan = MakeSoakPlan(mix, kLimits, 5, i);
    ASSERT_EQ(plan.kind, SoakKind::kInvalid);
    const auto& r = plan.request;
    const int n = r.token_ids().ids_size();
    int out_of_vocab = 0;
    for (int32_t id : r.token_ids().ids()) out_of_vocab += id >= kLimits.vocab_size;
    switch (plan.invalid) {
      case InvalidWay::kZeroMaxTokens:
        EXPECT_EQ(r.max_tokens(), 0);
        break;
      case InvalidWay::kBeyondContext:
        EXPECT_GT(n + r.max_tokens(), kLimits.max_context);
        EXPECT_LE(n, kLimits.max_context);
        break;
      case InvalidWay::kTokenBeyondVocab:
        EXPECT_EQ(out_of_vocab, 1);
        break;
      case InvalidWay::kEmptyPrompt:
        EXPECT_TRUE(r.has_token_ids());
        EXPECT_EQ(n, 0);
        break;
      case InvalidWay::kNanTemperature:
        EXPECT_TRUE(std::isnan(r.sampling().temperature()));
        break;
    }
    if (plan.invalid != InvalidWay::kTokenBeyondVocab) {
      EXPECT_EQ(out_of_vocab, 0);
    }
  }
}

TEST(SoakPlanTest, MixValidation) {
  EXPECT_FALSE(
      ValidateSoakMix(SoakMix{.cancel_fraction = 0.6, .deadline_fraction = 0.5}, kLimits).ok());
  EXPECT_FALSE(ValidateSoakMix(SoakMix{.cancel_fraction = -0.1}, kLimits).ok());
  EXPECT_FALSE(
      ValidateSoakMix(SoakMix{.prompt_len = {1, 400}, .max_tokens = {1, 200}}, kLimits).ok());
  EXPECT_FALSE(ValidateSoakMix(SoakMix{}, ModelLimits{.vocab_size = 0, .max_context = 512}).ok());
}

}  // namespace
}  // namespace kvserve::soak
