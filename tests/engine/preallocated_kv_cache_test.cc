#include "engine/lab/preallocated_kv_cache.h"

#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace kvserve {
namespace {

constexpr int64_t kMaxLen = 8;
constexpr int64_t kHeads = 2;
constexpr int64_t kDim = 3;
constexpr int64_t kRow = kHeads * kDim;

// A distinct value for (tag, position, head, d); tag tells writes apart.
float Pattern(int tag, int64_t pos, int64_t h, int64_t d) {
  return static_cast<float>(((tag * 64 + pos) * 8 + h) * 8 + d);
}

// [num_tokens][kHeads][kDim] floats for positions first_pos, first_pos + 1, ...
std::vector<float> Rows(int tag, int64_t first_pos, int64_t num_tokens) {
  std::vector<float> out;
  for (int64_t p = 0; p < num_tokens; ++p)
    for (int64_t h = 0; h < kHeads; ++h)
      for (int64_t d = 0; d < kDim; ++d) out.push_back(Pattern(tag, first_pos + p, h, d));
  return out;
}

PreallocatedKvCache NewCache() {
  auto cache = PreallocatedKvCache::Create(kMaxLen, kHeads, kDim);
  EXPECT_TRUE(cache.ok()) << cache.status();
  return std::move(*cache);
}

// Writes positions [first_pos, first_pos + n) with key tag `tag` and value tag `tag + 1`.
absl::Status Write(PreallocatedKvCache& cache, int tag, int64_t first_pos, int64_t n) {
  return cache.Update(Rows(tag, first_pos, n), Rows(tag + 1, first_pos, n), first_pos);
}

TEST(PreallocatedKvCacheTest, CreateRejectsBadSizes) {
  EXPECT_EQ(PreallocatedKvCache::Create(0, 2, 4).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PreallocatedKvCache::Create(8, -1, 4).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PreallocatedKvCache::Create(8, 2, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  const int64_t huge = std::numeric_limits<int64_t>::max() / 2;
  EXPECT_EQ(PreallocatedKvCache::Create(huge, 4, 4).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto ok = PreallocatedKvCache::Create(16, 2, 4);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->max_seq_len(), 16);
  EXPECT_EQ(ok->position_floats(), 8);
  EXPECT_EQ(ok->length(), 0);
}

TEST(PreallocatedKvCacheTest, GetReturnsPositionMajorViews) {
  PreallocatedKvCache cache = NewCache();
  ASSERT_TRUE(Write(cache, 10, 0, 3).ok());
  ASSERT_TRUE(Write(cache, 10, 3, 2).ok());
  EXPECT_EQ(cache.length(), 5);
  auto view = cache.Get(5);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->num_tokens, 5);
  ASSERT_EQ(view->key.size(), size_t(5 * kRow));
  ASSERT_EQ(view->value.size(), size_t(5 * kRow));
  for (int64_t p = 0; p < 5; ++p) {
    for (int64_t h = 0; h < kHeads; ++h) {
      for (int64_t d = 0; d < kDim; ++d) {
        EXPECT_EQ(view->key[(p * kHeads + h) * kDim + d], Pattern(10, p, h, d));
        EXPECT_EQ(view->value[(p * kHeads + h) * kDim + d], Pattern(11, p, h, d));
      }
    }
  }
  // A shorter view is a prefix of the same memory.
  auto prefix = cache.Get(2);
  ASSERT_TRUE(prefix.ok());
  EXPECT_EQ(prefix->key.size(), size_t(2 * kRow));
  EXPECT_EQ(prefix->key.data(), view->key.data());
  EXPECT_EQ(prefix->value.data(), view->value.data());
  auto none = cache.Get(0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->key.empty());
}

TEST(PreallocatedKvCacheTest, GetBeyondLengthIsOutOfRange) {
  PreallocatedKvCache cache = NewCache();
  EXPECT_EQ(cache.Get(1).status().code(), absl::StatusCode::kOutOfRange);
  ASSERT_TRUE(Write(cache, 1, 0, 3).ok());
  EXPECT_TRUE(cache.Get(3).ok());
  EXPECT_EQ(cache.Get(4).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(cache.Get(kMaxLen).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(cache.Get(-1).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(PreallocatedKvCacheTest, WritingPastMaxSeqLenIsOutOfRangeAndChangesNothing) {
  PreallocatedKvCache cache = NewCache();
  ASSERT_TRUE(Write(cache, 1, 0, 6).ok());
  EXPECT_EQ(Write(cache, 5, 6, 3).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(Write(cache, 5, 4, 5).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(Write(cache, 5, -1, 1).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(cache.Update(Rows(5, 0, 1), Rows(5, 0, 1), std::numeric_limits<int64_t>::max()).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(cache.length(), 6);
  auto view = cache.Get(6);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(std::vector<float>(view->key.begin(), view->key.end()), Rows(1, 0, 6));
  EXPECT_EQ(std::vector<float>(view->value.begin(), view->value.end()), Rows(2, 0, 6));
  // Filling exactly up to max_seq_len is fine.
  ASSERT_TRUE(Write(cache, 1, 6, 2).ok());
  EXPECT_EQ(cache.length(), kMaxLen);
  EXPECT_EQ(Write(cache, 1, kMaxLen, 1).code(), absl::StatusCode::kOutOfRange);
}

TEST(PreallocatedKvCacheTest, LeavingAHoleIsInvalidArgument) {
  PreallocatedKvCache cache = NewCache();
  EXPECT_EQ(Write(cache, 1, 1, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.length(), 0);
  ASSERT_TRUE(Write(cache, 1, 0, 2).ok());
  EXPECT_EQ(Write(cache, 1, 3, 2).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.length(), 2);
  EXPECT_TRUE(Write(cache, 1, 2, 2).ok());  // exactly at length() is an append
  EXPECT_EQ(cache.length(), 4);
}

TEST(PreallocatedKvCacheTest, MalformedInputsAreInvalidArgument) {
  PreallocatedKvCache cache = NewCache();
  std::vector<float> two = Rows(1, 0, 2), one = Rows(1, 0, 1);
  EXPECT_EQ(cache.Update(two, one, 0).code(), absl::StatusCode::kInvalidArgument);
  std::vector<float> ragged(kRow + 1, 1.0f);
  EXPECT_EQ(cache.Update(ragged, ragged, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.length(), 0);
}

TEST(PreallocatedKvCacheTest, OverwriteTruncatesToTheEndOfTheWrite) {
  PreallocatedKvCache cache = NewCache();
  ASSERT_TRUE(Write(cache, 1, 0, 6).ok());
  ASSERT_TRUE(Write(cache, 20, 2, 2).ok());  // rewrite positions 2 and 3
  EXPECT_EQ(cache.length(), 4);
  EXPECT_EQ(cache.Get(5).status().code(), absl::StatusCode::kOutOfRange);
  auto view = cache.Get(4);
  ASSERT_TRUE(view.ok());
  std::vector<float> expected_key = Rows(1, 0, 2), new_key = Rows(20, 2, 2);
  expected_key.insert(expected_key.end(), new_key.begin(), new_key.end());
  EXPECT_EQ(std::vector<float>(view->key.begin(), view->key.end()), expected_key);
  std::vector<float> expected_value = Rows(2, 0, 2), new_value = Rows(21, 2, 2);
  expected_value.insert(expected_value.end(), new_value.begin(), new_value.end());
  EXPECT_EQ(std::vector<float>(view->value.begin(), view->value.end()), expected_value);

  // An empty update truncates to its position.
  ASSERT_TRUE(cache.Update({}, {}, 1).ok());
  EXPECT_EQ(cache.length(), 1);
  EXPECT_EQ(cache.Update({}, {}, 2).code(), absl::StatusCode::kInvalidArgument);
}

TEST(PreallocatedKvCacheTest, ResetKeepsTheBuffers) {
  PreallocatedKvCache cache = NewCache();
  ASSERT_TRUE(Write(cache, 1, 0, 4).ok());
  const float* key_data = cache.Get(4)->key.data();
  const float* value_data = cache.Get(4)->value.data();
  cache.Reset();
  EXPECT_EQ(cache.length(), 0);
  EXPECT_EQ(cache.max_seq_len(), kMaxLen);
  EXPECT_EQ(cache.Get(1).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(Write(cache, 3, 1, 1).code(), absl::StatusCode::kInvalidArgument);  // old tokens gone
  ASSERT_TRUE(Write(cache, 3, 0, kMaxLen).ok());
  auto view = cache.Get(kMaxLen);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->key.data(), key_data);
  EXPECT_EQ(view->value.data(), value_data);
  EXPECT_EQ(std::vector<float>(view->key.begin(), view->key.end()), Rows(3, 0, kMaxLen));
}

// Random updates against a plain vector model of the semantics in the header.
TEST(PreallocatedKvCacheTest, RandomUpdatesMatchAModel) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    std::mt19937 rng(seed);
    PreallocatedKvCache cache = NewCache();
    std::vector<float> model_key, model_value;  // [length][kRow]
    for (int step = 0; step < 500; ++step) {
      const int64_t length = static_cast<int64_t>(model_key.size()) / kRow;
      const int64_t pos = std::uniform_int_distribution<int64_t>(-1, kMaxLen + 1)(rng);
      const int64_t n = std::uniform_int_distribution<int64_t>(0, 4)(rng);
      const int tag = step * 2;
      absl::Status s = Write(cache, tag, pos, n);
      if (pos < 0 || pos + n > kMaxLen) {
        ASSERT_EQ(s.code(), absl::StatusCode::kOutOfRange) << s;
      } else if (pos > length) {
        ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
      } else {
        ASSERT_TRUE(s.ok()) << s;
        model_key.resize(pos * kRow);
        model_value.resize(pos * kRow);
        std::vector<float> k = Rows(tag, pos, n), v = Rows(tag + 1, pos, n);
        model_key.insert(model_key.end(), k.begin(), k.end());
        model_value.insert(model_value.end(), v.begin(), v.end());
      }
      const int64_t model_length = static_cast<int64_t>(model_key.size()) / kRow;
      ASSERT_EQ(cache.length(), model_length);
      auto view = cache.Get(model_length);
      ASSERT_TRUE(view.ok());
      ASSERT_EQ(std::vector<float>(view->key.begin(), view->key.end()), model_key);
      ASSERT_EQ(std::vector<float>(view->value.begin(), view->value.end()), model_value);
    }
  }
}

}  // namespace
}  // namespace kvserve
