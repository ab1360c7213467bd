#include "engine/model/paged_attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/cache/batching_kv_cache.h"
#include "engine/cache/page_pool.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Plain, obviously-correct attention: double accumulation, one query row at a time, reads exactly
// the slots of AttentionBatch::VisibleSlots (through PagePool::ReadSlot, so a 16-bit cache is
// checked against the values it holds). Output rows are packed (num_heads * head_dim floats).
std::vector<float> ReferencePagedAttention(const AttentionBatch& batch, const PagePool& pool,
                                           int32_t layer, int32_t num_heads, const float* q,
                                           int64_t q_row_stride, float scale) {
  const PageGeometry& g = pool.geometry();
  const int32_t d = g.head_dim;
  const int32_t group = num_heads / g.num_kv_heads;
  std::vector<float> out(static_cast<size_t>(batch.total_tokens) * num_heads * d, 0.0f);
  for (int32_t row = 0; row < batch.total_tokens; ++row) {
    const std::vector<int64_t> slots = batch.VisibleSlots(row);
    for (int32_t h = 0; h < num_heads; ++h) {
      const int32_t kv_head = h / group;
      const float* qh = q + row * q_row_stride + h * d;
      std::vector<double> scores;
      double max_score = -std::numeric_limits<double>::infinity();
      std::vector<float> key(d), value(d);
      for (int64_t slot : slots) {
        pool.ReadSlot(static_cast<PageId>(slot / batch.page_size), layer, kv_head,
                      static_cast<int32_t>(slot % batch.page_size), key.data(), value.data());
        const float* k = key.data();
        double dot = 0.0;
        for (int32_t x = 0; x < d; ++x) dot += double{qh[x]} * k[x];
        scores.push_back(dot * scale);
        max_score = std::max(max_score, scores.back());
      }
      double sum = 0.0;
      std::vector<double> acc(d, 0.0);
      for (size_t i = 0; i < slots.size(); ++i) {
        const int64_t slot = slots[i];
        pool.ReadSlot(static_cast<PageId>(slot / batch.page_size), layer, kv_head,
                      static_cast<int32_t>(slot % batch.page_size), key.data(), value.data());
        const float* v = value.data();
        const double w = std::exp(scores[i] - max_score);
        sum += w;
        for (int32_t x = 0; x < d; ++x) acc[x] += w * v[x];
      }
      for (int32_t x = 0; x < d; ++x) {
        out[(static_cast<size_t>(row) * num_heads + h) * d + x] = static_cast<float>(acc[x] / sum);
      }
    }
  }
  return out;
}

struct Config {
  int32_t num_heads;
  int32_t num_kv_heads;
  int32_t head_dim;
  int32_t page_size;
  FloatDtype kv_dtype = FloatDtype::kF32;
};

std::string ConfigName(const testing::TestParamInfo<Config>& info) {
  const Config& c = info.param;
  return absl::StrCat("h", c.num_heads, "kv", c.num_kv_heads, "d", c.head_dim, "ps", c.page_size,
                      c.kv_dtype == FloatDtype::kF32 ? "" : FloatDtypeName(c.kv_dtype));
}

// A request in a test batch: q_start tokens of history, then a chunk of q_len new tokens.
struct RequestSpec {
  RequestId id;
  int32_t q_start;
  int32_t q_len;
};

// A BatchingKvCache over a pool whose free list was shuffled, filled with random K/V.
class Scenario {
 public:
  Scenario(const Config& config, int64_t num_pages, uint32_t seed, int32_t num_layers = 2)
      : config_(config), rng_(seed) {
    const PageGeometry geometry{.page_size = config.page_size,
                                .num_layers = num_layers,
                                .num_kv_heads = config.num_kv_heads,
                                .head_dim = config.head_dim,
                                .kv_dtype = config.kv_dtype};
    auto pool = PagePool::Create(geometry, num_pages);
    EXPECT_TRUE(pool.ok()) << pool.status();
    // Take every page and give them back in shuffled order, so page tables come out scattered.
    std::vector<PageId> pages;
    for (int64_t i = 0; i < num_pages; ++i) pages.push_back(*(*pool)->Allocate());
    std::shuffle(pages.begin(), pages.end(), rng_);
    for (PageId p : pages) (*pool)->Release(p);
    cache_ = std::make_unique<BatchingKvCache>(std::move(*pool));
  }

