// kvbench attention: decode-step attention over paged KV vs the same data laid out contiguously.
//
// One decode step = PagedAttention for every layer over a batch of --batch sequences, each with
// --context tokens of KV (the last one being the new token, q_len 1). KV pages come from a pool
// whose free list was shuffled, so page tables are scattered as in a long-running server. The KV
// working set (batch × context × layers × kv_heads × head_dim × 2 × 4 bytes, 537 MB by default) is
// far beyond the last-level cache, so this measures DRAM streaming. Reports the median step time of
// --attention_reps timed steps (after 2 warm-up steps), paged and contiguous steps interleaved.
//
// Threads: main thread drives; the kernels and the STREAM probe use --threads OpenMP workers.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "engine/base/half_float.h"
#include "engine/cache/batching_kv_cache.h"
#include "engine/cache/page_pool.h"
#include "engine/model/paged_attention.h"
#include "tests/bench/bench_common.h"

ABSL_FLAG(
    int32_t, attention_reps, 10,
    "kvbench attention: timed decode steps (after 2 warm-up steps); step_ms is their median.");
ABSL_FLAG(std::string, attention_kv_dtype, "f32",
          "kvbench attention: the paged cache's K/V dtype (f32, bf16, f16); the contiguous copy "
          "is fp32 either way");
ABSL_FLAG(bool, attention_shuffle_pages, true,
          "kvbench attention: hand out KV pages in shuffled order (false: in address order).");
ABSL_FLAG(int32_t, attention_kv_partitions, 0,
          "kvbench attention: AttentionOptions::kv_partitions (0 = automatic split).");

namespace kvserve::bench {
namespace {

// Deterministic floats in [-1, 1) from a position (SplitMix64), so filling can run in parallel.
inline float HashFloat(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return static_cast<float>(x >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using AlignedFloats = std::unique_ptr<float[], FreeDeleter>;

AlignedFloats AllocFloats(int64_t n) {
  return AlignedFloats(static_cast<float*>(std::aligned_alloc(64, ((n * 4 + 63) / 64) * 64)));
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int RunAttentionBench(int /*argc*/, char** /*argv*/) {
  const int32_t batch_size = absl::GetFlag(FLAGS_batch);
  const int32_t context = absl::GetFlag(FLAGS_context);
  const int32_t layers = absl::GetFlag(FLAGS_layers);
  const int32_t heads = absl::GetFlag(FLAGS_heads);
  const int32_t kv_heads = absl::GetFlag(FLAGS_kv_heads);
  const int32_t d = absl::GetFlag(FLAGS_head_dim);
  const int32_t ps = absl::GetFlag(FLAGS_page_size);
  const int32_t reps = std::max(1, absl::GetFlag(FLAGS_attention_reps));
  const absl::StatusOr<FloatDtype> kv_dtype_or =
      ParseFloatDtype(absl::GetFlag(FLAGS_attention_kv_dtype));
  if (!kv_dtype_or.ok()) {
    std::fprintf(stderr, "--attention_kv_dtype: %s\n", kv_dtype_or.status().ToString().c_str());
    return 1;
  }
  const FloatDtype kv_dtype = *kv_dtype_or;
  const AttentionOptions options{.kv_partitions = absl::GetFlag(FLAGS_attention_kv_partitions)};
  if (batch_size <= 0 || context <= 0 || heads <= 0 || kv_heads <= 0 || heads % kv_heads != 0) {
    std::fprintf(stderr, "need positive --batch/--context and --heads a multiple of --kv_heads\n");
    return 1;
  }

  KeyValuePrinter out;
  out.Add("benchmark", "attention");
  out.Add("batch", batch_size);
  out.Add("context", context);
  out.Add("layers", layers);
  out.Add("heads", heads);
  out.Add("kv_heads", kv_heads);
  out.Add("head_dim", d);
  out.Add("page_size", ps);
  out.Add("threads", omp_get_max_threads());
  out.Add("pages", absl::GetFlag(FLAGS_attention_shuffle_pages) ? "shuffled" : "in order");
  out.Add("kv_dtype", std::string(FloatDtypeName(kv_dtype)));

  // KV pages in shuffled order.
  const PageGeometry geometry{.page_size = ps,
                              .num_layers = layers,
                              .num_kv_heads = kv_heads,
                              .head_dim = d,
                              .kv_dtype = kv_dtype};
  const int64_t pages_per_seq = (context + ps - 1) / ps;
  auto pool_or = PagePool::Create(geometry, pages_per_seq * batch_size);
  if (!pool_or.ok()) {
    std::fprintf(stderr, "%s\n", pool_or.status().ToString().c_str());
    return 1;
  }
  PagePool& pool_ref = **pool_or;
  {
    std::vector<PageId> pages;
    for (int64_t i = 0; i < pool_ref.total_pages(); ++i) pages.push_back(*pool_ref.Allocate());
    if (absl::GetFlag(FLAGS_attention_shuffle_pages)) {
      std::shuffle(pages.begin(), pages.end(), std::mt19937(2026));
    } else {
      std::reverse(pages.begin(), pages.end());  // the free list hands out 0, 1, 2, ...
    }
    for (PageId p : pages) pool_ref.Release(p);
  }
  const int64_t page_elements = geometry.page_elements();
  const int64_t total_pages = pool_ref.total_pages();
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < total_pages; ++p) {
    const PageId page = static_cast<PageId>(p);
    for (int64_t i = 0; i < page_elements; ++i) {
      const float value = HashFloat(p * page_elements + i);
      switch (kv_dtype) {
        case FloatDtype::kF32:
          pool_ref.page_data(page)[i] = value;
          break;
        case FloatDtype::kBF16:
          pool_ref.page_data<uint16_t>(page)[i] = FloatToBfloat16(value);
          break;
        case FloatDtype::kF16:
          pool_ref.page_data<uint16_t>(page)[i] = FloatToHalf(value);
          break;
      }
    }
  }
  BatchingKvCache cache(std::move(*pool_or));
  std::vector<SequenceChunk> chunks;
  for (int32_t s = 0; s < batch_size; ++s) {
    if (!cache.AddRequest(s).ok() || !cache.Extend(s, context).ok()) {
      std::fprintf(stderr, "cannot set up request %d\n", s);
      return 1;
    }
    chunks.push_back({s, 1});
  }
  auto batch_or = cache.BuildBatch(chunks);
  if (!batch_or.ok()) {
    std::fprintf(stderr, "%s\n", batch_or.status().ToString().c_str());
    return 1;
  }
  const AttentionBatch& batch = *batch_or;
  const PagePool& pool = cache.pool();

  // The same K/V, contiguous: per layer [seq][kv_head][context][head_dim] for K and for V.
  const int64_t head_stride = int64_t{context} * d;
  const int64_t layer_floats = head_stride * kv_heads * batch_size;
  std::vector<AlignedFloats> keys, values;
  std::vector<std::vector<ContiguousKv>> contiguous(layers);
  for (int32_t l = 0; l < layers; ++l) {
    keys.push_back(AllocFloats(layer_floats));
    values.push_back(AllocFloats(layer_floats));
    float* k = keys.back().get();
    float* v = values.back().get();
#pragma omp parallel for schedule(static)
    for (int32_t s = 0; s < batch_size; ++s) {
      const BatchSequence& seq = batch.sequences[s];
      for (int32_t h = 0; h < kv_heads; ++h) {
        for (int32_t p = 0; p < context; ++p) {
          // Widened from the pages (exact): the contiguous copy is always fp32.
          const int64_t dst = (int64_t{s} * kv_heads + h) * head_stride + int64_t{p} * d;
          pool.ReadSlot(seq.page_table[p / ps], l, h, p % ps, k + dst, v + dst);
        }
      }
    }
    for (int32_t s = 0; s < batch_size; ++s) {
      contiguous[l].push_back({k + int64_t{s} * kv_heads * head_stride,
                               v + int64_t{s} * kv_heads * head_stride, head_stride});
    }
  }

  const int64_t row = int64_t{heads} * d;
  std::vector<float> q(static_cast<size_t>(batch.total_tokens) * row);
  for (size_t i = 0; i < q.size(); ++i) q[i] = 2.0f * HashFloat(~uint64_t{i});
  std::vector<float> out_paged(q.size()), out_contiguous(q.size());
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));

  auto paged_step = [&] {
    for (int32_t l = 0; l < layers; ++l) {
      PagedAttention(batch, pool, l, heads, q.data(), row, out_paged.data(), row, scale, options);
    }
  };
  auto contiguous_step = [&] {
    for (int32_t l = 0; l < layers; ++l) {
      ContiguousAttention(batch, contiguous[l], kv_heads, d, heads, q.data(), row,
                          out_contiguous.data(), row, scale, options);
    }
  };
  auto seconds = [](auto&& fn) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };

