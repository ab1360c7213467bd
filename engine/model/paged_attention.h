// PagedAttention: causal multi-head attention of one engine step, reading K/V straight from the
// PagePool pages of each request (no gather into a contiguous copy).
//
// Promises:
//   * Row t of `out` (flattened token t of the step, ordered as batch.sequences / token_offset)
//     holds, for every query head h, softmax(scale * q_h · K^T) · V over exactly the positions
//     [0, VisibleLength(i)) of that token's own request, where K/V are (layer, h / group) of the
//     request's pages, group = num_heads / num_kv_heads (GQA; MHA and MQA are the edge cases).
//   * Nothing else is read: no slot of another request, no slot at or past a token's visible length
//     (NaN there does not reach the output; only cache-line prefetches may touch the rest of a
//     page). Only `out` rows of the batch are written, and within a row only the
//     num_heads * head_dim floats of the heads.
//   * fp32 throughout with online softmax (running max/sum per query row), so a row's result does
//     not depend on batch composition or thread count except through the K/V partition split below.
//   * Decode streams each page's K block and V block once per (sequence, kv head) and serves every
//     query head of the group (and a tile of prefill tokens) from that one read.
//   * No heap allocation per call once the per-thread scratch has grown to the largest shape seen.
//
// Work split: items are (sequence × kv head × tile of up to 16 query rows). When there are fewer
// items than 2 × OpenMP threads, long contexts are also split into KV partitions whose partial
// softmax results are merged afterwards (flash-decoding).
//
// Threads: called by the engine-step thread, one call at a time per output buffer; the call runs an
// OpenMP parallel region (omp_get_max_threads() workers) and returns when it is done. The pool and
// batch are only read, so concurrent calls on the same pool with different outputs are safe.
#ifndef KVSERVE_ENGINE_MODEL_PAGED_ATTENTION_H_
#define KVSERVE_ENGINE_MODEL_PAGED_ATTENTION_H_

#include <cstdint>

#include "absl/types/span.h"
#include "engine/cache/attention_batch.h"
#include "engine/cache/page_pool.h"

namespace kvserve {

// Tuning knobs; the defaults are what the engine uses.
struct AttentionOptions {
  // KV partitions per (sequence, kv head, query tile). 0 = automatic (split only when there are
  // fewer work items than 2 × threads, partitions of at least 256 tokens). Partitions are page
  // aligned and capped at one per page.
  int32_t kv_partitions = 0;
};

// Attention of every new token in `batch` over layer `layer` of `pool`.
// `q`: batch.total_tokens rows, `q_row_stride` floats apart, each num_heads * head_dim floats with
// head h at h * head_dim (RoPE already applied). `out`: same layout, `out_row_stride` floats apart;
// it must not overlap `q`. `scale` multiplies q·k (usually 1/sqrt(head_dim)). Preconditions (not
// checked in Release builds): num_heads is a positive multiple of the pool's num_kv_heads, 0 <=
// layer < num_layers, and every page table covers its sequence's kv_len.
void PagedAttention(const AttentionBatch& batch, const PagePool& pool, int32_t layer,
                    int32_t num_heads, const float* q, int64_t q_row_stride, float* out,
                    int64_t out_row_stride, float scale);
void PagedAttention(const AttentionBatch& batch, const PagePool& pool, int32_t layer,
                    int32_t num_heads, const float* q, int64_t q_row_stride, float* out,
                    int64_t out_row_stride, float scale, const AttentionOptions& options);

// K/V of one sequence in contiguous form: for kv head g, key of position p at
// keys[g * head_stride + p * head_dim] and its value at values[g * head_stride + p * head_dim].
struct ContiguousKv {
  const float* keys = nullptr;
  const float* values = nullptr;
  int64_t head_stride = 0;  // floats between consecutive kv heads
};

// The same kernel and the same arithmetic as PagedAttention, but K/V come from `kv[s]` for
// batch.sequences[s] (page tables are ignored; batch.page_size still sets the block size, so the
// two produce bit-identical outputs for identical data). For benchmarks and tests.
void ContiguousAttention(const AttentionBatch& batch, absl::Span<const ContiguousKv> kv,
                         int32_t num_kv_heads, int32_t head_dim, int32_t num_heads, const float* q,
                         int64_t q_row_stride, float* out, int64_t out_row_stride, float scale,
                         const AttentionOptions& options = {});

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_MODEL_PAGED_ATTENTION_H_
