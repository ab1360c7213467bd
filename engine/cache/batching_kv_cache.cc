#include "engine/cache/batching_kv_cache.h"

#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kvserve {

BatchingKvCache::BatchingKvCache(std::unique_ptr<PagePool> pool, bool enable_prefix_caching)
    : pool_(std::move(pool)) {
  if (enable_prefix_caching) {
    prefix_ = std::make_unique<PrefixCache>(page_size(), pool_->total_pages());
  }
}

absl::StatusOr<const BatchingKvCache::Sequence*> BatchingKvCache::Find(RequestId id) const {
  auto it = sequences_.find(id);
  if (it == sequences_.end()) {
    return absl::NotFoundError(absl::StrCat("request ", id, " is not in the KV cache"));
  }
  return &it->second;
}

absl::StatusOr<BatchingKvCache::Sequence*> BatchingKvCache::Find(RequestId id) {
  absl::StatusOr<const Sequence*> found = std::as_const(*this).Find(id);
  if (!found.ok()) return found.status();
  return const_cast<Sequence*>(*found);
}

PageId BatchingKvCache::AllocatePage() {
  const PageId page = *pool_->Allocate();
  if (prefix_ != nullptr && prefix_->IsRegistered(page)) {
    prefix_->Forget(page);  // the least recently freed cached page, evicted for a live request
    --cached_free_pages_;
  }
  return page;
}

void BatchingKvCache::ReleasePage(PageId page) {
  if (prefix_ != nullptr && prefix_->IsRegistered(page)) {
    pool_->Release(page, PagePool::ReleaseOrder::kReuseLast);
    if (pool_->RefCount(page) == 0) ++cached_free_pages_;
  } else {
    pool_->Release(page);
  }
}

bool BatchingKvCache::ReadOnly(PageId page) const {
  return pool_->RefCount(page) > 1 || (prefix_ != nullptr && prefix_->IsRegistered(page));
}

absl::Status BatchingKvCache::AddRequest(RequestId id) {
  if (!sequences_.try_emplace(id).second) {
    return absl::AlreadyExistsError(absl::StrCat("request ", id, " is already in the KV cache"));
  }
  return absl::OkStatus();
}

absl::Status BatchingKvCache::RemoveRequest(RequestId id) {
  absl::StatusOr<const Sequence*> found = std::as_const(*this).Find(id);
  if (!found.ok()) return found.status();
  // Last page first: with prefix caching, the deepest pages of a prefix are evicted first.
  const std::vector<PageId>& pages = (*found)->pages;
  for (auto page = pages.rbegin(); page != pages.rend(); ++page) ReleasePage(*page);
  sequences_.erase(id);
  return absl::OkStatus();
}

bool BatchingKvCache::LastPageShared(const Sequence& seq) const {
  return seq.length % page_size() != 0 && ReadOnly(seq.pages.back());
}

absl::StatusOr<int64_t> BatchingKvCache::PagesNeeded(RequestId id, int32_t num_tokens) const {
  absl::StatusOr<const Sequence*> found = Find(id);
  if (!found.ok()) return found.status();
  if (num_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot extend by ", num_tokens, " tokens"));
  }
  const Sequence& seq = **found;
  if (num_tokens > std::numeric_limits<int32_t>::max() - seq.length) {
    return absl::OutOfRangeError(absl::StrCat("request ", id, " of length ", seq.length,
                                              " cannot grow by ", num_tokens,
                                              " tokens: positions are int32"));
  }
  if (num_tokens == 0) return 0;
  return PagesFor(seq.length + num_tokens) - static_cast<int64_t>(seq.pages.size()) +
         (LastPageShared(seq) ? 1 : 0);
}

