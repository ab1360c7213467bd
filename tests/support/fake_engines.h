// Fake StepEngines for scheduler tests: no model, exact and cheap, each making one kind of
// scheduler mistake visible.
//
//   HistoryHashEngine  keeps each token in the KV cache (as the first float of its key) and maps a
//                      request's whole history, read back from its pages, to its next token: a
//                      wrong recomputation after preemption, or a wrong page shared through the
//                      prefix cache or a fork, changes the output.
//   FixedTokenEngine   always predicts one token and moves a fake clock by a fixed time per step,
//                      so latencies are exact.
//
// Both serve the micro preset's config (vocab 259, EOS 257) with one 16-wide KV head per layer,
// and follow the StepEngine row contract (q_len rows for an all_logits sequence: HistoryHashEngine
// hashes the history up to each of its positions).
// Threads: the scheduler thread only, like every StepEngine; a test reads the records after the
// steps it drove.
#ifndef KVSERVE_TESTS_SUPPORT_FAKE_ENGINES_H_
#define KVSERVE_TESTS_SUPPORT_FAKE_ENGINES_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/model/step_engine.h"

namespace kvserve {

inline constexpr int32_t kFakeVocab = 259;  // the micro preset's vocabulary

class HistoryHashEngine : public StepEngine {
 public:
  struct StepRecord {
    std::vector<SequenceChunk> chunks;
    int32_t total_tokens = 0;
  };

  HistoryHashEngine();
  const ModelConfig& config() const override { return config_; }
  PageGeometry KvGeometry(int32_t page_size) const override;
  absl::StatusOr<absl::Span<const float>> Step(BatchingKvCache& cache, const AttentionBatch& batch,
                                               absl::Span<const int32_t> tokens) override;

  std::vector<StepRecord> steps;  // every step it ran, in order

 private:
  static constexpr int32_t kDim = 16;
  ModelConfig config_;
  std::vector<float> logits_;
};

class FixedTokenEngine : public StepEngine {
 public:
  // Predicts `token` every time; each step adds `step_time` to `*clock` (if not null).
  explicit FixedTokenEngine(absl::Time* clock = nullptr,
                            absl::Duration step_time = absl::ZeroDuration(), int32_t token = 65);
  const ModelConfig& config() const override { return config_; }
  PageGeometry KvGeometry(int32_t page_size) const override;
  absl::StatusOr<absl::Span<const float>> Step(BatchingKvCache& cache, const AttentionBatch& batch,
                                               absl::Span<const int32_t> tokens) override;

  int64_t batched_tokens = 0;  // tokens of every step so far

 private:
  absl::Time* const clock_;
  const absl::Duration step_time_;
  ModelConfig config_;
  std::vector<float> logits_;
};

}  // namespace kvserve

#endif  // KVSERVE_TESTS_SUPPORT_FAKE_ENGINES_H_
