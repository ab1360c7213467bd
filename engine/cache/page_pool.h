// PagePool: a fixed set of equally sized KV pages, allocated once, handed out from a free list.
//
// A page holds `page_size` token slots of K and V for every layer and KV head. Layout inside a page
// (elements): [layer][kv_head][K then V][slot][head_dim]. For one (layer, kv_head), a page's K
// block and V block are adjacent, so decode attention streams each page through memory exactly
// once. Elements are PageGeometry::kv_dtype: fp32, or bf16 / f16 (half the bytes per token, so
// twice the tokens per GiB; WriteSlot rounds to nearest even, the attention kernels widen).
//
// The free list is ordered: Allocate() takes from its front. A released page goes to the front
// (reused first) unless released with kReuseLast, which puts it at the back: the prefix cache
// releases pages that still hold a reusable prefix that way, so they are reused only when no other
// page is free, oldest first (LRU). Revive() takes such a page back out of the middle of the list.
//
// Invariants:
//   * free_pages() + used_pages() == total_pages(), always.
//   * A page is on the free list iff its ref count is 0.
//   * Allocate/AddRef/Release/Revive are O(1); memory is never grown after Create().
//   * Page memory is 64-byte aligned; a K or V block is a multiple of 64 bytes.
//
// Threads: not thread-safe. The scheduler thread owns the pool (through BatchingKvCache); attention
// kernels on oneDNN/OpenMP worker threads only read and write page memory inside one engine step.
#ifndef KVSERVE_ENGINE_CACHE_PAGE_POOL_H_
#define KVSERVE_ENGINE_CACHE_PAGE_POOL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/base/float_dtype.h"

namespace kvserve {

using PageId = int32_t;

struct PageGeometry {
  int32_t page_size = 16;  // token slots per page
  int32_t num_layers = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  FloatDtype kv_dtype = FloatDtype::kF32;  // how K and V are stored

  // Elements of one K (or V) block: one layer, one KV head, every slot.
  int64_t block_elements() const { return int64_t{page_size} * head_dim; }
  int64_t page_elements() const { return block_elements() * 2 * num_kv_heads * num_layers; }
  int64_t element_bytes() const { return FloatDtypeBytes(kv_dtype); }
  int64_t page_bytes() const { return page_elements() * element_bytes(); }
  absl::Status Validate() const;
};

class PagePool {
 public:
  // Allocates `num_pages` pages up front. Fails on bad geometry or num_pages <= 0.
  static absl::StatusOr<std::unique_ptr<PagePool>> Create(const PageGeometry& geometry,
                                                          int64_t num_pages);
  // How many pages fit in `bytes` of KV memory.
  static int64_t PagesForBytes(const PageGeometry& geometry, int64_t bytes);

  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;
  ~PagePool();

  // Takes a page off the free list with ref count 1. RESOURCE_EXHAUSTED when none is free.
  absl::StatusOr<PageId> Allocate();
  // Another holder of an allocated page.
  void AddRef(PageId page);
  enum class ReleaseOrder { kReuseFirst, kReuseLast };
  // Drops one holder; at zero the page returns to the free list, at its front or its back.
  void Release(PageId page, ReleaseOrder order = ReleaseOrder::kReuseFirst);
  // Takes a free page (ref count 0) off the free list with ref count 1, keeping its contents.
  // FAILED_PRECONDITION if the page is in use.
  absl::Status Revive(PageId page);
  int32_t RefCount(PageId page) const { return ref_counts_[page]; }
  // Copies all K/V of `src` into `dst` (copy-on-write).
  void CopyPage(PageId src, PageId dst);

  int64_t total_pages() const { return static_cast<int64_t>(ref_counts_.size()); }
  // Pages with a ref count above 1 (shared by forked or prefix-sharing sequences). O(1).
  int64_t shared_pages() const { return shared_pages_; }
  int64_t free_pages() const { return num_free_; }
  int64_t used_pages() const { return total_pages() - free_pages(); }
  const PageGeometry& geometry() const { return geometry_; }

  // Typed views of page memory: T must be the element type of the pool's kv_dtype (float for f32,
  // uint16_t for bf16 / f16 bit patterns).
  template <typename T = float>
  T* page_data(PageId page) {
    return reinterpret_cast<T*>(data_ + page * page_bytes_);
  }
  template <typename T = float>
  const T* page_data(PageId page) const {
    return reinterpret_cast<const T*>(data_ + page * page_bytes_);
  }
  // K block [page_size][head_dim] of one layer and KV head; the V block follows it directly.
  template <typename T = float>
  T* key_block(PageId page, int32_t layer, int32_t kv_head) {
    return page_data<T>(page) +
           (int64_t{layer} * geometry_.num_kv_heads + kv_head) * 2 * block_elements_;
  }
  template <typename T = float>
  const T* key_block(PageId page, int32_t layer, int32_t kv_head) const {
    return const_cast<PagePool*>(this)->key_block<T>(page, layer, kv_head);
  }
  template <typename T = float>
  T* value_block(PageId page, int32_t layer, int32_t kv_head) {
    return key_block<T>(page, layer, kv_head) + block_elements_;
  }
  template <typename T = float>
  const T* value_block(PageId page, int32_t layer, int32_t kv_head) const {
    return key_block<T>(page, layer, kv_head) + block_elements_;
  }

  // Stores one token's K and V (head_dim floats each) in `slot` of (page, layer, kv_head),
  // converted to kv_dtype (for f16, magnitudes beyond 65504 saturate to it instead of becoming
  // inf); reads them back widened to fp32 (exact).
  void WriteSlot(PageId page, int32_t layer, int32_t kv_head, int32_t slot, const float* k,
                 const float* v);
  void ReadSlot(PageId page, int32_t layer, int32_t kv_head, int32_t slot, float* k,
                float* v) const;

 private:
  PagePool(const PageGeometry& geometry, int64_t num_pages, char* data);

  PageGeometry geometry_;
  int64_t block_elements_;
  int64_t page_bytes_;
  char* data_;  // owned; num_pages * page_bytes_, 64-byte aligned
  void Unlink(PageId page);

  std::vector<int32_t> ref_counts_;  // per page
  int64_t shared_pages_ = 0;         // pages whose ref count is > 1
  // The free list: doubly linked through prev_/next_ (kNone ends it), front_ first to be reused.
  static constexpr PageId kNone = -1;
  std::vector<PageId> prev_;
  std::vector<PageId> next_;
  PageId front_ = kNone;
  PageId back_ = kNone;
  int64_t num_free_ = 0;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_CACHE_PAGE_POOL_H_
