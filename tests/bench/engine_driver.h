// EngineDriver: drives ModelRunner + BatchingKvCache directly (no scheduler) for benchmarks:
// prefill sequences in chunks, run decode steps, recompute from scratch.
//
// Threads: main thread only.
#ifndef KVSERVE_TESTS_BENCH_ENGINE_DRIVER_H_
#define KVSERVE_TESTS_BENCH_ENGINE_DRIVER_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/model_runner.h"

namespace kvserve::bench {

class EngineDriver {
 public:
  static absl::StatusOr<EngineDriver> Create(std::shared_ptr<const ModelWeights> weights,
                                             int32_t max_batched_tokens, int32_t max_num_seqs,
                                             int32_t page_size, int64_t num_pages,
                                             bool bf16_matmul = false,
                                             FloatDtype kv_dtype = FloatDtype::kF32) {
    auto runner = ModelRunner::Create(weights, {.max_batched_tokens = max_batched_tokens,
                                                .max_num_seqs = max_num_seqs,
                                                .bf16_matmul = bf16_matmul,
                                                .kv_cache_dtype = kv_dtype});
    if (!runner.ok()) return runner.status();
    auto pool = PagePool::Create((*runner)->KvGeometry(page_size), num_pages);
    if (!pool.ok()) return pool.status();
    EngineDriver d;
    d.runner_ = *std::move(runner);
    d.cache_ = std::make_unique<BatchingKvCache>(*std::move(pool));
    return d;
  }

  // Feeds `tokens[i]` to request `ids[i]` (added on first use) in as few steps as the step budget
  // allows; returns the argmax of each request's last logits.
  absl::StatusOr<std::vector<int32_t>> Feed(const std::vector<RequestId>& ids,
                                            const std::vector<std::vector<int32_t>>& tokens) {
    std::vector<int32_t> next(ids.size(), -1);
    std::vector<size_t> done(ids.size(), 0);
    const int32_t budget = runner_->options().max_batched_tokens;
    for (;;) {
      std::vector<SequenceChunk> chunks;
      std::vector<size_t> which;
      std::vector<int32_t> step_tokens;
      int32_t room = budget;
      for (size_t i = 0; i < ids.size() && room > 0; ++i) {
        if (done[i] == tokens[i].size()) continue;
        if (static_cast<int32_t>(chunks.size()) == runner_->options().max_num_seqs) break;
        if (!cache_->Contains(ids[i])) {
          if (absl::Status s = cache_->AddRequest(ids[i]); !s.ok()) return s;
        }
        const int32_t n = static_cast<int32_t>(std::min<size_t>(room, tokens[i].size() - done[i]));
        if (absl::Status s = cache_->Extend(ids[i], n); !s.ok()) return s;
        chunks.push_back({ids[i], n});
        which.push_back(i);
        step_tokens.insert(step_tokens.end(), tokens[i].begin() + done[i],
                           tokens[i].begin() + done[i] + n);
        done[i] += n;
        room -= n;
      }
      if (chunks.empty()) return next;
      auto batch = cache_->BuildBatch(chunks);
      if (!batch.ok()) return batch.status();
      auto logits = runner_->Step(*cache_, *batch, step_tokens);
      if (!logits.ok()) return logits.status();
      const int64_t vocab = runner_->config().vocab_size;
      for (size_t k = 0; k < which.size(); ++k) {
        auto row = logits->subspan(k * vocab, vocab);
        next[which[k]] =
            static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
      }
    }
  }

  absl::Status Remove(RequestId id) { return cache_->RemoveRequest(id); }
  BatchingKvCache& cache() { return *cache_; }
  const ModelConfig& config() const { return runner_->config(); }

 private:
  EngineDriver() = default;
  std::unique_ptr<ModelRunner> runner_;
  std::unique_ptr<BatchingKvCache> cache_;
};

// A deterministic pseudo-text prompt of byte tokens.
inline std::vector<int32_t> BenchPrompt(int32_t length, int32_t salt) {
  std::vector<int32_t> t(length);
  for (int32_t i = 0; i < length; ++i) t[i] = 32 + (i * 7 + salt * 13) % 95;
  return t;
}

}  // namespace kvserve::bench

#endif  // KVSERVE_TESTS_BENCH_ENGINE_DRIVER_H_
