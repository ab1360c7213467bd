// PrefixCache: which KV pages hold a reusable prefix, found by the tokens that filled them.
//
// A full page is identified by a chain hash: Hash(parent_hash, its page_size tokens), where
// parent_hash is the chain hash of the page before it (kRootHash for a sequence's first page), so a
// page matches only if every token before it matches too. A registered page records its parent
// hash and its tokens, and Lookup verifies both, so a 64-bit hash collision cannot hand a request
// someone else's K/V.
//
// Lifetime of a registered page: BatchingKvCache registers a page once its tokens' K/V are written
// (it is never written again: a registered page is immutable, and a request that must write into
// one copies it first). When its last holder releases it, the page goes to the back of the pool's
// free list still registered ("cached"); a later request with the same prefix revives it, and when
// the pool hands it out as a fresh page (nothing else free), the cache forgets it (Forget).
//
// Invariants:
//   * Every hash in the map names exactly one page, and that page's entry holds the same hash.
//   * A page is registered under at most one hash.
//
// Threads: not thread-safe; owned by BatchingKvCache (the scheduler thread).
#ifndef KVSERVE_ENGINE_CACHE_PREFIX_CACHE_H_
#define KVSERVE_ENGINE_CACHE_PREFIX_CACHE_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "engine/cache/page_pool.h"

namespace kvserve {

class PrefixCache {
 public:
  static constexpr uint64_t kRootHash = 0x6b7673657276650aULL;  // the parent of a first page

  PrefixCache(int32_t page_size, int64_t num_pages);

  // The chain hash of a page holding `tokens` (page_size of them) after a page hashed `parent`.
  static uint64_t Hash(uint64_t parent, absl::Span<const int32_t> tokens);

  // The page registered for (parent, tokens), verified token by token; nullopt if none. `hash`
  // must be Hash(parent, tokens) (callers walking a chain need it anyway).
  std::optional<PageId> Lookup(uint64_t hash, uint64_t parent,
                               absl::Span<const int32_t> tokens) const;
  // Registers `page` as holding `tokens` after `parent`, under `hash` = Hash(parent, tokens).
  // Returns false (and changes nothing) if another page already holds that prefix or `page` is
  // registered already.
  bool Register(PageId page, uint64_t hash, uint64_t parent, absl::Span<const int32_t> tokens);
  // Unregisters `page` if it is registered (its contents are about to be overwritten).
  void Forget(PageId page);

  bool IsRegistered(PageId page) const { return entries_[page].registered; }
  int64_t num_registered() const { return static_cast<int64_t>(by_hash_.size()); }
  int32_t page_size() const { return page_size_; }

 private:
  struct Entry {
    bool registered = false;
    uint64_t hash = 0;
    uint64_t parent = 0;
  };
  absl::Span<const int32_t> TokensOf(PageId page) const {
    return absl::MakeConstSpan(tokens_.data() + int64_t{page} * page_size_, page_size_);
  }

  int32_t page_size_;
  std::vector<Entry> entries_;   // per page
  std::vector<int32_t> tokens_;  // per page, page_size_ tokens each
  absl::flat_hash_map<uint64_t, PageId> by_hash_;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_CACHE_PREFIX_CACHE_H_
