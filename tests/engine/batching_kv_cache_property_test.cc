// Randomized property test of BatchingKvCache: page accounting and data integrity over
// thousands of random operations.
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "engine/cache/batching_kv_cache.h"
#include "gtest/gtest.h"
#include "tests/engine/kv_cache_test_util.h"

namespace kvserve {
namespace {

using namespace ::kvserve::testing_util;  // NOLINT: test helpers

// Random add/extend/append/fork/remove against a model that remembers which write (stamp) each
// position of each request should hold.
class RandomOps {
 public:
  RandomOps(uint32_t seed, int64_t num_pages) : rng_(seed), cache_(NewCache(num_pages)) {}

  void Run(int steps) {
    for (int step = 0; step < steps; ++step) {
      const int op = Uniform(0, 99);
      if (op < 10 || model_.empty()) {
        Add();
      } else if (op < 45) {
        Extend();
      } else if (op < 75) {
        Append();
      } else if (op < 83) {
        Fork();
      } else if (op < 93) {
        Remove();
      } else {
        Batch();
      }
      if (::testing::Test::HasFatalFailure()) return;
      CheckInvariants();
      if (::testing::Test::HasFatalFailure()) return;
    }
    // Everything comes back.
    while (!model_.empty()) {
      ASSERT_TRUE(cache_.RemoveRequest(model_.begin()->first).ok());
      model_.erase(model_.begin());
    }
    EXPECT_EQ(cache_.pool().free_pages(), cache_.pool().total_pages());
    for (PageId p = 0; p < cache_.pool().total_pages(); ++p)
      EXPECT_EQ(cache_.pool().RefCount(p), 0);
  }

  int exhausted() const { return exhausted_; }
  int shared_rejections() const { return shared_rejections_; }
  int copies() const { return copies_; }

 private:
  // stamps[layer][pos]: the stamp written there, -1 if never written.
  using Stamps = std::vector<std::vector<int64_t>>;

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  RequestId RandomLive() {
    auto it = model_.begin();
    std::advance(it, Uniform(0, static_cast<int>(model_.size()) - 1));
    return it->first;
  }

  void Add() {
    if (!model_.empty() && Uniform(0, 9) == 0) {
      ASSERT_EQ(cache_.AddRequest(RandomLive()).code(), absl::StatusCode::kAlreadyExists);
      return;
    }
    const RequestId id = next_id_++;
    ASSERT_TRUE(cache_.AddRequest(id).ok());
    model_[id] = Stamps(kLayers);
  }

  void Extend() {
    const RequestId id = RandomLive();
    const int32_t n = Uniform(0, 9);
    const int32_t length = cache_.Length(id);
    const std::vector<PageId> table(cache_.PageTable(id).begin(), cache_.PageTable(id).end());
    const bool cow = length % kPageSize != 0 && cache_.pool().RefCount(table.back()) > 1;
    const int64_t expected = n == 0 ? 0
                                    : (length + n + kPageSize - 1) / kPageSize -
                                          static_cast<int64_t>(table.size()) + (cow ? 1 : 0);
    ASSERT_EQ(*cache_.PagesNeeded(id, n), expected);
    const int64_t free_before = cache_.pool().free_pages();
    absl::Status s = cache_.Extend(id, n);
    if (expected > free_before) {
      ASSERT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
      ++exhausted_;
      ASSERT_EQ(cache_.Length(id), length);
      ASSERT_EQ(std::vector<PageId>(cache_.PageTable(id).begin(), cache_.PageTable(id).end()),
                table);
      ASSERT_EQ(cache_.pool().free_pages(), free_before);
      return;
    }
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_EQ(cache_.pool().free_pages(), free_before - expected);
    if (cow && n > 0) ++copies_;
    for (auto& layer : model_[id]) layer.resize(length + n, -1);
  }

  void Append() {
    const RequestId id = RandomLive();
    const int32_t length = cache_.Length(id);
    if (length == 0) return;
    const int32_t layer = Uniform(0, kLayers - 1);
    // Mostly the newest tokens (as a step does), sometimes any earlier one.
    std::set<int32_t> chosen;
    const int count = Uniform(1, std::min(3, length));
    while (static_cast<int>(chosen.size()) < count) {
      chosen.insert(Uniform(0, 1) ? length - 1 - Uniform(0, std::min(3, length - 1))
                                  : Uniform(0, length - 1));
    }
    std::vector<int32_t> positions(chosen.begin(), chosen.end());
    std::shuffle(positions.begin(), positions.end(), rng_);
    std::vector<int64_t> stamps;
    bool shared = false;
    for (int32_t pos : positions) {
      stamps.push_back(next_stamp_++);
      shared |= cache_.pool().RefCount(cache_.PageTable(id)[pos / kPageSize]) > 1;
    }
    absl::Status s = AppendStamped(cache_, id, layer, positions, stamps);
    if (shared) {
      ASSERT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
      ++shared_rejections_;
      return;
    }
    ASSERT_TRUE(s.ok()) << s;
    for (size_t i = 0; i < positions.size(); ++i) model_[id][layer][positions[i]] = stamps[i];
  }

