#include "engine/lab/full_kv_cache.h"

#include <cstdint>
#include <numeric>
#include <string>
#include <tuple>
#include <vector>

#include "engine/lab/kv_tensor.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

// A value that differs for every (tag, b, h, l, d) with b < 4, h < 8, l < 4096, d < 16; exact in
// float (below 2^24).
float Pattern(int tag, int64_t b, int64_t h, int64_t l, int64_t d) {
  return static_cast<float>((((tag * 4 + b) * 8 + h) * 4096 + l) * 16 + d);
}

// [B, H, L, D] tensor whose element (b, h, l, d) is Pattern(tag, b, h, first_pos + l, d).
KvTensor Filled(int tag, int64_t b, int64_t h, int64_t l, int64_t d, int64_t first_pos = 0) {
  KvTensor t = KvTensor::Zeros(b, h, l, d);
  for (int64_t i = 0; i < b; ++i)
    for (int64_t j = 0; j < h; ++j)
      for (int64_t k = 0; k < l; ++k)
        for (int64_t m = 0; m < d; ++m) t.at(i, j, k, m) = Pattern(tag, i, j, first_pos + k, m);
  return t;
}

// Every element of `t` equals Pattern(tag, b, h, l, d).
void ExpectPattern(const KvTensor& t, int tag) {
  for (int64_t i = 0; i < t.batch(); ++i)
    for (int64_t j = 0; j < t.heads(); ++j)
      for (int64_t k = 0; k < t.length(); ++k)
        for (int64_t m = 0; m < t.head_dim(); ++m)
          ASSERT_EQ(t.at(i, j, k, m), Pattern(tag, i, j, k, m))
              << "at (" << i << ", " << j << ", " << k << ", " << m << ")";
}

constexpr int kKey = 1;
constexpr int kValue = 2;

TEST(KvTensorTest, FromVectorIsRowMajorAndChecksSize) {
  std::vector<float> values(2 * 3 * 4 * 5);
  std::iota(values.begin(), values.end(), 0.0f);
  auto t = KvTensor::FromVector(2, 3, 4, 5, values);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->ShapeString(), "[2, 3, 4, 5]");
  EXPECT_EQ(t->num_elements(), 120);
  EXPECT_EQ(t->at(1, 2, 3, 4), 119.0f);
  EXPECT_EQ(t->at(1, 0, 2, 1), static_cast<float>(((1 * 3 + 0) * 4 + 2) * 5 + 1));
  EXPECT_EQ(t->row(1, 1)[0], static_cast<float>((1 * 3 + 1) * 4 * 5));
  EXPECT_EQ(t->ToVector(), values);

  values.pop_back();
  EXPECT_EQ(KvTensor::FromVector(2, 3, 4, 5, values).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KvTensor::FromVector(-1, 3, 4, 5, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  KvTensor zeros = KvTensor::Zeros(1, 2, 3, 4);
  EXPECT_EQ(zeros.ToVector(), std::vector<float>(24, 0.0f));
}

TEST(KvTensorTest, AppendAlongLengthKeepsRowsAndChecksDims) {
  KvTensor a = Filled(kKey, 2, 2, 3, 4);
  ASSERT_TRUE(a.AppendAlongLength(Filled(kKey, 2, 2, 2, 4, /*first_pos=*/3)).ok());
  EXPECT_EQ(a.length(), 5);
  EXPECT_GE(a.length_capacity(), 5);
  ExpectPattern(a, kKey);
  // ToVector drops padding: it equals a tensor built densely.
  EXPECT_EQ(a.ToVector(), Filled(kKey, 2, 2, 5, 4).ToVector());

  const std::vector<float> before = a.ToVector();
  absl::Status s = a.AppendAlongLength(Filled(kKey, 2, 2, 1, 3));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("D (head_dim)"), std::string::npos) << s;
  EXPECT_EQ(a.ToVector(), before);

  // Appending a tensor to itself doubles it.
  KvTensor self = Filled(kValue, 1, 1, 2, 2);
  ASSERT_TRUE(self.AppendAlongLength(self).ok());
  EXPECT_EQ(self.length(), 4);
  EXPECT_EQ(self.at(0, 0, 2, 1), Pattern(kValue, 0, 0, 0, 1));
  EXPECT_EQ(self.at(0, 0, 3, 0), Pattern(kValue, 0, 0, 1, 0));
}

