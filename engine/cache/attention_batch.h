// AttentionBatch: what the attention kernels read about one engine step — the sequences in the
// batch, each one's chunk of new tokens, its page table and its mask (causal inside the chunk,
// nothing of any other request: ragged lengths across the batch) — and which logits rows the step
// returns (one per sequence, or one per new token for an all_logits sequence; StepEngine::Step).
// BatchingKvCache builds it (BuildBatchInto); the kernels (engine/model/paged_attention.h) read it
// together with the PagePool's memory and never see the cache manager.
//
// Invariants (of a built batch): sequences[i].token_offset = Σ_{j<i} q_len and
// sequences[i].logit_offset = Σ_{j<i} num_logit_rows(); total_tokens and num_logit_rows are the
// full sums.
//
// Threads: a plain value; the page tables are views into the cache, valid until the next call
// that mutates it.
#ifndef KVSERVE_ENGINE_CACHE_ATTENTION_BATCH_H_
#define KVSERVE_ENGINE_CACHE_ATTENTION_BATCH_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "engine/cache/page_pool.h"

namespace kvserve {

using RequestId = int64_t;

// One request's part of a step: `num_new_tokens` tokens already claimed with Extend.
struct SequenceChunk {
  RequestId id = 0;
  int32_t num_new_tokens = 0;
  // Logits after every new token (prompt logprobs), not only after the last one.
  bool all_logits = false;
};

// What the attention kernels need to know about one request in a step.
struct BatchSequence {
  RequestId id = 0;
  absl::Span<const PageId> page_table;  // covers positions [0, kv_len)
  int32_t q_start = 0;                  // position of the first new token
  int32_t q_len = 0;                    // new tokens in this step (1 for a decode)
  int32_t kv_len = 0;                   // q_start + q_len
  int32_t token_offset = 0;  // row of the first new token in the step's flattened token matrix
  bool all_logits = false;   // the engine returns q_len logits rows for it, else 1
  int32_t logit_offset = 0;  // its first row in the step's logits (rows in batch order)

  int32_t num_logit_rows() const { return all_logits ? q_len : 1; }

  // The per-request mask, causal inside the chunk: new token i (0-based) sees positions
  // [0, VisibleLength(i)) of this request and nothing of any other request.
  int32_t VisibleLength(int32_t i) const { return q_start + i + 1; }
  bool Visible(int32_t i, int32_t kv_pos) const { return kv_pos >= 0 && kv_pos < VisibleLength(i); }
};

struct AttentionBatch {
  int32_t page_size = 0;
  int32_t total_tokens = 0;    // Σ q_len
  int32_t num_logit_rows = 0;  // Σ num_logit_rows(): the rows of logits the step returns
  std::vector<BatchSequence> sequences;

  // Dense form of the mask for tests and debugging: for flattened token row t, the global slots
  // (page * page_size + slot) it may attend to, in position order.
  std::vector<int64_t> VisibleSlots(int32_t row) const;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_CACHE_ATTENTION_BATCH_H_