  void Fork() {
    const RequestId parent = RandomLive();
    const RequestId child = next_id_++;
    const int64_t free_before = cache_.pool().free_pages();
    ASSERT_TRUE(cache_.Fork(parent, child).ok());
    ASSERT_EQ(cache_.pool().free_pages(), free_before);
    model_[child] = model_[parent];
  }

  void Remove() {
    if (Uniform(0, 9) == 0) {
      ASSERT_EQ(cache_.RemoveRequest(next_id_ + 1000).code(), absl::StatusCode::kNotFound);
      return;
    }
    const RequestId id = RandomLive();
    ASSERT_TRUE(cache_.RemoveRequest(id).ok());
    model_.erase(id);
  }

  void Batch() {
    std::vector<SequenceChunk> chunks;
    for (const auto& [id, stamps] : model_) {
      const int32_t length = cache_.Length(id);
      if (length > 0 && Uniform(0, 1)) chunks.push_back({id, Uniform(1, length)});
    }
    std::shuffle(chunks.begin(), chunks.end(), rng_);
    auto batch = cache_.BuildBatch(chunks);
    ASSERT_TRUE(batch.ok()) << batch.status();
    int32_t rows = 0;
    for (const SequenceChunk& c : chunks) rows += c.num_new_tokens;
    ASSERT_EQ(batch->total_tokens, rows);
    for (const BatchSequence& s : batch->sequences) {
      const absl::Span<const PageId> own = cache_.PageTable(s.id);
      const std::set<PageId> own_pages(own.begin(), own.end());
      for (int32_t q = 0; q < s.q_len; ++q) {
        const std::vector<int64_t> slots = batch->VisibleSlots(s.token_offset + q);
        ASSERT_EQ(slots.size(), size_t(s.q_start + q + 1));
        for (int64_t slot : slots) ASSERT_TRUE(own_pages.contains(slot / kPageSize));
      }
    }
  }

  void CheckInvariants() {
    std::map<PageId, int> holders;
    for (const auto& [id, stamps] : model_) {
      const absl::Span<const PageId> table = cache_.PageTable(id);
      const int32_t length = cache_.Length(id);
      ASSERT_EQ(length, static_cast<int32_t>(stamps[0].size()));
      ASSERT_EQ(table.size(), size_t((length + kPageSize - 1) / kPageSize));
      ASSERT_EQ(std::set<PageId>(table.begin(), table.end()).size(), table.size())
          << "request " << id << " holds a page twice";
      for (PageId page : table) ++holders[page];
    }
    const PagePool& pool = cache_.pool();
    ASSERT_EQ(pool.free_pages() + static_cast<int64_t>(holders.size()), pool.total_pages());
    for (PageId p = 0; p < pool.total_pages(); ++p) {
      auto it = holders.find(p);
      ASSERT_EQ(pool.RefCount(p), it == holders.end() ? 0 : it->second) << "page " << p;
    }
    // Data integrity: every position written (by the request or, before a fork, its ancestor)
    // still holds that write, in every live request.
    for (const auto& [id, stamps] : model_) {
      for (int32_t layer = 0; layer < kLayers; ++layer) {
        for (size_t pos = 0; pos < stamps[layer].size(); ++pos) {
          if (stamps[layer][pos] < 0) continue;
          ASSERT_TRUE(HoldsStamp(pool, cache_.PageTable(id), static_cast<int32_t>(pos), layer,
                                 stamps[layer][pos]))
              << "request " << id << " position " << pos << " layer " << layer;
        }
      }
    }
  }

  std::mt19937 rng_;
  BatchingKvCache cache_;
  std::map<RequestId, Stamps> model_;
  RequestId next_id_ = 1;
  int64_t next_stamp_ = 0;
  int exhausted_ = 0;
  int shared_rejections_ = 0;
  int copies_ = 0;
};

TEST(BatchingKvCacheTest, RandomOpsKeepPagesAccountedAndDataIntact) {
  for (uint32_t seed : {1u, 7u, 42u, 1234u}) {
    SCOPED_TRACE(seed);
    RandomOps ops(seed, /*num_pages=*/12);
    ops.Run(4000);
    if (HasFatalFailure()) return;
    // The run must actually reach the interesting paths.
    EXPECT_GT(ops.exhausted(), 0);
    EXPECT_GT(ops.shared_rejections(), 0);
    EXPECT_GT(ops.copies(), 0);
  }
}

}  // namespace
}  // namespace kvserve
