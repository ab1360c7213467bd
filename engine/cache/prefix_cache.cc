#include "engine/cache/prefix_cache.h"

#include <algorithm>

#include "engine/base/split_mix.h"

namespace kvserve {

PrefixCache::PrefixCache(int32_t page_size, int64_t num_pages)
    : page_size_(page_size), entries_(num_pages), tokens_(num_pages * page_size) {
  by_hash_.reserve(num_pages);
}

uint64_t PrefixCache::Hash(uint64_t parent, absl::Span<const int32_t> tokens) {
  uint64_t h = SplitMix64(parent ^ tokens.size());
  for (int32_t token : tokens) h = SplitMix64(h ^ static_cast<uint32_t>(token));
  return h;
}

std::optional<PageId> PrefixCache::Lookup(uint64_t hash, uint64_t parent,
                                          absl::Span<const int32_t> tokens) const {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  const PageId page = it->second;
  if (entries_[page].parent != parent ||
      !std::equal(tokens.begin(), tokens.end(), TokensOf(page).begin(), TokensOf(page).end())) {
    return std::nullopt;  // a hash collision
  }
  return page;
}

bool PrefixCache::Register(PageId page, uint64_t hash, uint64_t parent,
                           absl::Span<const int32_t> tokens) {
  Entry& entry = entries_[page];
  if (entry.registered || static_cast<int32_t>(tokens.size()) != page_size_) return false;
  if (!by_hash_.try_emplace(hash, page).second) return false;
  entry = Entry{.registered = true, .hash = hash, .parent = parent};
  std::copy(tokens.begin(), tokens.end(), tokens_.begin() + int64_t{page} * page_size_);
  return true;
}

void PrefixCache::Forget(PageId page) {
  Entry& entry = entries_[page];
  if (!entry.registered) return;
  by_hash_.erase(entry.hash);
  entry.registered = false;
}

}  // namespace kvserve
