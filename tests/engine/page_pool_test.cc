#include "engine/cache/page_pool.h"

#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include "engine/base/half_float.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

PageGeometry SmallGeometry() {
  return PageGeometry{.page_size = 4, .num_layers = 2, .num_kv_heads = 2, .head_dim = 8};
}

TEST(PagePoolTest, RejectsBadGeometryAndSizes) {
  EXPECT_EQ(PagePool::Create(
                PageGeometry{.page_size = 0, .num_layers = 1, .num_kv_heads = 1, .head_dim = 16}, 4)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PagePool::Create(SmallGeometry(), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PagePool::Create(SmallGeometry(), -3).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PagePoolTest, PagesAreAlignedAndDisjoint) {
  auto pool = PagePool::Create(SmallGeometry(), 5);
  ASSERT_TRUE(pool.ok()) << pool.status();
  const PageGeometry& g = (*pool)->geometry();
  EXPECT_EQ(g.page_elements(), 4 * 8 * 2 * 2 * 2);
  for (PageId p = 0; p < 5; ++p) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>((*pool)->page_data(p)) % 64, 0u);
    // K and V blocks of every (layer, head) tile the page without overlap.
    std::set<const float*> blocks;
    for (int l = 0; l < g.num_layers; ++l) {
      for (int h = 0; h < g.num_kv_heads; ++h) {
        const float* k = (*pool)->key_block(p, l, h);
        const float* v = (*pool)->value_block(p, l, h);
        EXPECT_EQ(v, k + g.block_elements());
        EXPECT_GE(k, (*pool)->page_data(p));
        EXPECT_LE(v + g.block_elements(), (*pool)->page_data(p) + g.page_elements());
        blocks.insert(k);
        blocks.insert(v);
      }
    }
    EXPECT_EQ(blocks.size(), size_t(2 * g.num_layers * g.num_kv_heads));
  }
}

TEST(PagePoolTest, ExhaustionIsAnErrorAndReleaseRecovers) {
  auto pool_or = PagePool::Create(SmallGeometry(), 3);
  ASSERT_TRUE(pool_or.ok());
  PagePool& pool = **pool_or;
  std::set<PageId> got;
  for (int i = 0; i < 3; ++i) {
    auto p = pool.Allocate();
    ASSERT_TRUE(p.ok());
    got.insert(*p);
  }
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(pool.free_pages(), 0);
  EXPECT_EQ(pool.used_pages(), 3);
  auto none = pool.Allocate();
  EXPECT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted);
  pool.Release(*got.begin());
  EXPECT_EQ(pool.free_pages(), 1);
  auto again = pool.Allocate();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *got.begin());
}

TEST(PagePoolTest, RefCountedPagesReturnOnLastRelease) {
  auto pool_or = PagePool::Create(SmallGeometry(), 2);
  ASSERT_TRUE(pool_or.ok());
  PagePool& pool = **pool_or;
  PageId p = *pool.Allocate();
  pool.AddRef(p);
  pool.AddRef(p);
  EXPECT_EQ(pool.RefCount(p), 3);
  pool.Release(p);
  pool.Release(p);
  EXPECT_EQ(pool.free_pages(), 1);
  pool.Release(p);
  EXPECT_EQ(pool.RefCount(p), 0);
  EXPECT_EQ(pool.free_pages(), 2);
}

TEST(PagePoolTest, CopyPageCopiesEveryFloat) {
  auto pool_or = PagePool::Create(SmallGeometry(), 2);
  ASSERT_TRUE(pool_or.ok());
  PagePool& pool = **pool_or;
  PageId a = *pool.Allocate(), b = *pool.Allocate();
  const int64_t n = pool.geometry().page_elements();
  for (int64_t i = 0; i < n; ++i) pool.page_data(a)[i] = static_cast<float>(i) * 0.5f;
  for (int64_t i = 0; i < n; ++i) pool.page_data(b)[i] = -1.0f;
  pool.CopyPage(a, b);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(pool.page_data(b)[i], static_cast<float>(i) * 0.5f);
}