  // Adds the requests (history first for all, then the new chunks, so their pages interleave),
  // writes random K/V for every position of every layer, and builds the step's batch.
  AttentionBatch Build(const std::vector<RequestSpec>& specs) {
    for (const RequestSpec& s : specs) {
      EXPECT_TRUE(cache_->AddRequest(s.id).ok());
      if (s.q_start > 0) {
        EXPECT_TRUE(cache_->Extend(s.id, s.q_start).ok());
      }
    }
    std::vector<SequenceChunk> chunks;
    for (const RequestSpec& s : specs) {
      EXPECT_TRUE(cache_->Extend(s.id, s.q_len).ok());
      chunks.push_back({s.id, s.q_len});
    }
    const PageGeometry& g = cache_->pool().geometry();
    for (const RequestSpec& s : specs) {
      const int32_t len = s.q_start + s.q_len;
      std::vector<int32_t> positions(len);
      for (int32_t p = 0; p < len; ++p) positions[p] = p;
      for (int32_t layer = 0; layer < g.num_layers; ++layer) {
        const std::vector<float> k = Random(int64_t{len} * g.num_kv_heads * g.head_dim, 1.0f);
        const std::vector<float> v = Random(int64_t{len} * g.num_kv_heads * g.head_dim, 1.0f);
        EXPECT_TRUE(cache_->Append(s.id, layer, positions, k.data(), v.data()).ok());
      }
    }
    auto batch = cache_->BuildBatch(chunks);
    EXPECT_TRUE(batch.ok()) << batch.status();
    return *batch;
  }

  std::vector<float> Random(int64_t n, float range) {
    std::uniform_real_distribution<float> dist(-range, range);
    std::vector<float> x(n);
    for (float& f : x) f = dist(rng_);
    return x;
  }

  // Query rows for `batch` with the given row stride; scores spread over several units of scale.
  std::vector<float> RandomQ(const AttentionBatch& batch, int64_t stride) {
    return Random(int64_t{batch.total_tokens} * stride, 2.0f);
  }

  BatchingKvCache& cache() { return *cache_; }
  PagePool& pool() { return cache_->pool(); }
  float scale() const { return 1.0f / std::sqrt(static_cast<float>(config_.head_dim)); }

 private:
  Config config_;
  std::mt19937 rng_;
  std::unique_ptr<BatchingKvCache> cache_;
};

// Runs PagedAttention with packed rows; returns the output rows.
std::vector<float> RunPaged(const AttentionBatch& batch, const PagePool& pool, int32_t layer,
                            int32_t num_heads, const std::vector<float>& q,
                            const AttentionOptions& options = {}) {
  const int64_t row = int64_t{num_heads} * pool.geometry().head_dim;
  std::vector<float> out(static_cast<size_t>(batch.total_tokens) * row, kNaN);
  PagedAttention(batch, pool, layer, num_heads, q.data(), row, out.data(), row,
                 1.0f / std::sqrt(static_cast<float>(pool.geometry().head_dim)), options);
  return out;
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  int failures = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const float tol = 1e-4f * std::max(1.0f, std::fabs(want[i]));
    if (!(std::fabs(got[i] - want[i]) <= tol)) {  // also catches NaN
      ADD_FAILURE() << "element " << i << ": got " << got[i] << " want " << want[i];
      if (++failures > 10) return;
    }
  }
}

// Checks every layer of `batch` against the reference, with default options and `options`.
void CheckAgainstReference(Scenario& sc, const AttentionBatch& batch, int32_t num_heads,
                           const AttentionOptions& options = {}) {
  const int64_t row = int64_t{num_heads} * sc.pool().geometry().head_dim;
  const std::vector<float> q = sc.RandomQ(batch, row);
  for (int32_t layer = 0; layer < sc.pool().geometry().num_layers; ++layer) {
    SCOPED_TRACE("layer " + std::to_string(layer));
    const std::vector<float> want =
        ReferencePagedAttention(batch, sc.pool(), layer, num_heads, q.data(), row, sc.scale());
    ExpectNear(RunPaged(batch, sc.pool(), layer, num_heads, q, options), want);
  }
}

class PagedAttentionTest : public testing::TestWithParam<Config> {};

TEST_P(PagedAttentionTest, SingleDecode) {
  Scenario sc(GetParam(), 64, 1);
  const AttentionBatch batch = sc.Build({{.id = 7, .q_start = 99, .q_len = 1}});
  CheckAgainstReference(sc, batch, GetParam().num_heads);
}

TEST_P(PagedAttentionTest, PrefillChunkFromStart) {
  Scenario sc(GetParam(), 64, 2);
  const AttentionBatch batch = sc.Build({{.id = 1, .q_start = 0, .q_len = 37}});
  CheckAgainstReference(sc, batch, GetParam().num_heads);
}

