// ModelRunner (oneDNN projections + paged attention) against the double-precision ReferenceModel.
//
// Tolerance: the engine computes in fp32 with different summation orders than the reference, so
// logits agree to about 1e-5 relative; we allow kTolerance absolute on logits of magnitude ~1-10.
#include "engine/model/model_runner.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "engine/lab/reference_model.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

constexpr double kTolerance = 2e-3;
constexpr double kBf16Tolerance = 0.1;

// One step's work for one request: the tokens to feed (its next chunk).
struct Feed {
  RequestId id;
  std::vector<int32_t> tokens;
};

class EngineHarness {
 public:
  EngineHarness(const ModelConfig& config, int32_t page_size, int64_t num_pages,
                bool bf16_matmul = false) {
    weights_ = std::make_shared<const ModelWeights>(*MakeSyntheticWeights(config, 11));
    runner_ = *ModelRunner::Create(
        weights_, {.max_batched_tokens = 512, .max_num_seqs = 32, .bf16_matmul = bf16_matmul});
    cache_ = std::make_unique<BatchingKvCache>(
        *PagePool::Create(runner_->KvGeometry(page_size), num_pages));
  }

  // Runs one step; returns each fed request's last-token logits and records its tokens.
  std::map<RequestId, std::vector<float>> Step(const std::vector<Feed>& feeds) {
    std::vector<SequenceChunk> chunks;
    std::vector<int32_t> tokens;
    for (const Feed& f : feeds) {
      if (!cache_->Contains(f.id)) {
        EXPECT_TRUE(cache_->AddRequest(f.id).ok());
      }
      EXPECT_TRUE(cache_->Extend(f.id, static_cast<int32_t>(f.tokens.size())).ok());
      chunks.push_back({f.id, static_cast<int32_t>(f.tokens.size())});
      tokens.insert(tokens.end(), f.tokens.begin(), f.tokens.end());
      auto& history = history_[f.id];
      history.insert(history.end(), f.tokens.begin(), f.tokens.end());
    }
    auto batch = cache_->BuildBatch(chunks);
    EXPECT_TRUE(batch.ok()) << batch.status();
    auto logits = runner_->Step(*cache_, *batch, tokens);
    EXPECT_TRUE(logits.ok()) << logits.status();
    std::map<RequestId, std::vector<float>> out;
    const int64_t vocab = weights_->config.vocab_size;
    for (size_t i = 0; i < feeds.size(); ++i) {
      out[feeds[i].id].assign(logits->begin() + i * vocab, logits->begin() + (i + 1) * vocab);
    }
    return out;
  }

  void Fork(RequestId parent, RequestId child) {
    ASSERT_TRUE(cache_->Fork(parent, child).ok());
    history_[child] = history_[parent];
  }

  // Checks `logits` against the reference forward pass over the request's whole history.
  void ExpectMatchesReference(RequestId id, const std::vector<float>& logits,
                              double tolerance = kTolerance) {
    EXPECT_LT(WorstError(id, logits), tolerance)
        << "request " << id << " at length " << history_[id].size();
  }
  // The largest |logit - reference logit|.
  double WorstError(RequestId id, const std::vector<float>& logits) {
    std::vector<double> want = ReferenceLastLogits(*weights_, history_[id]);
    EXPECT_EQ(want.size(), logits.size());
    double worst = 0;
    for (size_t v = 0; v < want.size() && v < logits.size(); ++v) {
      worst = std::max(worst, std::abs(want[v] - logits[v]));
    }
    return worst;
  }

  BatchingKvCache& cache() { return *cache_; }
  ModelRunner& runner() { return *runner_; }

 private:
  std::shared_ptr<const ModelWeights> weights_;
  std::unique_ptr<ModelRunner> runner_;
  std::unique_ptr<BatchingKvCache> cache_;
  std::map<RequestId, std::vector<int32_t>> history_;
};