TEST(PagePoolTest, ReleaseOrderDecidesWhichFreePageIsReusedFirst) {
  auto pool_or = PagePool::Create(SmallGeometry(), 4);
  ASSERT_TRUE(pool_or.ok());
  PagePool& pool = **pool_or;
  std::vector<PageId> pages;
  for (int i = 0; i < 4; ++i) pages.push_back(*pool.Allocate());
  EXPECT_EQ(pages, (std::vector<PageId>{0, 1, 2, 3}));
  pool.Release(1, PagePool::ReleaseOrder::kReuseLast);
  pool.Release(3, PagePool::ReleaseOrder::kReuseLast);
  pool.Release(0);
  pool.Release(2);
  EXPECT_EQ(pool.free_pages(), 4);
  // Front first (2, 0: most recently released first), then the back in release order (1, 3).
  std::vector<PageId> order;
  for (int i = 0; i < 4; ++i) order.push_back(*pool.Allocate());
  EXPECT_EQ(order, (std::vector<PageId>{2, 0, 1, 3}));
  EXPECT_EQ(pool.Allocate().status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(PagePoolTest, ReviveTakesAFreePageOutOfTheMiddleOfTheList) {
  auto pool_or = PagePool::Create(SmallGeometry(), 3);
  ASSERT_TRUE(pool_or.ok());
  PagePool& pool = **pool_or;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool.Allocate().ok());
  pool.page_data(1)[0] = 42.0f;
  for (PageId p : {0, 1, 2}) pool.Release(p, PagePool::ReleaseOrder::kReuseLast);
  ASSERT_TRUE(pool.Revive(1).ok());
  EXPECT_EQ(pool.RefCount(1), 1);
  EXPECT_EQ(pool.free_pages(), 2);
  EXPECT_EQ(pool.page_data(1)[0], 42.0f) << "a revived page keeps its contents";
  EXPECT_EQ(pool.Revive(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(pool.Revive(7).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*pool.Allocate(), 0);
  EXPECT_EQ(*pool.Allocate(), 2);
  EXPECT_FALSE(pool.Allocate().ok());
  pool.Release(1);
  EXPECT_EQ(*pool.Allocate(), 1);
}

TEST(PagePoolTest, PagesForBytes) {
  const PageGeometry g = SmallGeometry();
  EXPECT_EQ(PagePool::PagesForBytes(g, g.page_bytes() * 7 + 5), 7);
  EXPECT_EQ(PagePool::PagesForBytes(g, g.page_bytes() - 1), 0);
}

}  // namespace
// 16-bit pages: half the bytes of an f32 page, slots written rounded to nearest even and read
// back widened exactly; blocks must still fill whole 64-byte lines (32 values of 2 bytes).
TEST(PagePoolTest, SixteenBitPagesHoldRoundedSlotsInHalfTheBytes) {
  const PageGeometry f32{.page_size = 4, .num_layers = 2, .num_kv_heads = 2, .head_dim = 8};
  for (FloatDtype dtype : {FloatDtype::kBF16, FloatDtype::kF16}) {
    PageGeometry g = f32;
    g.kv_dtype = dtype;
    EXPECT_EQ(g.page_bytes(), f32.page_bytes() / 2);
    EXPECT_EQ(PagePool::PagesForBytes(g, 1 << 20), 2 * PagePool::PagesForBytes(f32, 1 << 20));
    auto pool = PagePool::Create(g, 4);
    ASSERT_TRUE(pool.ok()) << pool.status();
    std::vector<float> k(8), v(8), k_back(8), v_back(8);
    for (int i = 0; i < 8; ++i) k[i] = 0.1f * i + 1.0f / 3, v[i] = -0.7f * i + 1e-3f;
    (*pool)->WriteSlot(2, 1, 1, 3, k.data(), v.data());
    (*pool)->ReadSlot(2, 1, 1, 3, k_back.data(), v_back.data());
    for (int i = 0; i < 8; ++i) {
      const bool bf16 = dtype == FloatDtype::kBF16;
      EXPECT_EQ(k_back[i],
                bf16 ? Bfloat16ToFloat(FloatToBfloat16(k[i])) : HalfToFloat(FloatToHalf(k[i])));
      EXPECT_EQ(v_back[i],
                bf16 ? Bfloat16ToFloat(FloatToBfloat16(v[i])) : HalfToFloat(FloatToHalf(v[i])));
      EXPECT_NE(k_back[i], k[i]) << "1/3 + 0.1 i is not exact in 16 bits";
    }
    // The slot is where key_block says: (layer 1, head 1) block, slot 3.
    EXPECT_EQ((*pool)->key_block<uint16_t>(2, 1, 1)[3 * 8 + 5],
              dtype == FloatDtype::kBF16 ? FloatToBfloat16(k[5]) : FloatToHalf(k[5]));
    // f16 saturates out-of-range values instead of storing inf; NaN stays NaN.
    std::vector<float> big(8, 1e6f), nan(8, std::nanf(""));
    big[1] = -3e38f;
    (*pool)->WriteSlot(1, 0, 0, 0, big.data(), nan.data());
    (*pool)->ReadSlot(1, 0, 0, 0, k_back.data(), v_back.data());
    if (dtype == FloatDtype::kF16) {
      EXPECT_EQ(k_back[0], 65504.0f);
      EXPECT_EQ(k_back[1], -65504.0f);
    } else {
      EXPECT_EQ(k_back[0], Bfloat16ToFloat(FloatToBfloat16(1e6f)));  // bf16 has f32's range
    }
    EXPECT_TRUE(std::isnan(v_back[3]));
    PageGeometry thin = g;
    thin.page_size = 2;  // 16 values of 2 bytes: half a line
    EXPECT_EQ(PagePool::Create(thin, 1).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace kvserve