TEST_P(PagedAttentionTest, PrefillChunkAfterEarlierTokens) {
  Scenario sc(GetParam(), 64, 3);
  const AttentionBatch batch = sc.Build({{.id = 1, .q_start = 20, .q_len = 37}});
  CheckAgainstReference(sc, batch, GetParam().num_heads);
}

TEST_P(PagedAttentionTest, RaggedBatchOfDecodesAndPrefillChunks) {
  Scenario sc(GetParam(), 128, 4);
  const AttentionBatch batch = sc.Build({{.id = 10, .q_start = 4, .q_len = 1},
                                         {.id = 11, .q_start = 0, .q_len = 23},
                                         {.id = 12, .q_start = 69, .q_len = 1},
                                         {.id = 13, .q_start = 40, .q_len = 17},
                                         {.id = 14, .q_start = 199, .q_len = 1}});
  ASSERT_EQ(batch.total_tokens, 1 + 23 + 1 + 17 + 1);
  CheckAgainstReference(sc, batch, GetParam().num_heads);
}

TEST_P(PagedAttentionTest, PageBoundaryLengths) {
  const int32_t ps = GetParam().page_size;
  Scenario sc(GetParam(), 128, 5);
  std::vector<RequestSpec> specs;
  RequestId id = 100;
  for (int32_t len : {1, ps - 1, ps, ps + 1, 3 * ps + 5}) {
    specs.push_back({.id = id++, .q_start = len - 1, .q_len = 1});  // decode reaching `len`
    specs.push_back({.id = id++, .q_start = 0, .q_len = len});      // prefill of `len`
  }
  CheckAgainstReference(sc, sc.Build(specs), GetParam().num_heads);
}