std::vector<int32_t> Tokens(int n, int salt) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = (i * 31 + salt * 17 + 5) % 256;
  return t;
}

ModelConfig Micro(int kv_heads = 2) {
  ModelConfig c = *PresetConfig("micro");
  c.num_kv_heads = kv_heads;
  return c;
}

TEST(ModelRunnerTest, PrefillInOneChunkMatchesReference) {
  EngineHarness h(Micro(), 4, 64);
  auto out = h.Step({{1, Tokens(23, 1)}});
  h.ExpectMatchesReference(1, out[1]);
}

TEST(ModelRunnerTest, PrefillInSeveralChunksMatchesReference) {
  EngineHarness h(Micro(), 4, 64);
  std::vector<int32_t> prompt = Tokens(30, 2);
  for (auto [begin, end] : {std::pair{0, 7}, {7, 8}, {8, 21}, {21, 30}}) {
    auto out = h.Step({{1, std::vector<int32_t>(prompt.begin() + begin, prompt.begin() + end)}});
    h.ExpectMatchesReference(1, out[1]);
  }
}

TEST(ModelRunnerTest, DecodeStepsMatchReference) {
  EngineHarness h(Micro(), 4, 64);
  auto out = h.Step({{1, Tokens(5, 3)}});
  for (int step = 0; step < 12; ++step) {  // crosses pages 2, 3, 4
    const int32_t next =
        static_cast<int32_t>(std::max_element(out[1].begin(), out[1].end()) - out[1].begin());
    out = h.Step({{1, {next}}});
    h.ExpectMatchesReference(1, out[1]);
  }
}

TEST(ModelRunnerTest, RaggedBatchOfPrefillsAndDecodesMatchesReference) {
  EngineHarness h(Micro(), 4, 128);
  h.Step({{1, Tokens(9, 4)}, {2, Tokens(3, 5)}});
  // Step mixing: decode of 1, a new 17-token prefill, decode of 2, a chunk of a new prompt.
  auto out = h.Step({{1, {42}}, {3, Tokens(17, 6)}, {2, {7}}, {4, Tokens(4, 7)}});
  for (RequestId id : {1, 2, 3, 4}) h.ExpectMatchesReference(id, out[id]);
  out = h.Step({{4, Tokens(6, 8)}, {3, {100}}, {1, {43}}});
  for (RequestId id : {1, 3, 4}) h.ExpectMatchesReference(id, out[id]);
}

TEST(ModelRunnerTest, MultiHeadAttentionConfigMatchesReference) {
  EngineHarness h(Micro(/*kv_heads=*/4), 4, 64);
  auto out = h.Step({{1, Tokens(13, 9)}, {2, Tokens(6, 10)}});
  h.ExpectMatchesReference(1, out[1]);
  h.ExpectMatchesReference(2, out[2]);
  out = h.Step({{2, {1}}, {1, {2}}});
  h.ExpectMatchesReference(1, out[1]);
  h.ExpectMatchesReference(2, out[2]);
}

TEST(ModelRunnerTest, MultiQueryAttentionConfigMatchesReference) {
  EngineHarness h(Micro(/*kv_heads=*/1), 4, 64);
  auto out = h.Step({{1, Tokens(11, 11)}});
  h.ExpectMatchesReference(1, out[1]);
}

TEST(ModelRunnerTest, SequencesAcrossPageBoundariesMatchReference) {
  for (int len : {1, 3, 4, 5, 8, 17}) {
    EngineHarness h(Micro(), 4, 64);
    auto out = h.Step({{1, Tokens(len, len)}});
    h.ExpectMatchesReference(1, out[1]);
    out = h.Step({{1, {9}}});
    h.ExpectMatchesReference(1, out[1]);
  }
}