absl::Status BatchingKvCache::Extend(RequestId id, int32_t num_tokens) {
  absl::StatusOr<int64_t> needed = PagesNeeded(id, num_tokens);
  if (!needed.ok()) return needed.status();
  if (*needed > pool_->free_pages()) {
    return absl::ResourceExhaustedError(absl::StrCat("request ", id, " needs ", *needed,
                                                     " KV pages, ", pool_->free_pages(), " free"));
  }
  if (num_tokens == 0) return absl::OkStatus();
  Sequence& seq = sequences_.find(id)->second;
  // Enough pages are free, so none of the allocations below can fail.
  if (LastPageShared(seq)) {
    const PageId copy = AllocatePage();
    pool_->CopyPage(seq.pages.back(), copy);
    ReleasePage(seq.pages.back());
    seq.pages.back() = copy;
  }
  seq.length += num_tokens;
  while (static_cast<int64_t>(seq.pages.size()) < PagesFor(seq.length)) {
    seq.pages.push_back(AllocatePage());
  }
  return absl::OkStatus();
}

absl::Status BatchingKvCache::Append(RequestId id, int32_t layer,
                                     absl::Span<const int32_t> positions, const float* k,
                                     const float* v, int64_t row_stride) {
  absl::StatusOr<const Sequence*> found = std::as_const(*this).Find(id);
  if (!found.ok()) return found.status();
  const PageGeometry& g = pool_->geometry();
  if (layer < 0 || layer >= g.num_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("layer ", layer, " is outside [0, ", g.num_layers, ")"));
  }
  const Sequence& seq = **found;
  for (int32_t pos : positions) {
    if (pos < 0 || pos >= seq.length) {
      return absl::OutOfRangeError(absl::StrCat("position ", pos, " of request ", id,
                                                " is outside its claimed length ", seq.length,
                                                " (call Extend first)"));
    }
    if (ReadOnly(seq.pages[pos / g.page_size])) {
      return absl::FailedPreconditionError(
          absl::StrCat("position ", pos, " of request ", id,
                       " lies in a shared or cached page; only Extend may copy it"));
    }
  }
  const int64_t row = int64_t{g.num_kv_heads} * g.head_dim;
  if (row_stride == 0) row_stride = row;
  for (size_t i = 0; i < positions.size(); ++i) {
    const int32_t pos = positions[i];
    const PageId page = seq.pages[pos / g.page_size];
    for (int32_t h = 0; h < g.num_kv_heads; ++h) {
      pool_->WriteSlot(page, layer, h, pos % g.page_size, k + i * row_stride + h * g.head_dim,
                       v + i * row_stride + h * g.head_dim);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int32_t> BatchingKvCache::MatchPrefix(RequestId id,
                                                     absl::Span<const int32_t> tokens) {
  absl::StatusOr<Sequence*> found = Find(id);
  if (!found.ok()) return found.status();
  Sequence& seq = **found;
  if (seq.length != 0) {
    return absl::FailedPreconditionError(absl::StrCat("request ", id, " already holds ", seq.length,
                                                      " tokens; match prefixes first"));
  }
  if (prefix_ == nullptr || tokens.empty()) return 0;
  const int32_t ps = page_size();
  const int64_t full_pages = static_cast<int64_t>(tokens.size()) / ps;
  while (static_cast<int64_t>(seq.pages.size()) < full_pages) {
    const absl::Span<const int32_t> page_tokens = tokens.subspan(seq.pages.size() * ps, ps);
    const uint64_t hash = PrefixCache::Hash(seq.last_hash, page_tokens);
    const std::optional<PageId> page = prefix_->Lookup(hash, seq.last_hash, page_tokens);
    if (!page.has_value()) break;
    if (pool_->RefCount(*page) == 0) {
      if (absl::Status s = pool_->Revive(*page); !s.ok()) return s;
      --cached_free_pages_;
    } else {
      pool_->AddRef(*page);
    }
    seq.pages.push_back(*page);
    seq.last_hash = hash;
  }
  seq.hashed_pages = static_cast<int32_t>(seq.pages.size());
  seq.length = seq.hashed_pages * ps;
  if (seq.length == static_cast<int64_t>(tokens.size())) --seq.length;  // keep one to compute
  return seq.length;
}

absl::Status BatchingKvCache::CommitTokens(RequestId id, absl::Span<const int32_t> tokens) {
  absl::StatusOr<Sequence*> found = Find(id);
  if (!found.ok()) return found.status();
  Sequence& seq = **found;
  if (static_cast<int64_t>(tokens.size()) > seq.length) {
    return absl::OutOfRangeError(absl::StrCat("request ", id, " has ", seq.length,
                                              " tokens; cannot commit ", tokens.size()));
  }
  if (prefix_ == nullptr) return absl::OkStatus();
  const int32_t ps = page_size();
  while (int64_t{seq.hashed_pages + 1} * ps <= static_cast<int64_t>(tokens.size())) {
    const absl::Span<const int32_t> page_tokens =
        tokens.subspan(int64_t{seq.hashed_pages} * ps, ps);
    // If another page already holds this prefix (two requests computed it at once), this one
    // stays unregistered and is simply freed with its request.
    const uint64_t hash = PrefixCache::Hash(seq.last_hash, page_tokens);
    prefix_->Register(seq.pages[seq.hashed_pages], hash, seq.last_hash, page_tokens);
    seq.last_hash = hash;
    ++seq.hashed_pages;
  }
  return absl::OkStatus();
}

absl::Status BatchingKvCache::Fork(RequestId parent, RequestId child) {
  auto it = sequences_.find(parent);
  if (it == sequences_.end()) {
    return absl::NotFoundError(absl::StrCat("fork parent ", parent, " is not in the KV cache"));
  }
  if (sequences_.contains(child)) {
    return absl::AlreadyExistsError(
        absl::StrCat("fork child ", child, " is already in the KV cache"));
  }
  Sequence copy = it->second;  // copied before emplace: emplace may rehash and move `it`
  for (PageId page : copy.pages) pool_->AddRef(page);
  sequences_.emplace(child, std::move(copy));
  return absl::OkStatus();
}

absl::StatusOr<AttentionBatch> BatchingKvCache::BuildBatch(
    absl::Span<const SequenceChunk> chunks) const {
  AttentionBatch batch;
  if (absl::Status s = BuildBatchInto(chunks, &batch); !s.ok()) return s;
  return batch;
}

absl::Status BatchingKvCache::BuildBatchInto(absl::Span<const SequenceChunk> chunks,
                                             AttentionBatch* batch) const {
  batch->page_size = page_size();
  batch->total_tokens = 0;
  batch->num_logit_rows = 0;
  batch->sequences.clear();
  const uint64_t stamp = ++batch_stamp_;
  for (const SequenceChunk& chunk : chunks) {
    auto it = sequences_.find(chunk.id);
    if (it == sequences_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("request ", chunk.id, " is not in the KV cache"));
    }
    const Sequence& seq = it->second;
    if (seq.batch_stamp == stamp) {
      return absl::InvalidArgumentError(
          absl::StrCat("request ", chunk.id, " appears twice in a batch"));
    }
    seq.batch_stamp = stamp;
    if (chunk.num_new_tokens <= 0 || chunk.num_new_tokens > seq.length) {
      return absl::InvalidArgumentError(absl::StrCat("request ", chunk.id, " has a chunk of ",
                                                     chunk.num_new_tokens, " tokens but length ",
                                                     seq.length));
    }
    BatchSequence s;
    s.id = chunk.id;
    s.page_table = absl::MakeConstSpan(seq.pages);
    s.kv_len = seq.length;
    s.q_len = chunk.num_new_tokens;
    s.q_start = seq.length - chunk.num_new_tokens;
    s.token_offset = batch->total_tokens;
    s.all_logits = chunk.all_logits;
    s.logit_offset = batch->num_logit_rows;
    batch->total_tokens += s.q_len;
    batch->num_logit_rows += s.num_logit_rows();
    batch->sequences.push_back(s);
  }
  return absl::OkStatus();
}

int32_t BatchingKvCache::Length(RequestId id) const {
  auto it = sequences_.find(id);
  return it == sequences_.end() ? 0 : it->second.length;
}

absl::Span<const PageId> BatchingKvCache::PageTable(RequestId id) const {
  auto it = sequences_.find(id);
  if (it == sequences_.end()) return {};
  return absl::MakeConstSpan(it->second.pages);
}

}  // namespace kvserve