TEST_P(PagedAttentionTest, ForcedKvPartitionsMergeExactly) {
  Scenario sc(GetParam(), 128, 6);
  const AttentionBatch batch = sc.Build({{.id = 1, .q_start = 300, .q_len = 1},
                                         {.id = 2, .q_start = 50, .q_len = 20},
                                         {.id = 3, .q_start = 2, .q_len = 1}});
  for (int32_t parts : {2, 3, 7, 1000}) {
    SCOPED_TRACE("kv_partitions " + std::to_string(parts));
    CheckAgainstReference(sc, batch, GetParam().num_heads,
                          AttentionOptions{.kv_partitions = parts});
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, PagedAttentionTest,
    testing::Values(Config{8, 2, 64, 16},  // GQA, the tiny model
                    Config{4, 4, 64, 16},  // MHA
                    Config{4, 1, 64, 16},  // MQA
                    Config{8, 2, 16, 16}, Config{4, 4, 16, 16}, Config{4, 1, 16, 16},
                    Config{8, 2, 64, 8},     // half-chunk pages
                    Config{8, 2, 64, 32},    // two chunks per page
                    Config{16, 2, 128, 16},  // two-row register blocks, 8-row groups
                    Config{4, 2, 24, 16},    // head_dim without an AVX-512 kernel: portable path
                    // 16-bit KV: each kernel widening bf16 and f16 on load.
                    Config{8, 2, 64, 16, FloatDtype::kBF16}, Config{8, 2, 64, 16, FloatDtype::kF16},
                    Config{16, 2, 128, 16, FloatDtype::kBF16},
                    Config{8, 2, 16, 16, FloatDtype::kF16}, Config{4, 2, 24, 16, FloatDtype::kBF16},
                    Config{4, 2, 24, 16, FloatDtype::kF16}),
    ConfigName);

TEST(PagedAttentionLayoutTest, PageTablesAreScattered) {
  Scenario sc(Config{8, 2, 64, 16}, 64, 7);
  const AttentionBatch batch =
      sc.Build({{.id = 1, .q_start = 100, .q_len = 1}, {.id = 2, .q_start = 60, .q_len = 1}});
  int non_consecutive = 0;
  for (const BatchSequence& s : batch.sequences) {
    for (size_t i = 1; i < s.page_table.size(); ++i) {
      non_consecutive += s.page_table[i] != s.page_table[i - 1] + 1;
    }
  }
  EXPECT_GE(non_consecutive, 5);
}

TEST(PagedAttentionLayoutTest, LongSingleDecodeSplitsAcrossThreads) {
  // One decode, 2 KV heads: fewer items than 2 × threads, so the automatic split kicks in.
  const int saved = omp_get_max_threads();
  omp_set_num_threads(2);
  Scenario sc(Config{8, 2, 64, 16}, 128, 8);
  const AttentionBatch batch = sc.Build({{.id = 1, .q_start = 1500, .q_len = 1}});
  CheckAgainstReference(sc, batch, 8);
  omp_set_num_threads(saved);
}

TEST(PagedAttentionLayoutTest, StridedRowsLeaveGapsUntouched) {
  const Config c{8, 2, 64, 16};
  Scenario sc(c, 64, 9);
  const AttentionBatch batch =
      sc.Build({{.id = 1, .q_start = 30, .q_len = 1}, {.id = 2, .q_start = 5, .q_len = 9}});
  const int64_t row = int64_t{c.num_heads} * c.head_dim;
  const int64_t stride = row + 2 * c.num_kv_heads * c.head_dim;  // like a fused QKV matrix
  const std::vector<float> q = sc.RandomQ(batch, stride);
  std::vector<float> out(batch.total_tokens * stride, 12345.0f);
  PagedAttention(batch, sc.pool(), 1, c.num_heads, q.data(), stride, out.data(), stride,
                 sc.scale());
  const std::vector<float> want =
      ReferencePagedAttention(batch, sc.pool(), 1, c.num_heads, q.data(), stride, sc.scale());
  std::vector<float> got;
  for (int32_t t = 0; t < batch.total_tokens; ++t) {
    got.insert(got.end(), out.begin() + t * stride, out.begin() + t * stride + row);
    for (int64_t x = row; x < stride; ++x) ASSERT_EQ(out[t * stride + x], 12345.0f);
  }
  ExpectNear(got, want);
}

// A request's tokens never see another request's data: poisoning B's pages changes nothing for A
// and C, while B's own output (which must read them) turns NaN.
TEST(PagedAttentionIsolationTest, OtherRequestsPagesDoNotLeak) {
  const Config c{8, 2, 64, 16};
  Scenario sc(c, 64, 10);
  const AttentionBatch batch = sc.Build({{.id = 1, .q_start = 50, .q_len = 1},
                                         {.id = 2, .q_start = 40, .q_len = 1},
                                         {.id = 3, .q_start = 10, .q_len = 12}});
  const int64_t row = int64_t{c.num_heads} * c.head_dim;
  const std::vector<float> q = sc.RandomQ(batch, row);
  const std::vector<float> before = RunPaged(batch, sc.pool(), 0, c.num_heads, q);
  for (float poison : {1e30f, kNaN}) {
    for (PageId p : sc.cache().PageTable(2)) {
      float* data = sc.pool().page_data(p);
      std::fill(data, data + sc.pool().geometry().page_elements(), poison);
    }
    const std::vector<float> after = RunPaged(batch, sc.pool(), 0, c.num_heads, q);
    const BatchSequence& b = batch.sequences[1];
    ASSERT_EQ(b.id, 2);
    for (int32_t t = 0; t < batch.total_tokens; ++t) {
      const bool is_b = t >= b.token_offset && t < b.token_offset + b.q_len;
      for (int64_t x = 0; x < row; ++x) {
        const float got = after[t * row + x];
        if (is_b) {
          ASSERT_NE(got, before[t * row + x]) << "request 2 must read its own poisoned pages";
        } else {
          ASSERT_EQ(got, before[t * row + x]) << "row " << t << " saw request 2's pages";
        }
      }
    }
  }
}

// Slots at or past a token's visible length are never read: NaN in the rest of the last page, in
// every free page, and in the later tokens of a prefill chunk must not reach earlier tokens.
TEST(PagedAttentionIsolationTest, SlotsPastVisibleLengthAreNotRead) {
  for (const Config& c : {Config{8, 2, 64, 16}, Config{4, 1, 16, 32}, Config{4, 2, 24, 16}}) {
    SCOPED_TRACE(c.head_dim);
    Scenario sc(c, 64, 11);
    const int32_t ps = c.page_size;
    const AttentionBatch batch = sc.Build(
        {{.id = 1, .q_start = 3 * ps + 4, .q_len = 1}, {.id = 2, .q_start = 7, .q_len = 13}});
    PagePool& pool = sc.pool();
    const PageGeometry& g = pool.geometry();
    for (const BatchSequence& s : batch.sequences) {
      const PageId last = s.page_table.back();
      for (int32_t layer = 0; layer < g.num_layers; ++layer) {
        for (int32_t h = 0; h < g.num_kv_heads; ++h) {
          for (int32_t slot = s.kv_len % ps; slot > 0 && slot < ps; ++slot) {
            std::fill_n(pool.key_block(last, layer, h) + slot * g.head_dim, g.head_dim, kNaN);
            std::fill_n(pool.value_block(last, layer, h) + slot * g.head_dim, g.head_dim, kNaN);
          }
        }
      }
    }
    ASSERT_GT(pool.free_pages(), 0);
    std::vector<PageId> free_pages;
    while (pool.free_pages() > 0) free_pages.push_back(*pool.Allocate());
    for (PageId p : free_pages) std::fill_n(pool.page_data(p), g.page_elements(), kNaN);
    for (PageId p : free_pages) pool.Release(p);
    CheckAgainstReference(sc, batch, c.num_heads);

    // Causality inside the chunk: NaN K/V at the chunk's last position only reaches its last token.
    const BatchSequence& chunk = batch.sequences[1];
    const int32_t last_pos = chunk.kv_len - 1;
    for (int32_t layer = 0; layer < g.num_layers; ++layer) {
      for (int32_t h = 0; h < g.num_kv_heads; ++h) {
        const PageId page = chunk.page_table[last_pos / ps];
        std::fill_n(pool.key_block(page, layer, h) + (last_pos % ps) * g.head_dim, g.head_dim,
                    kNaN);
      }
    }
    const int64_t row = int64_t{c.num_heads} * c.head_dim;
    const std::vector<float> q = sc.RandomQ(batch, row);
    const std::vector<float> out = RunPaged(batch, pool, 0, c.num_heads, q);
    for (int32_t i = 0; i < chunk.q_len; ++i) {
      const float first = out[(chunk.token_offset + i) * row];
      if (i + 1 < chunk.q_len) {
        EXPECT_FALSE(std::isnan(first)) << "token " << i << " saw a later position";
      } else {
        EXPECT_TRUE(std::isnan(first)) << "the last token must see its own position";
      }
    }
  }
}

// Same data laid out contiguously gives bit-identical results: one kernel, two block sources.
TEST(ContiguousAttentionTest, MatchesPagedBitForBit) {
  const Config c{8, 2, 64, 16};
  Scenario sc(c, 128, 12);
  const AttentionBatch batch = sc.Build({{.id = 1, .q_start = 300, .q_len = 1},
                                         {.id = 2, .q_start = 17, .q_len = 30},
                                         {.id = 3, .q_start = 0, .q_len = 5}});
  const PagePool& pool = sc.pool();
  const int32_t d = c.head_dim;
  const int32_t layer = 1;
  std::vector<std::vector<float>> keys, values;
  std::vector<ContiguousKv> kv;
  for (const BatchSequence& s : batch.sequences) {
    const int64_t head_stride = int64_t{s.kv_len + c.page_size} * d;  // room for a partial block
    std::vector<float> k(head_stride * c.num_kv_heads, kNaN), v(head_stride * c.num_kv_heads, kNaN);
    for (int32_t h = 0; h < c.num_kv_heads; ++h) {
      for (int32_t p = 0; p < s.kv_len; ++p) {
        const int64_t off = int64_t{p % c.page_size} * d;
        std::copy_n(pool.key_block(s.page_table[p / c.page_size], layer, h) + off, d,
                    k.begin() + h * head_stride + int64_t{p} * d);
        std::copy_n(pool.value_block(s.page_table[p / c.page_size], layer, h) + off, d,
                    v.begin() + h * head_stride + int64_t{p} * d);
      }
    }
    keys.push_back(std::move(k));
    values.push_back(std::move(v));
    kv.push_back({keys.back().data(), values.back().data(), head_stride});
  }
  const int64_t row = int64_t{c.num_heads} * d;
  const std::vector<float> q = sc.RandomQ(batch, row);
  const std::vector<float> paged = RunPaged(batch, pool, layer, c.num_heads, q);
  std::vector<float> contiguous(paged.size(), kNaN);
  ContiguousAttention(batch, kv, c.num_kv_heads, d, c.num_heads, q.data(), row, contiguous.data(),
                      row, sc.scale());
  ASSERT_EQ(std::memcmp(paged.data(), contiguous.data(), paged.size() * sizeof(float)), 0);
  ExpectNear(paged,
             ReferencePagedAttention(batch, pool, layer, c.num_heads, q.data(), row, sc.scale()));
}

TEST(PagedAttentionLayoutTest, EmptyBatchWritesNothing) {
  Scenario sc(Config{8, 2, 64, 16}, 8, 13);
  AttentionBatch batch;
  batch.page_size = 16;
  float out = 42.0f;
  PagedAttention(batch, sc.pool(), 0, 8, nullptr, 512, &out, 512, 0.125f);
  EXPECT_EQ(out, 42.0f);
}

}  // namespace
}  // namespace kvserve
