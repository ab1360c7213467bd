#include "engine/model/paged_attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "engine/model/attention_chunk_kernels.h"

namespace kvserve {
namespace {

using attention::Bf16Kv;
using attention::ChunkGeneric;
using attention::F16Kv;
using attention::F32Kv;
using attention::kChunk;
using attention::kLog2e;
using attention::kNegInf;
#if defined(__AVX512F__)
using attention::ChunkRowsAvx512;
#endif

// Query rows (token × head of one kv group) per work item; one K/V read serves all of them.
constexpr int32_t kTileRows = 16;
// Automatic KV partitions are at least this many tokens long.
constexpr int32_t kMinPartitionTokens = 256;
// Prefetch distance in blocks, and lines touched per 4 KiB page (see PrefetchBlock).
constexpr int32_t kPrefetchBlocks = 2;
constexpr int32_t kTriggerLines = 2;

// Block sources: where block b (positions [b * block_tokens, (b + 1) * block_tokens)) of one
// (sequence, kv head) lives. Rows are head_dim elements of the source's Kv format, position-major.

template <class KvFormat>
class PagedSource {
 public:
  using Kv = KvFormat;
  using T = typename Kv::T;
  PagedSource(const PagePool& pool, absl::Span<const PageId> page_table, int32_t layer,
              int32_t kv_head)
      : base_(pool.key_block<T>(0, layer, kv_head)),
        table_(page_table.data()),
        page_elements_(pool.geometry().page_elements()),
        block_elements_(pool.geometry().block_elements()) {}
  const T* Keys(int32_t block) const { return base_ + table_[block] * page_elements_; }
  const T* Values(int32_t block) const { return Keys(block) + block_elements_; }

 private:
  const T* base_;  // K block of (layer, kv_head) in page 0
  const PageId* table_;
  int64_t page_elements_;
  int64_t block_elements_;
};

class ContiguousSource {
 public:
  using Kv = F32Kv;
  ContiguousSource(const ContiguousKv& kv, int32_t kv_head, int64_t block_elements)
      : keys_(kv.keys + kv_head * kv.head_stride),
        values_(kv.values + kv_head * kv.head_stride),
        block_elements_(block_elements) {}
  const float* Keys(int32_t block) const { return keys_ + block * block_elements_; }
  const float* Values(int32_t block) const { return values_ + block * block_elements_; }

 private:
  const float* keys_;
  const float* values_;
  int64_t block_elements_;
};

// One work item: a tile of query rows of one (sequence, kv head) against KV blocks
// [block_begin, block_end).

// Per-thread scratch, grown to the largest tile seen and then reused (no allocation per call).
struct TileScratch {
  std::vector<float> storage;
  float* q = nullptr;    // kTileRows × d
  float* acc = nullptr;  // kTileRows × d
  float* p = nullptr;    // kTileRows × kChunk
  float m[kTileRows];
  alignas(64) float l[kTileRows * kChunk];  // kChunk lanes per row, summed at the end
  int32_t visible[kTileRows];
  int32_t valid[kTileRows];

