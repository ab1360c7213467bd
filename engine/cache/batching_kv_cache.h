// BatchingKvCache: the KV memory of every live request, kept in PagePool pages.
//
// Each request has a page table (page ids in position order) and a length (tokens whose slots it
// owns). Token at position p lives in page_table[p / page_size], slot p % page_size.
//
// One engine step uses it like this (the scheduler thread does all of it):
//   1. Extend(id, n) for every request in the step: claims slots for n new tokens, allocating pages
//      and copying a shared last page on write. All-or-nothing: on RESOURCE_EXHAUSTED nothing
//      changed, and the scheduler may preempt someone and try again.
//   2. BuildBatch(chunks) describes the step for the attention kernels: per request its page table,
//      the positions of its new tokens and what each may see (the per-request mask), and which
//      logits rows the engine returns for it (a chunk's all_logits flag: one per new token).
//   3. Append(id, layer, positions, k, v) writes the new tokens' K/V, layer by layer.
//
// Prefix caching (optional, see prefix_cache.h): once a full page's K/V are written
// (CommitTokens), the page is registered under the hash of its tokens and all tokens before it.
// When its last holder leaves, it stays on the free list, registered, behind every other free page
// (so it is overwritten only when no other page is free, least recently freed first). A new request
// starts with MatchPrefix: it shares the longest run of registered pages that matches its tokens.
//
// Invariants:
//   * free_pages + Σ distinct pages held by requests == total_pages (pages are ref-counted, so a
//     page shared by a fork or a prefix counts once; free pages include cached ones).
//   * A registered page is never written: Extend copies it first if a request must write into it.
//   * A request never reads another request's slots: its page table holds only pages it allocated
//     or shares through Fork, and shared pages are never written (Extend copies them first).
//   * RemoveRequest returns every page the request holds.
//
// Threads: not thread-safe; owned by the scheduler thread. AttentionBatch views are valid until the
// next call that mutates the cache.
#ifndef KVSERVE_ENGINE_CACHE_BATCHING_KV_CACHE_H_
#define KVSERVE_ENGINE_CACHE_BATCHING_KV_CACHE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/cache/attention_batch.h"
#include "engine/cache/page_pool.h"
#include "engine/cache/prefix_cache.h"

namespace kvserve {

class BatchingKvCache {
 public:
  explicit BatchingKvCache(std::unique_ptr<PagePool> pool, bool enable_prefix_caching = false);

  // A new request with no tokens. ALREADY_EXISTS if the id is live.
  absl::Status AddRequest(RequestId id);
  // Drops the request and releases every page it holds. NOT_FOUND if unknown.
  absl::Status RemoveRequest(RequestId id);
  // Claims slots for `num_tokens` more tokens (see the file comment). RESOURCE_EXHAUSTED when the
  // pool lacks pages, OUT_OF_RANGE when the length would overflow int32; nothing changes on error.
  absl::Status Extend(RequestId id, int32_t num_tokens);
  // Pages Extend(id, num_tokens) would take from the pool (including a copy-on-write page).
  absl::StatusOr<int64_t> PagesNeeded(RequestId id, int32_t num_tokens) const;
  // Writes K/V of `layer` for the tokens at `positions` (each < Length(id)). `k` and `v` point at
  // positions.size() rows of num_kv_heads * head_dim floats, rows `row_stride` floats apart
  // (0 = packed). FAILED_PRECONDITION if a target page is shared (Extend copies shared pages).
  absl::Status Append(RequestId id, int32_t layer, absl::Span<const int32_t> positions,
                      const float* k, const float* v, int64_t row_stride = 0);
  // Prefix caching: for a request just added (length 0), shares the longest run of cached pages
  // whose tokens match the start of `tokens` and returns how many leading tokens are thereby
  // computed. At least one token is always left to compute (the last one's logits are needed):
  // when every page matches, the request's length stops one short of `tokens` and its last page is
  // copied on the next Extend. Returns 0 when prefix caching is off.
  absl::StatusOr<int32_t> MatchPrefix(RequestId id, absl::Span<const int32_t> tokens);
  // Prefix caching: `tokens` are the request's leading tokens whose K/V are now written (at most
  // its length); registers every page they fill that is not registered yet. No-op when off.
  absl::Status CommitTokens(RequestId id, absl::Span<const int32_t> tokens);

  // `child` starts as a copy of `parent`: same length, sharing all of parent's pages by ref count.
  absl::Status Fork(RequestId parent, RequestId child);
  // Describes a step over requests whose chunks were claimed by Extend. INVALID_ARGUMENT for an
  // unknown or repeated id, or a chunk longer than the request.
  absl::StatusOr<AttentionBatch> BuildBatch(absl::Span<const SequenceChunk> chunks) const;
  // As BuildBatch, into `*batch`, reusing its memory: no allocation once it has grown to the
  // largest batch (the scheduler's per-step form). On error `*batch` is unspecified.
  absl::Status BuildBatchInto(absl::Span<const SequenceChunk> chunks, AttentionBatch* batch) const;

  bool Contains(RequestId id) const { return sequences_.contains(id); }
  // Length and page table of a live request (0 / empty for unknown ids).
  int32_t Length(RequestId id) const;
  absl::Span<const PageId> PageTable(RequestId id) const;
  int64_t num_requests() const { return static_cast<int64_t>(sequences_.size()); }
  // Free pages that still hold a reusable prefix.
  int64_t cached_pages() const { return cached_free_pages_; }
  bool prefix_caching() const { return prefix_ != nullptr; }

  PagePool& pool() { return *pool_; }
  const PagePool& pool() const { return *pool_; }
  int32_t page_size() const { return pool_->geometry().page_size; }

 private:
  struct Sequence {
    std::vector<PageId> pages;
    int32_t length = 0;
    int32_t hashed_pages = 0;                     // leading pages whose chain hash is known
    uint64_t last_hash = PrefixCache::kRootHash;  // chain hash of page hashed_pages - 1
    mutable uint64_t batch_stamp = 0;             // the last BuildBatchInto call that included it
  };
  int64_t PagesFor(int32_t tokens) const {
    return (int64_t{tokens} + page_size() - 1) / page_size();
  }
  // True if the request may not write into `page` (shared, or holding a cached prefix).
  bool ReadOnly(PageId page) const;
  bool LastPageShared(const Sequence& seq) const;
  PageId AllocatePage();          // the pool must have a free page
  void ReleasePage(PageId page);  // one holder fewer; cached pages go to the back
  // NOT_FOUND "request <id> is not in the KV cache" if `id` was never added (or was removed).
  absl::StatusOr<Sequence*> Find(RequestId id);
  absl::StatusOr<const Sequence*> Find(RequestId id) const;

  std::unique_ptr<PagePool> pool_;
  std::unique_ptr<PrefixCache> prefix_;  // null when prefix caching is off
  int64_t cached_free_pages_ = 0;
  mutable uint64_t batch_stamp_ = 0;  // counts BuildBatchInto calls, to find repeated ids
  absl::flat_hash_map<RequestId, Sequence> sequences_;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_CACHE_BATCHING_KV_CACHE_H_
