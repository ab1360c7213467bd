// kvbench cache-vs-recompute: greedy generation on the engine with the KV cache (one prefill, then
// one decode step per token) against without it (every token recomputes the whole sequence from an
// empty cache), on the same weights and prompt.
//
//   kvbench cache-vs-recompute --prompt 64 --new 512
//
// Prints with_cache_tok_s, without_cache_tok_s, speedup and tokens_identical (whether both ways
// produced the same greedy tokens).
//
// It runs the serving engine (ModelRunner over the paged cache), not the KV-cache lab's
// CachedGeneration (engine/lab/): the lab shows the idea on one sequence with naive ops and counts
// attention ops (N vs N(N+1)/2, tests/engine/cached_generation_test.cc); this measures what the
// idea is worth on the engine that serves, where the speed-up target applies.
#include <chrono>
#include <memory>

#include "absl/flags/flag.h"
#include "engine/serving/model_source.h"
#include "tests/bench/bench_common.h"
#include "tests/bench/engine_driver.h"

ABSL_FLAG(int32_t, prompt, 64, "kvbench cache-vs-recompute: prompt tokens");
ABSL_FLAG(int32_t, new, 512, "kvbench cache-vs-recompute: tokens to generate");
ABSL_FLAG(std::string, recompute_model, "tiny", "kvbench cache-vs-recompute: embedded preset");

namespace kvserve::bench {
namespace {

int RunCacheVsRecompute(int, char**) {
  auto model = LoadModel(absl::GetFlag(FLAGS_recompute_model));
  if (!model.ok()) return Fail(model.status());
  const std::shared_ptr<const ModelWeights> shared = model->weights;
  const int32_t prompt_len = absl::GetFlag(FLAGS_prompt), new_tokens = absl::GetFlag(FLAGS_new);
  const int32_t page_size = absl::GetFlag(FLAGS_page_size);
  const int64_t pages = (prompt_len + new_tokens + page_size - 1) / page_size + 1;
  const std::vector<int32_t> prompt = BenchPrompt(prompt_len, 1);

  auto generate = [&](bool use_cache) -> absl::StatusOr<std::pair<std::vector<int32_t>, double>> {
    auto driver = EngineDriver::Create(shared, 512, 1, page_size, pages);
    if (!driver.ok()) return driver.status();
    std::vector<int32_t> sequence = prompt, generated;
    auto start = std::chrono::steady_clock::now();
    auto next = driver->Feed({1}, {prompt});
    while (next.ok() && static_cast<int32_t>(generated.size()) < new_tokens) {
      generated.push_back((*next)[0]);
      sequence.push_back((*next)[0]);
      if (static_cast<int32_t>(generated.size()) == new_tokens) break;
      if (use_cache) {
        next = driver->Feed({1}, {{sequence.back()}});
      } else {
        if (absl::Status s = driver->Remove(1); !s.ok()) return s;
        next = driver->Feed({1}, {sequence});  // recompute everything
      }
    }
    if (!next.ok()) return next.status();
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return std::make_pair(generated, seconds);
  };
  auto with_cache = generate(true);
  if (!with_cache.ok()) return Fail(with_cache.status());
  auto without_cache = generate(false);
  if (!without_cache.ok()) return Fail(without_cache.status());
  KeyValuePrinter out;
  out.Add("model", shared->config.name);
  out.Add("prompt_tokens", prompt_len);
  out.Add("new_tokens", new_tokens);
  out.Add("with_cache_tok_s", new_tokens / with_cache->second);
  out.Add("without_cache_tok_s", new_tokens / without_cache->second);
  out.Add("speedup", without_cache->second / with_cache->second);
  out.Add("tokens_identical", with_cache->first == without_cache->first ? "true" : "false");
  return FinishReport(out);
}

KVBENCH_SUBCOMMAND("cache-vs-recompute",
                   "greedy generation with the KV cache vs recomputing every step",
                   RunCacheVsRecompute);

}  // namespace
}  // namespace kvserve::bench
