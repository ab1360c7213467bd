#include "engine/lab/cached_generation.h"

#include <set>

#include "engine/lab/preallocated_kv_cache.h"
#include "engine/lab/reference_model.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

class CachedGenerationTest : public ::testing::Test {
 protected:
  ModelWeights weights_ = *MakeSyntheticWeights(*PresetConfig("micro"), 5);
};

TEST_F(CachedGenerationTest, WithAndWithoutCacheGiveIdenticalTokens) {
  const std::vector<int32_t> prompt = {72, 101, 108, 108, 111};
  auto none = GenerateGreedy(weights_, prompt, 24, KvCacheMode::kNone);
  auto full = GenerateGreedy(weights_, prompt, 24, KvCacheMode::kFull);
  auto pre = GenerateGreedy(weights_, prompt, 24, KvCacheMode::kPreallocated);
  ASSERT_TRUE(none.ok() && full.ok() && pre.ok());
  EXPECT_EQ(none->tokens, full->tokens);
  EXPECT_EQ(none->tokens, pre->tokens);
  EXPECT_EQ(none->tokens.size(), 24u);
  EXPECT_GT(std::set<int32_t>(none->tokens.begin(), none->tokens.end()).size(), 3u);
}

// From a 1-token prompt, N forward steps: N attention ops with a cache, N(N+1)/2 without.
TEST_F(CachedGenerationTest, AttentionOpCountsAreLinearVersusQuadratic) {
  for (int32_t n : {1, 2, 7, 20}) {
    auto none = GenerateGreedy(weights_, {65}, n, KvCacheMode::kNone);
    auto full = GenerateGreedy(weights_, {65}, n, KvCacheMode::kFull);
    auto pre = GenerateGreedy(weights_, {65}, n, KvCacheMode::kPreallocated);
    ASSERT_TRUE(none.ok() && full.ok() && pre.ok());
    EXPECT_EQ(full->forward_steps, n);
    EXPECT_EQ(full->attention_ops, n);
    EXPECT_EQ(pre->attention_ops, n);
    EXPECT_EQ(none->attention_ops, int64_t{n} * (n + 1) / 2);
    EXPECT_LT(full->attention_scores, none->attention_scores + 1);
  }
}

// The cached lab agrees with the double-precision reference on what comes next.
TEST_F(CachedGenerationTest, TokensAgreeWithReferenceGreedy) {
  std::vector<int32_t> sequence = {10, 20, 30, 40};
  auto full = GenerateGreedy(weights_, sequence, 8, KvCacheMode::kFull);
  ASSERT_TRUE(full.ok());
  for (int32_t token : full->tokens) {
    std::vector<double> logits = ReferenceLastLogits(weights_, sequence);
    const int32_t want =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    ASSERT_EQ(token, want);
    sequence.push_back(token);
  }
}

TEST_F(CachedGenerationTest, GqaCachesHoldFewerHeadsThanQueries) {
  // micro has 4 query heads over 2 KV heads: the caches store only 2 heads per position.
  ASSERT_LT(weights_.config.num_kv_heads, weights_.config.num_heads);
  auto pre =
      PreallocatedKvCache::Create(16, weights_.config.num_kv_heads, weights_.config.head_dim);
  ASSERT_TRUE(pre.ok());
  EXPECT_EQ(pre->position_floats(), 2 * 16);
}

TEST_F(CachedGenerationTest, RejectsBadInput) {
  EXPECT_EQ(GenerateGreedy(weights_, {}, 4, KvCacheMode::kFull).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GenerateGreedy(weights_, {300}, 4, KvCacheMode::kFull).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GenerateGreedy(weights_, {1}, 600, KvCacheMode::kFull).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kvserve
