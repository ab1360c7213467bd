// The test fakes keep StepEngine's row contract (step_engine.h): one row per sequence, or q_len
// rows for an all_logits sequence, each the row the same prefix gives unflagged.
#include "tests/support/fake_engines.h"

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/cache/batching_kv_cache.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

class FakeHarness {
 public:
  explicit FakeHarness(StepEngine* engine) : engine_(engine) {
    cache_ = std::make_unique<BatchingKvCache>(*PagePool::Create(engine->KvGeometry(4), 128));
  }
  // One step; the logits rows of every sequence, in batch order.
  std::vector<std::vector<float>> Step(const std::vector<std::vector<int32_t>>& chunks,
                                       const std::vector<bool>& all_logits) {
    std::vector<SequenceChunk> specs;
    std::vector<int32_t> tokens;
    for (size_t i = 0; i < chunks.size(); ++i) {
      const RequestId id = static_cast<RequestId>(i + 1);
      if (!cache_->Contains(id)) EXPECT_TRUE(cache_->AddRequest(id).ok());
      EXPECT_TRUE(cache_->Extend(id, static_cast<int32_t>(chunks[i].size())).ok());
      specs.push_back({id, static_cast<int32_t>(chunks[i].size()), all_logits[i]});
      tokens.insert(tokens.end(), chunks[i].begin(), chunks[i].end());
    }
    auto batch = cache_->BuildBatch(specs);
    EXPECT_TRUE(batch.ok());
    auto logits = engine_->Step(*cache_, *batch, tokens);
    EXPECT_TRUE(logits.ok());
    EXPECT_EQ(logits->size(), size_t(batch->num_logit_rows) * kFakeVocab);
    std::vector<std::vector<float>> rows;
    for (int32_t r = 0; r < batch->num_logit_rows; ++r) {
      rows.emplace_back(logits->begin() + r * kFakeVocab, logits->begin() + (r + 1) * kFakeVocab);
    }
    return rows;
  }

 private:
  StepEngine* engine_;
  std::unique_ptr<BatchingKvCache> cache_;
};

TEST(FakeEnginesTest, HistoryHashRowsFollowEveryPrefix) {
  const std::vector<int32_t> a = {5, 6, 7, 8, 9}, b = {40, 41};
  HistoryHashEngine flagged_engine, stepwise_engine;
  FakeHarness flagged(&flagged_engine), stepwise(&stepwise_engine);
  const auto rows = flagged.Step({a, b}, {true, false});
  ASSERT_EQ(rows.size(), a.size() + 1);
  for (size_t j = 0; j < a.size(); ++j) {
    // Request 2 is fed its whole chunk with request 1's first token, then left alone.
    const auto one = stepwise.Step(j == 0 ? std::vector<std::vector<int32_t>>{{a[0]}, b}
                                          : std::vector<std::vector<int32_t>>{{a[j]}},
                                   {false, false});
    EXPECT_EQ(rows[j], one[0]) << "position " << j;
    if (j == 0) EXPECT_EQ(rows.back(), one[1]);
  }
  EXPECT_NE(rows[0], rows[1]);  // different prefixes, different rows
}

TEST(FakeEnginesTest, FixedTokenReturnsOneRowPerLogitRow) {
  FixedTokenEngine engine;
  FakeHarness h(&engine);
  std::vector<int32_t> long_chunk(300, 3);  // more rows than the fake's preset 256
  const auto rows = h.Step({long_chunk, {1}}, {true, false});
  ASSERT_EQ(rows.size(), 301u);
  for (const auto& row : rows) EXPECT_EQ(row[65], 10.0f);
}

}  // namespace
}  // namespace kvserve
