#include "engine/cache/batching_kv_cache.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "tests/engine/kv_cache_test_util.h"

namespace kvserve {
namespace {

using namespace ::kvserve::testing_util;  // NOLINT: test helpers

TEST(BatchingKvCacheTest, PageTablesGrowAcrossPageBoundaries) {
  BatchingKvCache cache = NewCache(8);
  ASSERT_TRUE(cache.AddRequest(1).ok());
  EXPECT_EQ(cache.Length(1), 0);
  EXPECT_TRUE(cache.PageTable(1).empty());
  int32_t length = 0;
  for (auto [n, pages] : {std::pair{3, 1}, {2, 2}, {7, 3}}) {
    ASSERT_TRUE(cache.Extend(1, n).ok());
    FillRange(cache, 1, length, length + n);
    length += n;
    EXPECT_EQ(cache.Length(1), length);
    EXPECT_EQ(cache.PageTable(1).size(), size_t(pages));
    EXPECT_EQ(cache.pool().free_pages(), 8 - pages);
    // Every token written so far reads back from page_table[p / ps], slot p % ps.
    ExpectFilled(cache, 1, 0, length, 1);
  }
  absl::Span<const PageId> table = cache.PageTable(1);
  EXPECT_EQ(std::set<PageId>(table.begin(), table.end()).size(), table.size());
  for (PageId page : table) EXPECT_EQ(cache.pool().RefCount(page), 1);
  ASSERT_TRUE(cache.RemoveRequest(1).ok());
  EXPECT_EQ(cache.pool().free_pages(), 8);
}

TEST(BatchingKvCacheTest, AppendHonoursRowStrideAndChecksArguments) {
  BatchingKvCache cache = NewCache(4);
  ASSERT_TRUE(cache.AddRequest(1).ok());
  ASSERT_TRUE(cache.Extend(1, 3).ok());
  // Two tokens in rows of kRow + 5 floats; the padding must not be copied.
  const int64_t stride = kRow + 5;
  std::vector<float> k(2 * stride, -1.0f), v(2 * stride, -1.0f);
  for (int32_t t = 0; t < 2; ++t) {
    for (int32_t h = 0; h < kHeads; ++h) {
      for (int32_t d = 0; d < kDim; ++d) {
        k[t * stride + h * kDim + d] = Stamped(50 + t, h, d, 0);
        v[t * stride + h * kDim + d] = Stamped(50 + t, h, d, 1);
      }
    }
  }
  const std::vector<int32_t> positions = {2, 0};
  ASSERT_TRUE(cache.Append(1, 1, positions, k.data(), v.data(), stride).ok());
  EXPECT_TRUE(HoldsStamp(cache.pool(), cache.PageTable(1), 2, 1, 50));
  EXPECT_TRUE(HoldsStamp(cache.pool(), cache.PageTable(1), 0, 1, 51));

  const std::vector<int32_t> past_end = {3};
  EXPECT_EQ(cache.Append(1, 0, past_end, k.data(), v.data()).code(), absl::StatusCode::kOutOfRange);
  const std::vector<int32_t> negative = {-1};
  EXPECT_EQ(cache.Append(1, 0, negative, k.data(), v.data()).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(cache.Append(1, kLayers, positions, k.data(), v.data()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.Append(9, 0, positions, k.data(), v.data()).code(), absl::StatusCode::kNotFound);
}

TEST(BatchingKvCacheTest, ExtendIsAllOrNothingOnExhaustion) {
  BatchingKvCache cache = NewCache(5);
  ASSERT_TRUE(cache.AddRequest(1).ok());
  ASSERT_TRUE(cache.AddRequest(2).ok());
  ASSERT_TRUE(cache.Extend(1, 8).ok());  // 2 pages
  ASSERT_TRUE(cache.Extend(2, 5).ok());  // 2 pages
  FillRange(cache, 2, 0, 5);
  EXPECT_EQ(cache.pool().free_pages(), 1);
  const std::vector<PageId> table_before(cache.PageTable(2).begin(), cache.PageTable(2).end());

  // 8 more tokens for request 2 (13 in all) need 2 more pages; 1 is free. Nothing may be taken.
  EXPECT_EQ(*cache.PagesNeeded(2, 8), 2);
  absl::Status s = cache.Extend(2, 8);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(cache.Length(2), 5);
  EXPECT_EQ(std::vector<PageId>(cache.PageTable(2).begin(), cache.PageTable(2).end()),
            table_before);
  EXPECT_EQ(cache.pool().free_pages(), 1);
  ExpectFilled(cache, 2, 0, 5, 2);

  ASSERT_TRUE(cache.RemoveRequest(1).ok());
  EXPECT_EQ(cache.pool().free_pages(), 3);
  ASSERT_TRUE(cache.Extend(2, 8).ok());
  EXPECT_EQ(cache.Length(2), 13);
  EXPECT_EQ(cache.PageTable(2).size(), 4u);
  EXPECT_EQ(cache.pool().free_pages(), 1);
  ExpectFilled(cache, 2, 0, 5, 2);
}

TEST(BatchingKvCacheTest, ExtendWithinTheLastPageNeedsNoFreePage) {
  BatchingKvCache cache = NewCache(1);
  ASSERT_TRUE(cache.AddRequest(1).ok());
  ASSERT_TRUE(cache.Extend(1, 1).ok());
  EXPECT_EQ(cache.pool().free_pages(), 0);
  EXPECT_TRUE(cache.Extend(1, 3).ok());  // fills the page
  EXPECT_TRUE(cache.Extend(1, 0).ok());
  EXPECT_EQ(cache.Extend(1, 1).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(cache.Length(1), 4);
  EXPECT_EQ(cache.Extend(1, -1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.Extend(7, 1).code(), absl::StatusCode::kNotFound);
}

TEST(BatchingKvCacheTest, ExtendRejectsLengthsThatOverflowInt32) {
  BatchingKvCache cache = NewCache(2);
  ASSERT_TRUE(cache.AddRequest(1).ok());
  ASSERT_TRUE(cache.Extend(1, 3).ok());
  const int32_t huge = std::numeric_limits<int32_t>::max() - 1;
  EXPECT_FALSE(cache.PagesNeeded(1, huge).ok());
  absl::Status s = cache.Extend(1, huge);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.code(), absl::StatusCode::kResourceExhausted) << s;  // not retryable
  EXPECT_EQ(cache.Length(1), 3);
  EXPECT_EQ(cache.PageTable(1).size(), 1u);
  EXPECT_EQ(cache.pool().free_pages(), 1);
}

TEST(BatchingKvCacheTest, PagesNeededCountsNewAndCopiedPages) {
  BatchingKvCache cache = NewCache(16);
  ASSERT_TRUE(cache.AddRequest(1).ok());
  for (auto [n, pages] : {std::pair{0, 0}, {1, 1}, {4, 1}, {5, 2}, {9, 3}}) {
    EXPECT_EQ(*cache.PagesNeeded(1, n), pages) << n;
  }
  ASSERT_TRUE(cache.Extend(1, 3).ok());
  for (auto [n, pages] : {std::pair{1, 0}, {2, 1}, {5, 1}, {6, 2}}) {
    EXPECT_EQ(*cache.PagesNeeded(1, n), pages) << n;
  }
  // After a fork the shared partial last page must be copied by whoever extends first.
  ASSERT_TRUE(cache.Fork(1, 2).ok());
  EXPECT_EQ(*cache.PagesNeeded(2, 1), 1);
  EXPECT_EQ(*cache.PagesNeeded(2, 2), 2);
  EXPECT_EQ(*cache.PagesNeeded(1, 1), 1);
  EXPECT_EQ(*cache.PagesNeeded(1, 0), 0);
  // Full shared pages are never written, so a fork at a page boundary copies nothing.
  ASSERT_TRUE(cache.AddRequest(3).ok());
  ASSERT_TRUE(cache.Extend(3, 8).ok());
  ASSERT_TRUE(cache.Fork(3, 4).ok());
  EXPECT_EQ(*cache.PagesNeeded(4, 1), 1);
  EXPECT_EQ(*cache.PagesNeeded(4, 4), 1);
  EXPECT_EQ(*cache.PagesNeeded(4, 5), 2);
  // PagesNeeded agrees with what Extend takes.
  const int64_t free_before = cache.pool().free_pages();
  const int64_t needed = *cache.PagesNeeded(2, 6);
  ASSERT_TRUE(cache.Extend(2, 6).ok());
  EXPECT_EQ(cache.pool().free_pages(), free_before - needed);

  EXPECT_EQ(cache.PagesNeeded(99, 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cache.PagesNeeded(1, -2).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BatchingKvCacheTest, BuildBatchDescribesARaggedBatch) {
  BatchingKvCache cache = NewCache(16);
  // Request 10: a decode (8 earlier tokens, 1 new). Request 20: a 6-token prefill.
  // Request 30: the second 3-token chunk of a chunked prefill (5 earlier tokens).
  for (RequestId id : {10, 20, 30}) ASSERT_TRUE(cache.AddRequest(id).ok());
  ASSERT_TRUE(cache.Extend(10, 8).ok());
  ASSERT_TRUE(cache.Extend(30, 5).ok());
  ASSERT_TRUE(cache.Extend(10, 1).ok());
  ASSERT_TRUE(cache.Extend(20, 6).ok());
  ASSERT_TRUE(cache.Extend(30, 3).ok());
  const std::vector<SequenceChunk> chunks = {{10, 1}, {20, 6}, {30, 3}};
  auto batch = cache.BuildBatch(chunks);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->page_size, kPageSize);
  EXPECT_EQ(batch->total_tokens, 10);
  ASSERT_EQ(batch->sequences.size(), 3u);

  struct Expected {
    RequestId id;
    int32_t q_start, q_len, kv_len, token_offset;
  };
  const Expected expected[] = {{10, 8, 1, 9, 0}, {20, 0, 6, 6, 1}, {30, 5, 3, 8, 7}};
  std::map<RequestId, std::set<int64_t>> own_slots;
  for (const Expected& e : expected) {
    std::set<int64_t>& slots = own_slots[e.id];
    for (int32_t p = 0; p < cache.Length(e.id); ++p) {
      slots.insert(int64_t{cache.PageTable(e.id)[p / kPageSize]} * kPageSize + p % kPageSize);
    }
  }
  for (size_t i = 0; i < 3; ++i) {
    const BatchSequence& s = batch->sequences[i];
    const Expected& e = expected[i];
    SCOPED_TRACE(e.id);
    EXPECT_EQ(s.id, e.id);
    EXPECT_EQ(s.q_start, e.q_start);
    EXPECT_EQ(s.q_len, e.q_len);
    EXPECT_EQ(s.kv_len, e.kv_len);
    EXPECT_EQ(s.token_offset, e.token_offset);
    EXPECT_EQ(s.page_table.data(), cache.PageTable(e.id).data());
    EXPECT_EQ(s.page_table.size(), size_t((e.kv_len + kPageSize - 1) / kPageSize));
    for (int32_t q = 0; q < s.q_len; ++q) {
      // Causal inside the chunk: new token q sees every earlier position and itself.
      EXPECT_EQ(s.VisibleLength(q), e.q_start + q + 1);
      for (int32_t p = -1; p <= s.kv_len; ++p) {
        EXPECT_EQ(s.Visible(q, p), p >= 0 && p <= e.q_start + q) << "q " << q << " p " << p;
      }
      // The dense mask of its flattened row: only this request's slots, in position order.
      const std::vector<int64_t> visible = batch->VisibleSlots(s.token_offset + q);
      ASSERT_EQ(visible.size(), size_t(s.VisibleLength(q)));
      for (int32_t p = 0; p < s.VisibleLength(q); ++p) {
        EXPECT_EQ(visible[p], int64_t{s.page_table[p / kPageSize]} * kPageSize + p % kPageSize);
        EXPECT_TRUE(own_slots[e.id].contains(visible[p]));
        for (const auto& [other, slots] : own_slots) {
          if (other != e.id) {
            EXPECT_FALSE(slots.contains(visible[p])) << "leaks into " << other;
          }
        }
      }
    }
  }
  EXPECT_TRUE(batch->VisibleSlots(batch->total_tokens).empty());
  EXPECT_TRUE(batch->VisibleSlots(-1).empty());
}

TEST(BatchingKvCacheTest, BuildBatchLaysOutLogitRowsForAllLogitsChunks) {
  BatchingKvCache cache = NewCache(16);
  for (RequestId id : {1, 2, 3, 4}) ASSERT_TRUE(cache.AddRequest(id).ok());
  for (auto [id, n] : {std::pair{1, 5}, {2, 1}, {3, 7}, {4, 2}}) {
    ASSERT_TRUE(cache.Extend(id, n).ok());
  }
  AttentionBatch batch;
  // Unflagged: one row per sequence, row i for sequence i (today's layout).
  ASSERT_TRUE(cache.BuildBatchInto({{1, 5}, {2, 1}, {3, 7}, {4, 2}}, &batch).ok());
  EXPECT_EQ(batch.num_logit_rows, 4);
  for (int32_t i = 0; i < 4; ++i) {
    EXPECT_FALSE(batch.sequences[i].all_logits);
    EXPECT_EQ(batch.sequences[i].logit_offset, i);
  }
  // Requests 1 and 3 flagged: 5 rows, 1 row, 7 rows, 1 row.
  ASSERT_TRUE(
      cache.BuildBatchInto({{1, 5, /*all_logits=*/true}, {2, 1}, {3, 7, true}, {4, 2}}, &batch)
          .ok());
  EXPECT_EQ(batch.total_tokens, 15);
  EXPECT_EQ(batch.num_logit_rows, 14);
  const int32_t offsets[] = {0, 5, 6, 13};
  const int32_t rows[] = {5, 1, 7, 1};
  for (int32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(batch.sequences[i].all_logits, i % 2 == 0) << i;
    EXPECT_EQ(batch.sequences[i].logit_offset, offsets[i]) << i;
    EXPECT_EQ(batch.sequences[i].num_logit_rows(), rows[i]) << i;
  }
  // Reused: the flags and counts of the previous call do not linger.
  ASSERT_TRUE(cache.BuildBatchInto({{3, 7}}, &batch).ok());
  EXPECT_EQ(batch.num_logit_rows, 1);
  EXPECT_FALSE(batch.sequences[0].all_logits);
}

TEST(BatchingKvCacheTest, BuildBatchRejectsBadChunks) {
  BatchingKvCache cache = NewCache(4);
  ASSERT_TRUE(cache.AddRequest(1).ok());
  ASSERT_TRUE(cache.AddRequest(2).ok());
  ASSERT_TRUE(cache.Extend(1, 3).ok());
  ASSERT_TRUE(cache.Extend(2, 2).ok());
  using Chunks = std::vector<SequenceChunk>;
  for (const Chunks& bad : {Chunks{{1, 1}, {3, 1}}, Chunks{{1, 1}, {2, 1}, {1, 1}}, Chunks{{2, 3}},
                            Chunks{{1, 0}}, Chunks{{1, -1}}}) {
    EXPECT_EQ(cache.BuildBatch(bad).status().code(), absl::StatusCode::kInvalidArgument);
  }
  auto full = cache.BuildBatch(Chunks{{1, 3}, {2, 2}});
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->total_tokens, 5);
  auto empty = cache.BuildBatch(Chunks{});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->total_tokens, 0);
  EXPECT_TRUE(empty->sequences.empty());
}

TEST(BatchingKvCacheTest, ForkSharesEveryPage) {
  BatchingKvCache cache = NewCache(6);
  ASSERT_TRUE(cache.AddRequest(1).ok());
  ASSERT_TRUE(cache.Extend(1, 6).ok());
  FillRange(cache, 1, 0, 6);
  const int64_t free_before = cache.pool().free_pages();
  ASSERT_TRUE(cache.Fork(1, 2).ok());
  EXPECT_EQ(cache.Length(2), 6);
  EXPECT_EQ(std::vector<PageId>(cache.PageTable(2).begin(), cache.PageTable(2).end()),
            std::vector<PageId>(cache.PageTable(1).begin(), cache.PageTable(1).end()));
  for (PageId page : cache.PageTable(1)) EXPECT_EQ(cache.pool().RefCount(page), 2);
  EXPECT_EQ(cache.pool().free_pages(), free_before);
  ExpectFilled(cache, 2, 0, 6, 1);
  // Removing the parent leaves the child's pages alive.
  ASSERT_TRUE(cache.RemoveRequest(1).ok());
  for (PageId page : cache.PageTable(2)) EXPECT_EQ(cache.pool().RefCount(page), 1);
  EXPECT_EQ(cache.pool().free_pages(), free_before);
  ExpectFilled(cache, 2, 0, 6, 1);
}

TEST(BatchingKvCacheTest, ChildExtendCopiesTheSharedPartialPage) {
  BatchingKvCache cache = NewCache(6);
  ASSERT_TRUE(cache.AddRequest(1).ok());
  ASSERT_TRUE(cache.Extend(1, 6).ok());
  FillRange(cache, 1, 0, 6);
  ASSERT_TRUE(cache.Fork(1, 2).ok());
  const PageId shared_first = cache.PageTable(1)[0];
  const PageId shared_last = cache.PageTable(1)[1];
  const int64_t free_before = cache.pool().free_pages();

  ASSERT_TRUE(cache.Extend(2, 1).ok());
  EXPECT_EQ(cache.pool().free_pages(), free_before - 1);
  EXPECT_EQ(cache.PageTable(2)[0], shared_first);
  EXPECT_NE(cache.PageTable(2)[1], shared_last);
  EXPECT_EQ(cache.PageTable(1)[1], shared_last);
  EXPECT_EQ(cache.pool().RefCount(shared_first), 2);
  EXPECT_EQ(cache.pool().RefCount(shared_last), 1);
  EXPECT_EQ(cache.pool().RefCount(cache.PageTable(2)[1]), 1);
  // The copy carries the parent's tokens 4 and 5; the child can now write token 6.
  ExpectFilled(cache, 2, 0, 6, 1);
  FillRange(cache, 2, 6, 7);
  ExpectFilled(cache, 2, 6, 7, 2);
  // The parent's page is untouched, and the parent may write its own token 6 there.
  ExpectFilled(cache, 1, 0, 6, 1);
  for (int32_t layer = 0; layer < kLayers; ++layer) {
    EXPECT_FALSE(HoldsStamp(cache.pool(), cache.PageTable(1), 6, layer, DefaultStamp(2, 6, layer)));
  }
  ASSERT_TRUE(cache.Extend(1, 1).ok());
  FillRange(cache, 1, 6, 7);
  ExpectFilled(cache, 1, 0, 7, 1);
  ExpectFilled(cache, 2, 6, 7, 2);
  ExpectFilled(cache, 2, 0, 6, 1);
}

TEST(BatchingKvCacheTest, ParentExtendAfterForkAlsoCopies) {
  BatchingKvCache cache = NewCache(6);
  ASSERT_TRUE(cache.AddRequest(1).ok());
  ASSERT_TRUE(cache.Extend(1, 5).ok());
  FillRange(cache, 1, 0, 5);
  ASSERT_TRUE(cache.Fork(1, 2).ok());
  const PageId shared_last = cache.PageTable(1)[1];
  ASSERT_TRUE(cache.Extend(1, 2).ok());
  EXPECT_NE(cache.PageTable(1)[1], shared_last);
  EXPECT_EQ(cache.PageTable(2)[1], shared_last);  // the child keeps the original
  EXPECT_EQ(cache.pool().RefCount(shared_last), 1);
  FillRange(cache, 1, 5, 7);
  ExpectFilled(cache, 1, 0, 7, 1);
  ExpectFilled(cache, 2, 0, 5, 1);
  // Now sole owner of its last page, the child extends without a copy.
  const int64_t free_before = cache.pool().free_pages();
  ASSERT_TRUE(cache.Extend(2, 1).ok());
  EXPECT_EQ(cache.pool().free_pages(), free_before);
  EXPECT_EQ(cache.PageTable(2)[1], shared_last);
  FillRange(cache, 2, 5, 6);
  ExpectFilled(cache, 2, 5, 6, 2);
  ExpectFilled(cache, 1, 5, 7, 1);
}

TEST(BatchingKvCacheTest, ForkAtAPageBoundaryCopiesNothing) {
  BatchingKvCache cache = NewCache(6);
  ASSERT_TRUE(cache.AddRequest(1).ok());
  ASSERT_TRUE(cache.Extend(1, 8).ok());
  FillRange(cache, 1, 0, 8);
  ASSERT_TRUE(cache.Fork(1, 2).ok());
  ASSERT_TRUE(cache.Extend(2, 1).ok());
  ASSERT_TRUE(cache.Extend(1, 1).ok());
  EXPECT_EQ(cache.pool().free_pages(), 6 - 4);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(cache.pool().RefCount(cache.PageTable(1)[i]), 2);
  EXPECT_NE(cache.PageTable(1)[2], cache.PageTable(2)[2]);
  FillRange(cache, 2, 8, 9);
  FillRange(cache, 1, 8, 9);
  ExpectFilled(cache, 1, 0, 9, 1);
  ExpectFilled(cache, 2, 0, 8, 1);
  ExpectFilled(cache, 2, 8, 9, 2);
}

TEST(BatchingKvCacheTest, AppendIntoASharedPageIsFailedPrecondition) {
  BatchingKvCache cache = NewCache(6);
  ASSERT_TRUE(cache.AddRequest(1).ok());
  ASSERT_TRUE(cache.Extend(1, 6).ok());
  FillRange(cache, 1, 0, 6);
  ASSERT_TRUE(cache.Fork(1, 2).ok());
  for (RequestId id : {1, 2}) {
    for (int32_t pos : {0, 5}) {
      EXPECT_EQ(AppendStamped(cache, id, 0, {pos}, {777}).code(),
                absl::StatusCode::kFailedPrecondition);
    }
  }
  // One bad position fails the whole call before anything is written: position 6 is in a private
  // page after Extend, position 1 is in the still-shared first page.
  ASSERT_TRUE(cache.Extend(1, 3).ok());
  EXPECT_EQ(AppendStamped(cache, 1, 0, {6, 1}, {777, 778}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(HoldsStamp(cache.pool(), cache.PageTable(1), 6, 0, 777));
  ExpectFilled(cache, 1, 0, 6, 1);
  ExpectFilled(cache, 2, 0, 6, 1);
  // Once the child is gone the parent owns its pages again and may rewrite them.
  ASSERT_TRUE(cache.RemoveRequest(2).ok());
  ASSERT_TRUE(AppendStamped(cache, 1, 0, {0}, {777}).ok());
  EXPECT_TRUE(HoldsStamp(cache.pool(), cache.PageTable(1), 0, 0, 777));
}

TEST(BatchingKvCacheTest, RequestLifecycleErrors) {
  BatchingKvCache cache = NewCache(4);
  ASSERT_TRUE(cache.AddRequest(1).ok());
  EXPECT_EQ(cache.AddRequest(1).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(cache.RemoveRequest(2).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cache.Fork(2, 3).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(cache.AddRequest(2).ok());
  EXPECT_EQ(cache.Fork(1, 2).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(cache.num_requests(), 2);
  EXPECT_EQ(cache.Length(5), 0);
  EXPECT_TRUE(cache.PageTable(5).empty());
  ASSERT_TRUE(cache.Extend(1, 9).ok());
  EXPECT_EQ(cache.pool().free_pages(), 1);
  ASSERT_TRUE(cache.RemoveRequest(1).ok());
  EXPECT_FALSE(cache.Contains(1));
  EXPECT_EQ(cache.RemoveRequest(1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cache.pool().free_pages(), 4);
  ASSERT_TRUE(cache.AddRequest(1).ok());  // the id may be reused
  EXPECT_EQ(cache.Length(1), 0);
}

}  // namespace
}  // namespace kvserve
