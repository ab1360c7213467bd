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
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/lab/reference_model.h"
#include "engine/sched/logprobs.h"
#include "gtest/gtest.h"
#include "tests/support/cpu_features.h"

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
                bool bf16_matmul = false, FloatDtype weights_dtype = FloatDtype::kF32,
                FloatDtype kv_dtype = FloatDtype::kF32) {
    ModelWeights weights = *MakeSyntheticWeights(config, 11);
    weights.ConvertMatrices(weights_dtype);  // the reference then runs on the same 16-bit values
    weights_ = std::make_shared<const ModelWeights>(std::move(weights));
    runner_ = *ModelRunner::Create(weights_, {.max_batched_tokens = 512,
                                              .max_num_seqs = 32,
                                              .bf16_matmul = bf16_matmul,
                                              .kv_cache_dtype = kv_dtype});
    cache_ = std::make_unique<BatchingKvCache>(
        *PagePool::Create(runner_->KvGeometry(page_size), num_pages));
  }

  // Runs one step; returns each fed request's last-token logits and records its tokens.
  std::map<RequestId, std::vector<float>> Step(const std::vector<Feed>& feeds) {
    std::map<RequestId, std::vector<float>> out;
    for (auto& [id, rows] : StepRows(feeds, {})) out[id] = std::move(rows.back());
    return out;
  }

  // Runs one step with the requests in `all_logits` flagged; returns each fed request's logits
  // rows (q_len of them if flagged, else 1), read at its logit_offset.
  std::map<RequestId, std::vector<std::vector<float>>> StepRows(const std::vector<Feed>& feeds,
                                                                const std::set<RequestId>& all) {
    std::vector<SequenceChunk> chunks;
    std::vector<int32_t> tokens;
    for (const Feed& f : feeds) {
      if (!cache_->Contains(f.id)) {
        EXPECT_TRUE(cache_->AddRequest(f.id).ok());
      }
      EXPECT_TRUE(cache_->Extend(f.id, static_cast<int32_t>(f.tokens.size())).ok());
      chunks.push_back({f.id, static_cast<int32_t>(f.tokens.size()), all.contains(f.id)});
      tokens.insert(tokens.end(), f.tokens.begin(), f.tokens.end());
      auto& history = history_[f.id];
      history.insert(history.end(), f.tokens.begin(), f.tokens.end());
    }
    auto batch = cache_->BuildBatch(chunks);
    EXPECT_TRUE(batch.ok()) << batch.status();
    auto logits = runner_->Step(*cache_, *batch, tokens);
    EXPECT_TRUE(logits.ok()) << logits.status();
    const int64_t vocab = weights_->config.vocab_size;
    EXPECT_EQ(static_cast<int64_t>(logits->size()), batch->num_logit_rows * vocab);
    std::map<RequestId, std::vector<std::vector<float>>> out;
    for (const BatchSequence& s : batch->sequences) {
      for (int32_t r = 0; r < s.num_logit_rows(); ++r) {
        const auto row = logits->begin() + (s.logit_offset + r) * vocab;
        out[s.id].emplace_back(row, row + vocab);
      }
    }
    return out;
  }

  // The largest |logit - reference| of the logits after position `position` of the request.
  double WorstErrorAt(RequestId id, int32_t position, const std::vector<float>& logits) {
    const std::vector<int32_t>& h = history_[id];
    std::vector<double> want =
        ReferenceLastLogits(*weights_, absl::MakeConstSpan(h).first(position + 1));
    double worst = 0;
    for (size_t v = 0; v < want.size(); ++v) worst = std::max(worst, std::abs(want[v] - logits[v]));
    return worst;
  }
  const ModelWeights& weights() const { return *weights_; }
  const std::vector<int32_t>& history(RequestId id) { return history_[id]; }

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
  if (!testing::OneDnnHasBf16Matmul()) GTEST_SKIP() << "this CPU has no AVX-512: no bf16 matmul";
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
    // bf16 weights with bf16 compute: prefill chunks on oneDNN's bf16 matmul in place where the
    // CPU has AVX512-BF16 (exact HalfLinear otherwise), decode steps on HalfLinear: near the
    // reference on the same weights either way.
    EngineHarness b(*PresetConfig(preset), 16, 64, /*bf16_matmul=*/true, FloatDtype::kBF16);
    out = b.Step({{1, Tokens(23, 30)}, {2, Tokens(4, 31)}});
    for (RequestId id : {1, 2}) b.ExpectMatchesReference(id, out[id], kBf16Tolerance);
    out = b.Step({{1, {65}}, {2, {66}}});
    for (RequestId id : {1, 2}) b.ExpectMatchesReference(id, out[id], kBf16Tolerance);
  }
}

