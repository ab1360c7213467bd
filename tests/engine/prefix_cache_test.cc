// Prefix caching: PrefixCache on its own, BatchingKvCache's MatchPrefix/CommitTokens, and a
// randomized test whose K/V values are a function of the token prefix, so any wrong match shows.
#include "engine/cache/prefix_cache.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include "engine/cache/batching_kv_cache.h"
#include "gtest/gtest.h"
#include "tests/engine/kv_cache_test_util.h"

namespace kvserve {
namespace {

using namespace ::kvserve::testing_util;  // NOLINT: test helpers

// Lookup and Register with the chain hash computed here, as BatchingKvCache does.
std::optional<PageId> Lookup(const PrefixCache& cache, uint64_t parent,
                             absl::Span<const int32_t> tokens) {
  return cache.Lookup(PrefixCache::Hash(parent, tokens), parent, tokens);
}
bool Register(PrefixCache& cache, PageId page, uint64_t parent, absl::Span<const int32_t> tokens) {
  return cache.Register(page, PrefixCache::Hash(parent, tokens), parent, tokens);
}

TEST(PrefixCacheTest, LookupFindsOnlyTheSameTokensAfterTheSameParent) {
  PrefixCache cache(/*page_size=*/4, /*num_pages=*/8);
  const std::vector<int32_t> a = {1, 2, 3, 4}, b = {1, 2, 3, 5};
  EXPECT_FALSE(Lookup(cache, PrefixCache::kRootHash, a).has_value());
  ASSERT_TRUE(Register(cache, 3, PrefixCache::kRootHash, a));
  EXPECT_EQ(Lookup(cache, PrefixCache::kRootHash, a), 3);
  EXPECT_FALSE(Lookup(cache, PrefixCache::kRootHash, b).has_value());
  EXPECT_FALSE(Lookup(cache, /*parent=*/12345, a).has_value()) << "same tokens, other prefix";
  // The chain: a child page is found only under its parent's hash.
  const uint64_t ha = PrefixCache::Hash(PrefixCache::kRootHash, a);
  ASSERT_TRUE(Register(cache, 5, ha, b));
  EXPECT_EQ(Lookup(cache, ha, b), 5);
  EXPECT_EQ(cache.num_registered(), 2);
}

TEST(PrefixCacheTest, RegisterRefusesDuplicatesAndForgetUnregisters) {
  PrefixCache cache(4, 8);
  const std::vector<int32_t> a = {9, 9, 9, 9};
  ASSERT_TRUE(Register(cache, 1, PrefixCache::kRootHash, a));
  EXPECT_FALSE(Register(cache, 2, PrefixCache::kRootHash, a)) << "prefix already held by page 1";
  EXPECT_FALSE(Register(cache, 1, 77, a)) << "page 1 is registered already";
  EXPECT_FALSE(Register(cache, 4, PrefixCache::kRootHash, std::vector<int32_t>{1, 2}))
      << "only full pages";
  EXPECT_FALSE(cache.IsRegistered(2));
  cache.Forget(1);
  EXPECT_FALSE(cache.IsRegistered(1));
  EXPECT_FALSE(Lookup(cache, PrefixCache::kRootHash, a).has_value());
  cache.Forget(1);  // idempotent
  EXPECT_TRUE(Register(cache, 2, PrefixCache::kRootHash, a));
  EXPECT_EQ(Lookup(cache, PrefixCache::kRootHash, a), 2);
}

TEST(PrefixCacheTest, HashDependsOnEveryTokenAndTheParent) {
  const std::vector<int32_t> base = {1, 2, 3, 4};
  std::set<uint64_t> hashes = {PrefixCache::Hash(PrefixCache::kRootHash, base)};
  for (size_t i = 0; i < base.size(); ++i) {
    std::vector<int32_t> t = base;
    ++t[i];
    hashes.insert(PrefixCache::Hash(PrefixCache::kRootHash, t));
  }
  hashes.insert(PrefixCache::Hash(PrefixCache::kRootHash + 1, base));
  EXPECT_EQ(hashes.size(), 6u);
}

// Fills positions [begin, end) with the stamp of the token prefix ending there, on every layer.
uint64_t PrefixStamp(const std::vector<int32_t>& tokens, int32_t pos, int32_t layer) {
  uint64_t h = 1;
  for (int32_t i = 0; i <= pos; ++i) h = h * 31 + static_cast<uint64_t>(tokens[i]);
  return (h % 4000) * kLayers + layer;  // small enough to be exact in float (see Stamped)
}

absl::Status Compute(BatchingKvCache& cache, RequestId id, const std::vector<int32_t>& tokens,
                     int32_t begin, int32_t end) {
  for (int32_t layer = 0; layer < kLayers; ++layer) {
    std::vector<int32_t> positions;
    std::vector<int64_t> stamps;
    for (int32_t p = begin; p < end; ++p) {
      positions.push_back(p);
      stamps.push_back(static_cast<int64_t>(PrefixStamp(tokens, p, layer)));
    }
    if (absl::Status s = AppendStamped(cache, id, layer, positions, stamps); !s.ok()) return s;
  }
  return cache.CommitTokens(id, absl::MakeConstSpan(tokens).first(end));
}

void ExpectPrefixData(const BatchingKvCache& cache, RequestId id,
                      const std::vector<int32_t>& tokens, int32_t end) {
  for (int32_t p = 0; p < end; ++p) {
    for (int32_t layer = 0; layer < kLayers; ++layer) {
      ASSERT_TRUE(HoldsStamp(cache.pool(), cache.PageTable(id), p, layer,
                             static_cast<int64_t>(PrefixStamp(tokens, p, layer))))
          << "request " << id << " position " << p << " layer " << layer;
    }
  }
}

// Runs a request's whole prefill: match, extend, compute the rest. Returns the matched tokens.
int32_t Prefill(BatchingKvCache& cache, RequestId id, const std::vector<int32_t>& tokens) {
  EXPECT_TRUE(cache.AddRequest(id).ok());
  const int32_t matched = *cache.MatchPrefix(id, tokens);
  EXPECT_EQ(cache.Length(id), matched);
  const int32_t n = static_cast<int32_t>(tokens.size());
  EXPECT_TRUE(cache.Extend(id, n - matched).ok());
  EXPECT_TRUE(Compute(cache, id, tokens, matched, n).ok());
  return matched;
}

TEST(BatchingKvCachePrefixTest, SecondRequestSharesTheFullPagesOfACommonPrefix) {
  BatchingKvCache cache = NewCache(16, /*prefix_caching=*/true);
  const std::vector<int32_t> a = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(Prefill(cache, 1, a), 0);
  std::vector<int32_t> b(a.begin(), a.begin() + 9);
  b.push_back(77);
  b.push_back(78);
  // Pages [1..4] and [5..8] are full and shared; the third page differs.
  EXPECT_EQ(Prefill(cache, 2, b), 8);
  EXPECT_EQ(cache.PageTable(2)[0], cache.PageTable(1)[0]);
  EXPECT_EQ(cache.PageTable(2)[1], cache.PageTable(1)[1]);
  EXPECT_NE(cache.PageTable(2)[2], cache.PageTable(1)[2]);
  EXPECT_EQ(cache.pool().RefCount(cache.PageTable(1)[0]), 2);
  ExpectPrefixData(cache, 1, a, 10);
  ExpectPrefixData(cache, 2, b, 11);
  // Pages: 3 for a, 1 more for b.
  EXPECT_EQ(cache.pool().free_pages(), 12);
  EXPECT_EQ(cache.cached_pages(), 0);
}

TEST(BatchingKvCachePrefixTest, FreedPagesStayCachedUntilAPageIsNeeded) {
  BatchingKvCache cache = NewCache(4, /*prefix_caching=*/true);
  const std::vector<int32_t> a = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  Prefill(cache, 1, a);
  ASSERT_TRUE(cache.RemoveRequest(1).ok());
  EXPECT_EQ(cache.pool().free_pages(), 4);
  EXPECT_EQ(cache.cached_pages(), 2) << "two full pages; the partial third is not cached";
  // The same prompt later: both pages come back, with their data.
  EXPECT_EQ(Prefill(cache, 2, a), 8);
  EXPECT_EQ(cache.cached_pages(), 0);
  ExpectPrefixData(cache, 2, a, 9);
  ASSERT_TRUE(cache.RemoveRequest(2).ok());
  EXPECT_EQ(cache.cached_pages(), 2);
  // Another request needing 3 pages takes the 2 uncached free pages first, then evicts one cached
  // page: the deepest (page 2 of the prefix), so the first prefix page survives.
  const std::vector<int32_t> c = {50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60};
  EXPECT_EQ(Prefill(cache, 3, c), 0);
  EXPECT_EQ(cache.cached_pages(), 1);
  ASSERT_TRUE(cache.RemoveRequest(3).ok());
  ASSERT_TRUE(cache.AddRequest(4).ok());
  EXPECT_EQ(*cache.MatchPrefix(4, a), 4) << "only the first page survived";
}

TEST(BatchingKvCachePrefixTest, FullyCachedPromptRecomputesItsLastTokenInACopy) {
  BatchingKvCache cache = NewCache(8, /*prefix_caching=*/true);
  const std::vector<int32_t> a = {1, 2, 3, 4, 5, 6, 7, 8};
  Prefill(cache, 1, a);
  const PageId cached_last = cache.PageTable(1)[1];
  ASSERT_TRUE(cache.AddRequest(2).ok());
  EXPECT_EQ(*cache.MatchPrefix(2, a), 7) << "one token is always left to compute";
  EXPECT_EQ(cache.Length(2), 7);
  EXPECT_EQ(*cache.PagesNeeded(2, 1), 1) << "the shared last page is copied on write";
  ASSERT_TRUE(cache.Extend(2, 1).ok());
  EXPECT_NE(cache.PageTable(2)[1], cached_last);
  EXPECT_EQ(cache.PageTable(2)[0], cache.PageTable(1)[0]);
  ASSERT_TRUE(Compute(cache, 2, a, 7, 8).ok());
  ExpectPrefixData(cache, 2, a, 8);
  ExpectPrefixData(cache, 1, a, 8);
  // Even with no other holder, a cached page is never written in place.
  ASSERT_TRUE(cache.RemoveRequest(1).ok());
  ASSERT_TRUE(cache.RemoveRequest(2).ok());
  ASSERT_TRUE(cache.AddRequest(3).ok());
  EXPECT_EQ(*cache.MatchPrefix(3, a), 7);
  EXPECT_EQ(cache.pool().RefCount(cached_last), 1);
  EXPECT_EQ(*cache.PagesNeeded(3, 1), 1);
  EXPECT_EQ(AppendStamped(cache, 3, 0, {6}, {1}).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(BatchingKvCachePrefixTest, MatchPrefixNeedsANewRequestAndIsANoOpWhenOff) {
  BatchingKvCache off = NewCache(8);
  const std::vector<int32_t> a = {1, 2, 3, 4, 5};
  Prefill(off, 1, a);
  ASSERT_TRUE(off.RemoveRequest(1).ok());
  ASSERT_TRUE(off.AddRequest(2).ok());
  EXPECT_EQ(*off.MatchPrefix(2, a), 0);
  EXPECT_EQ(off.cached_pages(), 0);

  BatchingKvCache on = NewCache(8, true);
  EXPECT_EQ(on.MatchPrefix(9, a).status().code(), absl::StatusCode::kNotFound);
  Prefill(on, 1, a);
  EXPECT_EQ(on.MatchPrefix(1, a).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(on.CommitTokens(1, std::vector<int32_t>(6, 1)).code(), absl::StatusCode::kOutOfRange);
}

// Random requests drawn from a few shared prefixes, prefilled and decoded in random steps,
// removed at random; the pool is small so cached pages get evicted. After every operation the
// page audit balances and every live request reads exactly the K/V of its own token prefix.
TEST(BatchingKvCachePrefixTest, RandomWorkloadKeepsAuditBalancedAndDataExact) {
  for (uint32_t seed : {3u, 11u, 2024u}) {
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed);
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    BatchingKvCache cache = NewCache(24, true);
    const std::vector<std::vector<int32_t>> prefixes = {
        {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {1, 2, 3, 4, 9, 9, 9, 9}, {5, 5, 5, 5, 5}};
    std::map<RequestId, std::vector<int32_t>> live;  // id → tokens computed
    RequestId next_id = 1;
    int64_t matched_total = 0;
    int evictions_seen = 0;
    for (int op = 0; op < 3000; ++op) {
      const int kind = uniform(0, 9);
      if (kind < 3 || live.empty()) {
        std::vector<int32_t> tokens = prefixes[uniform(0, 2)];
        tokens.resize(uniform(1, static_cast<int>(tokens.size())));
        for (int i = uniform(0, 6); i > 0; --i) tokens.push_back(uniform(20, 22));
        const RequestId id = next_id++;
        ASSERT_TRUE(cache.AddRequest(id).ok());
        const int32_t matched = *cache.MatchPrefix(id, tokens);
        ASSERT_LT(matched, static_cast<int32_t>(tokens.size()));
        const int32_t n = static_cast<int32_t>(tokens.size());
        const int64_t cached_before = cache.cached_pages();
        if (!cache.Extend(id, n - matched).ok()) {
          ASSERT_TRUE(cache.RemoveRequest(id).ok());
          continue;
        }
        if (cache.cached_pages() < cached_before) ++evictions_seen;
        ASSERT_TRUE(Compute(cache, id, tokens, matched, n).ok());
        matched_total += matched;
        live[id] = tokens;
      } else if (kind < 7) {  // a decode step for a random request
        auto it = live.begin();
        std::advance(it, uniform(0, static_cast<int>(live.size()) - 1));
        if (!cache.Extend(it->first, 1).ok()) continue;
        it->second.push_back(uniform(20, 21));
        const int32_t n = static_cast<int32_t>(it->second.size());
        ASSERT_TRUE(Compute(cache, it->first, it->second, n - 1, n).ok());
      } else {
        auto it = live.begin();
        std::advance(it, uniform(0, static_cast<int>(live.size()) - 1));
        ASSERT_TRUE(cache.RemoveRequest(it->first).ok());
        live.erase(it);
      }
      // The audit: free + distinct held == total, ref counts exact, cached pages are free pages.
      std::map<PageId, int> holders;
      for (const auto& [id, tokens] : live) {
        ASSERT_EQ(cache.Length(id), static_cast<int32_t>(tokens.size()));
        for (PageId p : cache.PageTable(id)) ++holders[p];
        ExpectPrefixData(cache, id, tokens, static_cast<int32_t>(tokens.size()));
        if (HasFatalFailure()) return;
      }
      ASSERT_EQ(cache.pool().free_pages() + static_cast<int64_t>(holders.size()),
                cache.pool().total_pages());
      for (PageId p = 0; p < cache.pool().total_pages(); ++p) {
        ASSERT_EQ(cache.pool().RefCount(p), holders.contains(p) ? holders[p] : 0);
      }
      ASSERT_LE(cache.cached_pages(), cache.pool().free_pages());
    }
    for (const auto& [id, tokens] : live) ASSERT_TRUE(cache.RemoveRequest(id).ok());
    EXPECT_EQ(cache.pool().free_pages(), cache.pool().total_pages());
    EXPECT_GT(matched_total, 0) << "the workload must hit the cache";
    EXPECT_GT(evictions_seen, 0) << "the workload must evict cached pages";
  }
}

}  // namespace
}  // namespace kvserve