  void Prepare(int32_t d) {
    const size_t floats = size_t{2} * kTileRows * d + kTileRows * kChunk + 16;
    if (storage.size() < floats) storage.resize(floats);
    const uintptr_t addr = reinterpret_cast<uintptr_t>(storage.data());
    q = storage.data() + ((64 - addr % 64) % 64) / sizeof(float);
    acc = q + int64_t{kTileRows} * d;
    p = acc + int64_t{kTileRows} * d;
  }
};

// The softmax denominator of tile row r.
inline float RowSum(const TileScratch& t, int32_t r) {
  float sum = 0.0f;
  for (int32_t i = 0; i < kChunk; ++i) sum += t.l[r * kChunk + i];
  return sum;
}

// Software prefetch of a block needed kPrefetchBlocks from now. Pages are scattered, so the
// hardware stream prefetchers lose track at every block; prefetching every line ourselves is no
// better, since each prefetch holds one of the few L1 miss buffers. Instead touch the first
// kTriggerLines lines of every 4 KiB page the block spans: that restarts the L2 stream prefetcher
// on the page, which then fetches the rest into L2 without using L1 miss buffers. See
// tests/bench/README.md for the numbers.
inline void PrefetchLine(const char* p) {
#if defined(__x86_64__)
  // GCC 12 deletes loops whose only statements are __builtin_prefetch; asm volatile stays.
  asm volatile("prefetcht0 %0" : : "m"(*p));
#else
  __builtin_prefetch(p, 0, 3);
#endif
}

inline void TriggerStreams(const void* block, int64_t bytes) {
  const char* begin = static_cast<const char*>(block);
  const char* end = begin + bytes;
  for (int32_t i = 0; i < kTriggerLines; ++i) PrefetchLine(begin + 64 * i);
  const uintptr_t addr = reinterpret_cast<uintptr_t>(begin);
  for (const char* page = begin + (((addr + 4095) & ~uintptr_t{4095}) - addr); page < end;
       page += 4096) {
    for (int32_t i = 0; i < kTriggerLines; ++i) PrefetchLine(page + 64 * i);
  }
}

template <class Source>
inline void PrefetchBlock(const Source& src, int32_t block, int64_t block_elements) {
  const int64_t bytes = block_elements * static_cast<int64_t>(sizeof(*src.Keys(block)));
  TriggerStreams(src.Keys(block), bytes);
  TriggerStreams(src.Values(block), bytes);
}

// kC > 0: AVX-512 kernel with head_dim 16 * kC; kC < 0: AVX2 kernel with head_dim 8 * -kC;
// kC == 0: portable kernel.
template <int kC, class Source>
void AttendTile(const Source& src, int32_t d, int32_t block_tokens, int32_t block_begin,
                int32_t block_end, int32_t rows, int32_t kv_limit, TileScratch& t) {
  const int64_t block_elements = int64_t{block_tokens} * d;
  for (int32_t b = block_begin; b < std::min(block_end, block_begin + kPrefetchBlocks); ++b) {
    PrefetchBlock(src, b, block_elements);
  }
  for (int32_t b = block_begin; b < block_end; ++b) {
    if (b + kPrefetchBlocks < block_end) PrefetchBlock(src, b + kPrefetchBlocks, block_elements);
    using Kv = typename Source::Kv;
    const auto* kb = src.Keys(b);
    const auto* vb = src.Values(b);
    const int32_t base = b * block_tokens;
    const int32_t in_block = std::min(block_tokens, kv_limit - base);
    for (int32_t c0 = 0; c0 < in_block; c0 += kChunk) {
      const int32_t n = std::min(kChunk, in_block - c0);
      for (int32_t r = 0; r < rows; ++r) {
        t.valid[r] = std::clamp(t.visible[r] - (base + c0), 0, n);
      }
      const auto* k = kb + int64_t{c0} * d;
      const auto* v = vb + int64_t{c0} * d;
#if defined(__AVX512F__)
      if constexpr (kC > 0) {
        ChunkRowsAvx512<Kv, kC>(rows, t.q, k, v, t.valid, t.acc, t.m, t.l, t.p);
        continue;
      }
#endif
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
      if constexpr (kC < 0) {
        attention::ChunkRowsAvx2<Kv, -kC>(rows, t.q, k, v, t.valid, t.acc, t.m, t.l, t.p);
        continue;
      }
#endif
      ChunkGeneric<Kv>(rows, d, t.q, k, v, t.valid, t.acc, t.m, t.l);
    }
  }
}

// Work decomposition.

// Unit rows (sequence, kv head): row r is token r / group, query head kv_head * group + r % group.
struct WorkItem {
  int32_t seq, kv_head;
  int32_t row_begin, row_end;
  int32_t block_begin, block_end;
  int32_t partial;  // slot in Workspace::partials, or -1 to write `out` directly
  int64_t cost;
};

struct MergeUnit {
  int32_t seq, kv_head;
  int32_t row_begin, row_end;
  int32_t first_partial, num_partials;
};

// The calling thread's item lists and partial results; they only grow.
struct Workspace {
  std::vector<WorkItem> items;
  std::vector<MergeUnit> merges;
  std::vector<float> partials;
};

struct Problem {
  const AttentionBatch* batch;
  int32_t num_heads, num_kv_heads, head_dim;
  const float* q;
  int64_t q_stride;
  float* out;
  int64_t out_stride;
  float scale;
  int32_t group() const { return num_heads / num_kv_heads; }
  // Floats of one partial slot: acc [kTileRows][d], then m [kTileRows], l [kTileRows].
  int64_t partial_floats() const { return int64_t{kTileRows} * (head_dim + 2); }
};

void BuildWork(const Problem& pr, const AttentionOptions& options, Workspace& ws) {
  const AttentionBatch& batch = *pr.batch;
  const int32_t group = pr.group();
  const int32_t bt = batch.page_size;
  ws.items.clear();
  ws.merges.clear();
  int64_t units = 0;
  for (const BatchSequence& seq : batch.sequences) {
    units += int64_t{pr.num_kv_heads} * ((int64_t{seq.q_len} * group + kTileRows - 1) / kTileRows);
  }
  const int64_t want_items = 2 * int64_t{omp_get_max_threads()};
  int32_t partials = 0;
  for (int32_t s = 0; s < static_cast<int32_t>(batch.sequences.size()); ++s) {
    const BatchSequence& seq = batch.sequences[s];
    const int32_t unit_rows = seq.q_len * group;
    for (int32_t g = 0; g < pr.num_kv_heads; ++g) {
      for (int32_t r0 = 0; r0 < unit_rows; r0 += kTileRows) {
        const int32_t r1 = std::min(unit_rows, r0 + kTileRows);
        const int32_t kv_limit = seq.VisibleLength((r1 - 1) / group);
        const int32_t blocks = (kv_limit + bt - 1) / bt;
        int64_t parts = 1;
        if (options.kv_partitions > 0) {
          parts = options.kv_partitions;
        } else if (units < want_items) {
          parts =
              std::min<int64_t>((want_items + units - 1) / units, kv_limit / kMinPartitionTokens);
        }
        parts = std::clamp<int64_t>(parts, 1, blocks);
        const int64_t rows = r1 - r0;
        if (parts == 1) {
          ws.items.push_back({s, g, r0, r1, 0, blocks, -1, rows * blocks});
          continue;
        }
        ws.merges.push_back({s, g, r0, r1, partials, static_cast<int32_t>(parts)});
        for (int64_t p = 0; p < parts; ++p) {
          const int32_t b0 = static_cast<int32_t>(blocks * p / parts);
          const int32_t b1 = static_cast<int32_t>(blocks * (p + 1) / parts);
          ws.items.push_back({s, g, r0, r1, b0, b1, partials++, rows * (b1 - b0)});
        }
      }
    }
  }
  // Longest first, so dynamic scheduling does not leave one long item for the end.
  std::sort(ws.items.begin(), ws.items.end(),
            [](const WorkItem& a, const WorkItem& b) { return a.cost > b.cost; });
  const size_t partial_floats = static_cast<size_t>(partials * pr.partial_floats());
  if (ws.partials.size() < partial_floats) ws.partials.resize(partial_floats);
}

template <int kC, class MakeSource>
void RunItem(const Problem& pr, const WorkItem& item, const MakeSource& make_source, Workspace& ws,
             TileScratch& t) {
  const BatchSequence& seq = pr.batch->sequences[item.seq];
  const int32_t d = pr.head_dim;
  const int32_t group = pr.group();
  const int32_t rows = item.row_end - item.row_begin;
  const float qscale = pr.scale * kLog2e;
  int32_t kv_limit = 0;
  for (int32_t r = 0; r < rows; ++r) {
    const int32_t ur = item.row_begin + r;
    const int32_t token = ur / group;
    const int32_t head = item.kv_head * group + ur % group;
    const float* qrow = pr.q + (seq.token_offset + token) * pr.q_stride + int64_t{head} * d;
    float* qt = t.q + int64_t{r} * d;
    for (int32_t x = 0; x < d; ++x) qt[x] = qrow[x] * qscale;
    float* acc = t.acc + int64_t{r} * d;
    for (int32_t x = 0; x < d; ++x) acc[x] = 0.0f;
    t.m[r] = kNegInf;
    std::fill_n(t.l + r * kChunk, kChunk, 0.0f);
    t.visible[r] = seq.VisibleLength(token);
    kv_limit = std::max(kv_limit, t.visible[r]);
  }
  kv_limit = std::min(kv_limit, item.block_end * pr.batch->page_size);
  AttendTile<kC>(make_source(item.seq, item.kv_head), d, pr.batch->page_size, item.block_begin,
                 item.block_end, rows, kv_limit, t);
  if (item.partial >= 0) {
    float* slot = ws.partials.data() + item.partial * pr.partial_floats();
    std::copy(t.acc, t.acc + int64_t{rows} * d, slot);
    std::copy(t.m, t.m + rows, slot + int64_t{kTileRows} * d);
    for (int32_t r = 0; r < rows; ++r) slot[int64_t{kTileRows} * d + kTileRows + r] = RowSum(t, r);
    return;
  }
  for (int32_t r = 0; r < rows; ++r) {
    const int32_t ur = item.row_begin + r;
    const int32_t head = item.kv_head * group + ur % group;
    float* orow = pr.out + (seq.token_offset + ur / group) * pr.out_stride + int64_t{head} * d;
    const float inv = 1.0f / RowSum(t, r);  // every row sees position 0, so the sum is >= 1
    const float* acc = t.acc + int64_t{r} * d;
    for (int32_t x = 0; x < d; ++x) orow[x] = acc[x] * inv;
  }
}

// Combines the partial softmax states of one unit's KV partitions (flash-decoding merge).
void MergeUnitPartials(const Problem& pr, const MergeUnit& u, const Workspace& ws) {
  const BatchSequence& seq = pr.batch->sequences[u.seq];
  const int32_t d = pr.head_dim;
  const int32_t group = pr.group();
  const int64_t stride = pr.partial_floats();
  const float* first = ws.partials.data() + u.first_partial * stride;
  for (int32_t r = 0; r < u.row_end - u.row_begin; ++r) {
    const int32_t ur = u.row_begin + r;
    const int32_t head = u.kv_head * group + ur % group;
    float* orow = pr.out + (seq.token_offset + ur / group) * pr.out_stride + int64_t{head} * d;
    float mmax = kNegInf;
    for (int32_t p = 0; p < u.num_partials; ++p) {
      mmax = std::max(mmax, first[p * stride + int64_t{kTileRows} * d + r]);
    }
    float lsum = 0.0f;
    for (int32_t x = 0; x < d; ++x) orow[x] = 0.0f;
    for (int32_t p = 0; p < u.num_partials; ++p) {
      const float* slot = first + p * stride;
      const float mp = slot[int64_t{kTileRows} * d + r];
      if (mp == kNegInf) continue;  // this partition holds nothing the row may see
      const float w = std::exp2(mp - mmax);
      lsum += w * slot[int64_t{kTileRows} * d + kTileRows + r];
      const float* acc = slot + int64_t{r} * d;
      for (int32_t x = 0; x < d; ++x) orow[x] += w * acc[x];
    }
    const float inv = 1.0f / lsum;
    for (int32_t x = 0; x < d; ++x) orow[x] *= inv;
  }
}

template <int kC, class MakeSource>
void RunWithKernel(const Problem& pr, const MakeSource& make_source, Workspace& ws) {
  const int64_t num_items = static_cast<int64_t>(ws.items.size());
  const int64_t num_merges = static_cast<int64_t>(ws.merges.size());
#pragma omp parallel
  {
    thread_local TileScratch scratch;
    scratch.Prepare(pr.head_dim);
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < num_items; ++i) RunItem<kC>(pr, ws.items[i], make_source, ws, scratch);
    if (num_merges > 0) {
#pragma omp for schedule(dynamic, 1)
      for (int64_t i = 0; i < num_merges; ++i) MergeUnitPartials(pr, ws.merges[i], ws);
    }
  }
}

template <class MakeSource>
void Run(const Problem& pr, const AttentionOptions& options, const MakeSource& make_source) {
  if (pr.batch->total_tokens <= 0 || pr.batch->sequences.empty()) return;
  thread_local Workspace ws;
  BuildWork(pr, options, ws);
#if defined(__AVX512F__)
  // clang-format off
  switch (pr.head_dim) {
    case 16: return RunWithKernel<1>(pr, make_source, ws);
    case 32: return RunWithKernel<2>(pr, make_source, ws);
    case 64: return RunWithKernel<4>(pr, make_source, ws);
    case 96: return RunWithKernel<6>(pr, make_source, ws);
    case 128: return RunWithKernel<8>(pr, make_source, ws);
    case 256: return RunWithKernel<16>(pr, make_source, ws);
    default: break;  // other sizes: the portable kernel
  }
    // clang-format on
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
  // clang-format off
  switch (pr.head_dim) {
    case 16: return RunWithKernel<-2>(pr, make_source, ws);
    case 32: return RunWithKernel<-4>(pr, make_source, ws);
    case 64: return RunWithKernel<-8>(pr, make_source, ws);
    case 96: return RunWithKernel<-12>(pr, make_source, ws);
    case 128: return RunWithKernel<-16>(pr, make_source, ws);
    default: break;  // other sizes: the portable kernel
  }
    // clang-format on
#endif
  RunWithKernel<0>(pr, make_source, ws);
}

}  // namespace