// 16-bit weights (HalfLinear, widened in registers, fp32 accumulation) match the double reference
// run on the same rounded weights as closely as fp32 weights do: every product is exact in fp32,
// so only summation order differs. Prefill chunks of 23 and 9 rows take the tiled (sgemm) path,
// the two-token decode steps the direct one; an odd row count exercises the tail rows.
TEST(ModelRunnerTest, SixteenBitWeightsMatchTheReferenceOnTheSameWeights) {
  for (FloatDtype dtype : {FloatDtype::kBF16, FloatDtype::kF16}) {
    for (const char* preset : {"micro", "tiny"}) {
      // tiny's double reference is the slow part: once (bf16) is enough for its shapes.
      if (dtype == FloatDtype::kF16 && std::string(preset) == "tiny") continue;
      SCOPED_TRACE(absl::StrCat(preset, " ", FloatDtypeName(dtype)));
      EngineHarness h(*PresetConfig(preset), 16, 64, false, dtype);
      ASSERT_EQ(h.weights().matrix_dtype(), dtype);
      auto out = h.Step({{1, Tokens(23, 30)}, {2, Tokens(9, 31)}});
      for (RequestId id : {1, 2}) h.ExpectMatchesReference(id, out[id]);
      for (int step = 0; step < 3; ++step) {
        out = h.Step({{1, {65 + step}}, {2, {66 + step}}});
        for (RequestId id : {1, 2}) h.ExpectMatchesReference(id, out[id]);
      }
      out = h.Step({{1, {70}}});
      h.ExpectMatchesReference(1, out[1]);
    }
  }
}

// A 16-bit KV cache: K and V rounded to bf16 (8 significant bits) or f16 (11) on write, widened in
// the attention kernel. Logits stay within the bf16 tolerance of the double reference (f16 within
// a quarter of it) over prefill and decode, and the error is above fp32's, so the rounding is real.
TEST(ModelRunnerTest, SixteenBitKvCacheStaysNearTheReference) {
  for (FloatDtype kv : {FloatDtype::kBF16, FloatDtype::kF16}) {
    SCOPED_TRACE(FloatDtypeName(kv));
    const double tolerance = kv == FloatDtype::kBF16 ? kBf16Tolerance : kBf16Tolerance / 4;
    EngineHarness h(*PresetConfig("tiny"), 16, 64, false, FloatDtype::kF32, kv);
    EXPECT_EQ(h.runner().KvGeometry(16).kv_dtype, kv);
    EXPECT_EQ(
        h.cache().pool().geometry().page_bytes(),
        EngineHarness(*PresetConfig("tiny"), 16, 1).cache().pool().geometry().page_bytes() / 2);
    auto out = h.Step({{1, Tokens(24, 30)}, {2, Tokens(9, 31)}});
    double worst = 0;
    for (RequestId id : {1, 2}) worst = std::max(worst, h.WorstError(id, out[id]));
    for (int step = 0; step < 2; ++step) {
      out = h.Step({{1, {65 + step}}, {2, {70 + step}}});
      for (RequestId id : {1, 2}) worst = std::max(worst, h.WorstError(id, out[id]));
    }
    EXPECT_LT(worst, tolerance);
    EXPECT_GT(worst, 1e-4) << "the KV cache looks fp32";
  }
}

// Greedy decoding over a long generation: a 16-bit KV cache picks the same tokens as fp32 for
// 200 tokens on the tiny model (its logits' top-2 gaps dwarf the rounding error).
TEST(ModelRunnerTest, SixteenBitKvCacheKeepsGreedyTokensOverALongGeneration) {
  auto generate = [](FloatDtype kv) {
    EngineHarness h(*PresetConfig("tiny"), 16, 64, false, FloatDtype::kF32, kv);
    std::vector<int32_t> tokens;
    auto out = h.Step({{1, Tokens(24, 5)}});
    for (int i = 0; i < 200; ++i) {
      const std::vector<float>& logits = out[1];
      const int32_t next =
          static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      tokens.push_back(next);
      out = h.Step({{1, {next}}});
    }
    return tokens;
  };
  const std::vector<int32_t> f32 = generate(FloatDtype::kF32);
  EXPECT_EQ(generate(FloatDtype::kBF16), f32);
  EXPECT_EQ(generate(FloatDtype::kF16), f32);
  EXPECT_GE(std::set<int32_t>(f32.begin(), f32.end()).size(), 10u);  // not a constant stream
}