TEST(FullKvCacheTest, FirstUpdateStoresAndDefinesShape) {
  FullKvCache cache;
  EXPECT_FALSE(cache.has_shape());
  EXPECT_EQ(cache.offset(), 0);
  auto fetched = cache.UpdateAndFetch(Filled(kKey, 2, 3, 4, 5), Filled(kValue, 2, 3, 4, 5));
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_TRUE(cache.has_shape());
  EXPECT_EQ(cache.offset(), 4);
  EXPECT_EQ(fetched->key.ShapeString(), "[2, 3, 4, 5]");
  EXPECT_EQ(fetched->value.ShapeString(), "[2, 3, 4, 5]");
  EXPECT_EQ(&fetched->key, &cache.key());
  EXPECT_EQ(&fetched->value, &cache.value());
  ExpectPattern(fetched->key, kKey);
  ExpectPattern(fetched->value, kValue);
}

TEST(FullKvCacheTest, AppendsAlongLengthAcrossCalls) {
  FullKvCache cache;
  int64_t pos = 0;
  for (int64_t len : {3, 2, 1, 4}) {
    auto fetched =
        cache.UpdateAndFetch(Filled(kKey, 2, 2, len, 3, pos), Filled(kValue, 2, 2, len, 3, pos));
    ASSERT_TRUE(fetched.ok()) << fetched.status();
    pos += len;
    EXPECT_EQ(cache.offset(), pos);
    EXPECT_EQ(fetched->key.length(), pos);
    EXPECT_EQ(fetched->value.length(), pos);
    // Every earlier token is still there, in order, for every (b, h).
    ExpectPattern(fetched->key, kKey);
    ExpectPattern(fetched->value, kValue);
  }
  EXPECT_EQ(cache.key().ToVector(), Filled(kKey, 2, 2, 10, 3).ToVector());
  EXPECT_EQ(cache.value().ToVector(), Filled(kValue, 2, 2, 10, 3).ToVector());
}