TEST(ModelRunnerTest, ForkWithCopyOnWriteMatchesReference) {
  EngineHarness h(Micro(), 4, 64);
  h.Step({{1, Tokens(10, 12)}});  // 2.5 pages: the last one is partial and will be shared
  h.Fork(1, 2);
  auto out = h.Step({{1, {65}}, {2, {66}}});  // both write into the shared partial page
  h.ExpectMatchesReference(1, out[1]);
  h.ExpectMatchesReference(2, out[2]);
  out = h.Step({{2, Tokens(6, 13)}, {1, {67}}});
  h.ExpectMatchesReference(1, out[1]);
  h.ExpectMatchesReference(2, out[2]);
}

TEST(ModelRunnerTest, TinyPresetMatchesReference) {
  EngineHarness h(*PresetConfig("tiny"), 16, 16);
  auto out = h.Step({{1, Tokens(20, 14)}, {2, Tokens(3, 15)}});
  h.ExpectMatchesReference(1, out[1]);
  h.ExpectMatchesReference(2, out[2]);
}

TEST(ModelRunnerTest, RejectsBadSteps) {
  EngineHarness h(Micro(), 4, 64);
  ASSERT_TRUE(h.cache().AddRequest(1).ok());
  ASSERT_TRUE(h.cache().Extend(1, 3).ok());
  auto batch = h.cache().BuildBatch({{1, 3}});
  ASSERT_TRUE(batch.ok());
  std::vector<int32_t> two = {1, 2}, bad = {1, 2, 999};
  EXPECT_EQ(h.runner().Step(h.cache(), *batch, two).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.runner().Step(h.cache(), *batch, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// bfloat16 matmuls (8-bit significands: each product is off by up to 2^-8 relative) keep the
// logits near the reference: within a few hundredths on logits that span several units. The error
// is also far above fp32's (~1e-5), which shows the bf16 primitives really ran.
TEST(ModelRunnerTest, Bf16MatmulsStayNearTheReference) {
  for (const char* preset : {"micro", "tiny"}) {
    SCOPED_TRACE(preset);
    EngineHarness h(*PresetConfig(preset), 16, 64, /*bf16_matmul=*/true);
    auto out = h.Step({{1, Tokens(23, 30)}, {2, Tokens(4, 31)}});
    for (RequestId id : {1, 2}) {
      const double error = h.WorstError(id, out[id]);
      EXPECT_LT(error, kBf16Tolerance) << "request " << id;
      EXPECT_GT(error, 1e-4) << "request " << id << ": bf16 looks like fp32";
    }
    out = h.Step({{1, {65}}, {2, {66}}});
    for (RequestId id : {1, 2}) h.ExpectMatchesReference(id, out[id], kBf16Tolerance);
  }
}

// Greedy tokens of a request are the same alone or in a batch with others.
TEST(ModelRunnerTest, GreedyTokensDoNotDependOnBatchCompanions) {
  auto generate = [](bool crowded) {
    EngineHarness h(*PresetConfig("tiny"), 16, 64);
    std::vector<Feed> first = {{1, Tokens(12, 20)}};
    if (crowded) first.push_back({2, Tokens(40, 21)}), first.push_back({3, Tokens(5, 22)});
    auto out = h.Step(first);
    std::vector<int32_t> tokens;
    for (int i = 0; i < 16; ++i) {
      const int32_t next =
          static_cast<int32_t>(std::max_element(out[1].begin(), out[1].end()) - out[1].begin());
      tokens.push_back(next);
      std::vector<Feed> feeds = {{1, {next}}};
      if (crowded) feeds.push_back({2, {static_cast<int32_t>(i)}}), feeds.push_back({3, {7}});
      out = h.Step(feeds);
    }
    return tokens;
  };
  std::vector<int32_t> alone = generate(false), crowded = generate(true);
  EXPECT_EQ(alone, crowded);
  EXPECT_GT(std::set<int32_t>(alone.begin(), alone.end()).size(), 2u) << "degenerate generation";
}

}  // namespace
}  // namespace kvserve