// all_logits: q_len rows, row j the logits after new token j, at every position of ragged chunks
// mixed with unflagged ones (which keep one row).
TEST(ModelRunnerTest, AllLogitsRowsMatchTheReferenceAtEveryPosition) {
  EngineHarness h(Micro(), 4, 128);
  auto out = h.StepRows({{1, Tokens(23, 40)}}, {1});
  ASSERT_EQ(out[1].size(), 23u);
  for (int32_t j = 0; j < 23; ++j) EXPECT_LT(h.WorstErrorAt(1, j, out[1][j]), kTolerance) << j;
  // A second flagged chunk (q_start 23), an unflagged prefill, a flagged new prompt, and a flagged
  // single-token decode.
  h.Step({{4, Tokens(6, 41)}});
  out = h.StepRows({{2, Tokens(6, 42)}, {1, Tokens(9, 43)}, {3, Tokens(4, 44)}, {4, {77}}},
                   {1, 3, 4});
  ASSERT_EQ(out[1].size(), 9u);
  ASSERT_EQ(out[2].size(), 1u);
  ASSERT_EQ(out[3].size(), 4u);
  ASSERT_EQ(out[4].size(), 1u);
  for (int32_t j = 0; j < 9; ++j) EXPECT_LT(h.WorstErrorAt(1, 23 + j, out[1][j]), kTolerance) << j;
  for (int32_t j = 0; j < 4; ++j) EXPECT_LT(h.WorstErrorAt(3, j, out[3][j]), kTolerance) << j;
  h.ExpectMatchesReference(2, out[2][0]);
  h.ExpectMatchesReference(4, out[4][0]);
}

// The flagged rows agree with running the same prefix unflagged one position at a time, and the
// last flagged row with the unflagged step's only row.
TEST(ModelRunnerTest, AllLogitsRowsEqualUnflaggedStepsOnePositionAtATime) {
  const std::vector<int32_t> prompt = Tokens(19, 45);
  EngineHarness flagged(*PresetConfig("tiny"), 16, 16), stepwise(*PresetConfig("tiny"), 16, 16),
      whole(*PresetConfig("tiny"), 16, 16);
  auto rows = flagged.StepRows({{1, prompt}}, {1})[1];
  ASSERT_EQ(rows.size(), prompt.size());
  for (size_t j = 0; j < prompt.size(); ++j) {
    const std::vector<float> one = stepwise.Step({{1, {prompt[j]}}})[1];
    double worst = 0;
    for (size_t v = 0; v < one.size(); ++v) {
      worst = std::max(worst, std::abs(double{one[v]} - rows[j][v]));
    }
    EXPECT_LT(worst, kTolerance) << "position " << j;
  }
  const std::vector<float> last = whole.Step({{1, prompt}})[1];
  for (size_t v = 0; v < last.size(); ++v) {
    ASSERT_NEAR(last[v], rows.back()[v], 1e-4 * (1 + std::abs(last[v]))) << v;
  }
}

// More rows than max_num_seqs (32): the logits buffer grows, and the rows are still right.
TEST(ModelRunnerTest, AllLogitsBeyondMaxNumSeqsRows) {
  EngineHarness h(Micro(), 16, 64);
  auto out = h.StepRows({{1, Tokens(70, 46)}, {2, Tokens(3, 47)}}, {1});
  ASSERT_EQ(out[1].size(), 70u);
  for (int32_t j : {0, 31, 32, 33, 50, 69}) {
    EXPECT_LT(h.WorstErrorAt(1, j, out[1][j]), kTolerance) << j;
  }
  h.ExpectMatchesReference(2, out[2][0]);
  // And the next, unflagged step still returns one row per sequence.
  auto next = h.StepRows({{1, {5}}, {2, {6}}}, {});
  h.ExpectMatchesReference(1, next[1][0]);
  h.ExpectMatchesReference(2, next[2][0]);
}

// Prompt logprobs from flagged rows against log_softmax of the reference model's logits.
TEST(ModelRunnerTest, PromptLogprobsMatchTheReferenceModel) {
  EngineHarness h(Micro(), 4, 64);
  const std::vector<int32_t> prompt = Tokens(17, 48);
  SamplerScratch scratch;
  std::vector<TokenLogprobs> got;
  int32_t position = 0;
  for (int32_t chunk : {7, 1, 9}) {
    const std::vector<int32_t> part(prompt.begin() + position, prompt.begin() + position + chunk);
    std::vector<float> rows;
    const std::vector<std::vector<float>> step = h.StepRows({{1, part}}, {1})[1];
    for (const auto& row : step) rows.insert(rows.end(), row.begin(), row.end());
    AppendPromptLogprobs(rows, h.weights().config.vocab_size, prompt, position, 3, &scratch, &got);
    position += chunk;
  }
  ASSERT_EQ(got.size(), prompt.size() - 1);
  const std::vector<std::vector<double>> ref = ReferenceForward(h.weights(), prompt);
  for (size_t t = 1; t < prompt.size(); ++t) {
    const std::vector<double>& l = ref[t - 1];
    const double m = *std::max_element(l.begin(), l.end());
    double sum = 0;
    for (double x : l) sum += std::exp(x - m);
    const double want = l[prompt[t]] - m - std::log(sum);
    EXPECT_NEAR(got[t - 1].logprob, want, 2 * kTolerance) << t;
    EXPECT_EQ(got[t - 1].token, prompt[t]);
    EXPECT_EQ(got[t - 1].top[0].token,
              static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin()));
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