  // Same math on the same data: the outputs (of the last layer) must match bit for bit.
  paged_step();
  contiguous_step();
  out.Add("paged_equals_contiguous",
          std::memcmp(out_paged.data(), out_contiguous.data(), q.size() * 4) == 0 ? "yes" : "NO");

  const double stream = StreamTriadGbs();
  paged_step();
  contiguous_step();
  std::vector<double> paged_s, contiguous_s;
  for (int32_t r = 0; r < reps; ++r) {
    paged_s.push_back(seconds(paged_step));
    contiguous_s.push_back(seconds(contiguous_step));
  }
  // Bytes the paged kernel reads (2 per value for 16-bit KV); the contiguous copy holds fp32.
  const int64_t kv_bytes =
      int64_t{batch_size} * context * layers * kv_heads * d * 2 * geometry.element_bytes();
  const int64_t contiguous_bytes = int64_t{batch_size} * context * layers * kv_heads * d * 2 * 4;
  const double step = Median(paged_s);
  const double contiguous_step_s = Median(contiguous_s);
  const double kv_gbs = kv_bytes / step / 1e9;
  out.Add("kv_bytes_per_step", kv_bytes);
  out.Add("timing", "median of reps after 2 warm-up steps");
  out.Add("reps", reps);
  out.Add("step_ms", step * 1e3);
  out.Add("step_ms_best", *std::min_element(paged_s.begin(), paged_s.end()) * 1e3);
  out.Add("kv_gb_s", kv_gbs);
  out.Add("stream_triad_gb_s", stream);
  out.Add("stream_triad_convention", "3 arrays x 64 MiB per iteration, best of 10");
  out.Add("bandwidth_fraction", kv_gbs / stream);
  out.Add("contiguous_step_ms", contiguous_step_s * 1e3);
  out.Add("contiguous_kv_gb_s", contiguous_bytes / contiguous_step_s / 1e9);
  out.Add("paged_vs_contiguous", step / contiguous_step_s);
  if (absl::Status s = out.WriteJson(absl::GetFlag(FLAGS_json)); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

KVBENCH_SUBCOMMAND("attention",
                   "paged decode attention: KV bandwidth vs STREAM, paged vs contiguous",
                   RunAttentionBench);

}  // namespace
}  // namespace kvserve::bench