TEST(FullKvCacheTest, MismatchedBatchHeadsOrDimIsRejectedAndCacheUnchanged) {
  FullKvCache cache;
  ASSERT_TRUE(cache.UpdateAndFetch(Filled(kKey, 2, 3, 4, 5), Filled(kValue, 2, 3, 4, 5)).ok());
  const std::vector<float> key_before = cache.key().ToVector();
  const std::vector<float> value_before = cache.value().ToVector();

  struct Case {
    int64_t b, h, d;
    std::string dim, cache_has, update_has;
  };
  for (const Case& c : {Case{7, 3, 5, "B (batch)", "cache has 2", "update has 7"},
                        Case{2, 1, 5, "H (heads)", "cache has 3", "update has 1"},
                        Case{2, 3, 8, "D (head_dim)", "cache has 5", "update has 8"}}) {
    SCOPED_TRACE(c.dim);
    auto fetched =
        cache.UpdateAndFetch(Filled(kKey, c.b, c.h, 1, c.d), Filled(kValue, c.b, c.h, 1, c.d));
    ASSERT_EQ(fetched.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(fetched.status().message());
    EXPECT_NE(message.find(c.dim), std::string::npos) << message;
    EXPECT_NE(message.find(c.cache_has), std::string::npos) << message;
    EXPECT_NE(message.find(c.update_has), std::string::npos) << message;
    EXPECT_EQ(cache.offset(), 4);
    EXPECT_EQ(cache.key().ShapeString(), "[2, 3, 4, 5]");
    EXPECT_EQ(cache.key().ToVector(), key_before);
    EXPECT_EQ(cache.value().ToVector(), value_before);
  }
  // A matching update still works afterwards.
  ASSERT_TRUE(
      cache.UpdateAndFetch(Filled(kKey, 2, 3, 1, 5, 4), Filled(kValue, 2, 3, 1, 5, 4)).ok());
  EXPECT_EQ(cache.offset(), 5);
  ExpectPattern(cache.key(), kKey);
}

TEST(FullKvCacheTest, KeyValueShapeMismatchIsRejected) {
  FullKvCache cache;
  auto first = cache.UpdateAndFetch(Filled(kKey, 1, 2, 3, 4), Filled(kValue, 1, 2, 2, 4));
  EXPECT_EQ(first.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(first.status().message().find("[1, 2, 2, 4]"), std::string::npos) << first.status();
  EXPECT_FALSE(cache.has_shape());
  EXPECT_EQ(cache.offset(), 0);

  ASSERT_TRUE(cache.UpdateAndFetch(Filled(kKey, 1, 2, 3, 4), Filled(kValue, 1, 2, 3, 4)).ok());
  // Value differs from key only in H; key alone matches the cache.
  auto later = cache.UpdateAndFetch(Filled(kKey, 1, 2, 1, 4, 3), Filled(kValue, 1, 1, 1, 4, 3));
  EXPECT_EQ(later.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.offset(), 3);
  ExpectPattern(cache.key(), kKey);
  ExpectPattern(cache.value(), kValue);
}

TEST(FullKvCacheTest, ZeroLengthUpdateIsANoOpThatReturnsTheCache) {
  FullKvCache cache;
  ASSERT_TRUE(cache.UpdateAndFetch(Filled(kKey, 1, 2, 3, 4), Filled(kValue, 1, 2, 3, 4)).ok());
  const std::vector<float> key_before = cache.key().ToVector();
  auto fetched = cache.UpdateAndFetch(KvTensor::Zeros(1, 2, 0, 4), KvTensor::Zeros(1, 2, 0, 4));
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(cache.offset(), 3);
  EXPECT_EQ(fetched->key.length(), 3);
  EXPECT_EQ(fetched->key.ToVector(), key_before);
  ExpectPattern(fetched->value, kValue);
  // Shapes are still checked when L = 0.
  EXPECT_EQ(cache.UpdateAndFetch(KvTensor::Zeros(1, 5, 0, 4), KvTensor::Zeros(1, 5, 0, 4))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FullKvCacheTest, ZeroLengthFirstUpdateDefinesTheShape) {
  FullKvCache cache;
  auto fetched = cache.UpdateAndFetch(KvTensor::Zeros(2, 3, 0, 4), KvTensor::Zeros(2, 3, 0, 4));
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(fetched->key.ShapeString(), "[2, 3, 0, 4]");
  EXPECT_EQ(fetched->value.ShapeString(), "[2, 3, 0, 4]");
  EXPECT_TRUE(cache.has_shape());
  EXPECT_EQ(cache.offset(), 0);
  EXPECT_EQ(
      cache.UpdateAndFetch(Filled(kKey, 2, 1, 1, 4), Filled(kValue, 2, 1, 1, 4)).status().code(),
      absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(cache.UpdateAndFetch(Filled(kKey, 2, 3, 2, 4), Filled(kValue, 2, 3, 2, 4)).ok());
  EXPECT_EQ(cache.offset(), 2);
  ExpectPattern(cache.key(), kKey);
}

TEST(FullKvCacheTest, FirstUpdateNeedsPositiveBatchHeadsAndDim) {
  FullKvCache cache;
  for (const auto& [b, h, d] : {std::tuple{0, 2, 4}, std::tuple{1, 0, 4}, std::tuple{1, 2, 0}}) {
    EXPECT_EQ(cache.UpdateAndFetch(KvTensor::Zeros(b, h, 1, d), KvTensor::Zeros(b, h, 1, d))
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(cache.has_shape());
  }
}

TEST(FullKvCacheTest, ResetForgetsTokensAndShape) {
  FullKvCache cache;
  ASSERT_TRUE(cache.UpdateAndFetch(Filled(kKey, 1, 2, 3, 4), Filled(kValue, 1, 2, 3, 4)).ok());
  cache.Reset();
  EXPECT_EQ(cache.offset(), 0);
  EXPECT_FALSE(cache.has_shape());
  EXPECT_TRUE(cache.key().empty());
  // A different B, H and D is accepted after Reset, and nothing of the old tokens leaks through.
  auto fetched = cache.UpdateAndFetch(Filled(kKey, 3, 1, 2, 2), Filled(kValue, 3, 1, 2, 2));
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(cache.offset(), 2);
  EXPECT_EQ(fetched->key.ToVector(), Filled(kKey, 3, 1, 2, 2).ToVector());
  EXPECT_EQ(fetched->value.ToVector(), Filled(kValue, 3, 1, 2, 2).ToVector());
}

TEST(FullKvCacheTest, ManySingleTokenAppendsAreAmortized) {
  constexpr int64_t kTokens = 3000;
  FullKvCache cache;
  int growths = 0;
  int64_t capacity = 0;
  for (int64_t pos = 0; pos < kTokens; ++pos) {
    auto fetched =
        cache.UpdateAndFetch(Filled(kKey, 2, 2, 1, 4, pos), Filled(kValue, 2, 2, 1, 4, pos));
    ASSERT_TRUE(fetched.ok()) << fetched.status();
    ASSERT_EQ(fetched->key.length(), pos + 1);
    if (cache.key().length_capacity() != capacity) {
      ++growths;
      capacity = cache.key().length_capacity();
    }
    // Capacity covers the tokens and never runs far ahead of them.
    ASSERT_GE(capacity, pos + 1);
    ASSERT_LE(capacity, 2 * (pos + 1));
  }
  // Geometric growth: about log2(3000) + 1 reallocations, not one per token.
  EXPECT_LE(growths, 14);
  EXPECT_EQ(cache.offset(), kTokens);
  ExpectPattern(cache.key(), kKey);
  ExpectPattern(cache.value(), kValue);
}

}  // namespace
}  // namespace kvserve
