// Helpers shared by the BatchingKvCache tests: a small cache geometry and stamped K/V values
// that make every write recognisable when read back.
#ifndef KVSERVE_TESTS_ENGINE_KV_CACHE_TEST_UTIL_H_
#define KVSERVE_TESTS_ENGINE_KV_CACHE_TEST_UTIL_H_

#include <cstdint>
#include <vector>

#include "engine/cache/batching_kv_cache.h"
#include "gtest/gtest.h"

namespace kvserve::testing_util {

constexpr int32_t kPageSize = 4;
constexpr int32_t kLayers = 2;
constexpr int32_t kHeads = 2;
constexpr int32_t kDim = 4;  // kPageSize * kDim == 16 floats, one cache line
constexpr int32_t kRow = kHeads * kDim;

inline BatchingKvCache NewCache(int64_t num_pages, bool prefix_caching = false) {
  auto pool = PagePool::Create(
      PageGeometry{
          .page_size = kPageSize, .num_layers = kLayers, .num_kv_heads = kHeads, .head_dim = kDim},
      num_pages);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return BatchingKvCache(std::move(*pool), prefix_caching);
}

// The float written for element (h, d) of K (is_value = 0) or V (1) by write number `stamp`.
// Distinct for every argument tuple and exact in float for stamp < 2^17.
inline float Stamped(int64_t stamp, int32_t h, int32_t d, int is_value) {
  return static_cast<float>(((stamp * kHeads + h) * kDim + d) * 2 + is_value);
}

// Writes stamps[i] into position positions[i] of `layer`, for K and V.
inline absl::Status AppendStamped(BatchingKvCache& cache, RequestId id, int32_t layer,
                                  const std::vector<int32_t>& positions,
                                  const std::vector<int64_t>& stamps) {
  std::vector<float> k, v;
  for (int64_t stamp : stamps) {
    for (int32_t h = 0; h < kHeads; ++h) {
      for (int32_t d = 0; d < kDim; ++d) {
        k.push_back(Stamped(stamp, h, d, 0));
        v.push_back(Stamped(stamp, h, d, 1));
      }
    }
  }
  return cache.Append(id, layer, positions, k.data(), v.data());
}

// Stamp of position p in layer l for a request whose positions were written by FillRange.
inline int64_t DefaultStamp(RequestId id, int32_t pos, int32_t layer) {
  return (id * 1000 + pos) * kLayers + layer;
}

// Appends DefaultStamp K/V for positions [begin, end) on every layer.
inline void FillRange(BatchingKvCache& cache, RequestId id, int32_t begin, int32_t end) {
  for (int32_t layer = 0; layer < kLayers; ++layer) {
    std::vector<int32_t> positions;
    std::vector<int64_t> stamps;
    for (int32_t p = begin; p < end; ++p) {
      positions.push_back(p);
      stamps.push_back(DefaultStamp(id, p, layer));
    }
    ASSERT_TRUE(AppendStamped(cache, id, layer, positions, stamps).ok());
  }
}

// True if position `pos` of the request with `page_table` holds `stamp` in `layer` (K and V).
inline bool HoldsStamp(const PagePool& pool, absl::Span<const PageId> page_table, int32_t pos,
                       int32_t layer, int64_t stamp) {
  const PageId page = page_table[pos / kPageSize];
  const int32_t slot = pos % kPageSize;
  for (int32_t h = 0; h < kHeads; ++h) {
    const float* k = pool.key_block(page, layer, h) + slot * kDim;
    const float* v = pool.value_block(page, layer, h) + slot * kDim;
    for (int32_t d = 0; d < kDim; ++d) {
      if (k[d] != Stamped(stamp, h, d, 0) || v[d] != Stamped(stamp, h, d, 1)) return false;
    }
  }
  return true;
}

// Positions [begin, end) of `id` hold DefaultStamp(source, ...) on every layer.
inline void ExpectFilled(const BatchingKvCache& cache, RequestId id, int32_t begin, int32_t end,
                         RequestId source) {
  for (int32_t p = begin; p < end; ++p) {
    for (int32_t layer = 0; layer < kLayers; ++layer) {
      EXPECT_TRUE(
          HoldsStamp(cache.pool(), cache.PageTable(id), p, layer, DefaultStamp(source, p, layer)))
          << "request " << id << " position " << p << " layer " << layer;
    }
  }
}

}  // namespace kvserve::testing_util

#endif  // KVSERVE_TESTS_ENGINE_KV_CACHE_TEST_UTIL_H_