void PagedAttention(const AttentionBatch& batch, const PagePool& pool, int32_t layer,
                    int32_t num_heads, const float* q, int64_t q_row_stride, float* out,
                    int64_t out_row_stride, float scale) {
  PagedAttention(batch, pool, layer, num_heads, q, q_row_stride, out, out_row_stride, scale,
                 AttentionOptions());
}

void PagedAttention(const AttentionBatch& batch, const PagePool& pool, int32_t layer,
                    int32_t num_heads, const float* q, int64_t q_row_stride, float* out,
                    int64_t out_row_stride, float scale, const AttentionOptions& options) {
  const PageGeometry& g = pool.geometry();
  const Problem pr{&batch,       num_heads, g.num_kv_heads, g.head_dim, q,
                   q_row_stride, out,       out_row_stride, scale};
  auto run = [&](auto format) {
    using Kv = decltype(format);
    Run(pr, options, [&](int32_t s, int32_t kv_head) {
      return PagedSource<Kv>(pool, batch.sequences[s].page_table, layer, kv_head);
    });
  };
  switch (g.kv_dtype) {
    case FloatDtype::kF32:
      return run(F32Kv());
    case FloatDtype::kBF16:
      return run(Bf16Kv());
    case FloatDtype::kF16:
      return run(F16Kv());
  }
}

void ContiguousAttention(const AttentionBatch& batch, absl::Span<const ContiguousKv> kv,
                         int32_t num_kv_heads, int32_t head_dim, int32_t num_heads, const float* q,
                         int64_t q_row_stride, float* out, int64_t out_row_stride, float scale,
                         const AttentionOptions& options) {
  const Problem pr{&batch,       num_heads, num_kv_heads,   head_dim, q,
                   q_row_stride, out,       out_row_stride, scale};
  const int64_t block_elements = int64_t{batch.page_size} * head_dim;
  Run(pr, options,
      [&](int32_t s, int32_t kv_head) { return ContiguousSource(kv[s], kv_head, block_elements); });
}

}  // namespace kvserve
