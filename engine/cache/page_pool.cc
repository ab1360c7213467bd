#include "engine/cache/page_pool.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/base/half_float.h"

namespace kvserve {
namespace {

// f16 tops out at 65504: a larger K or V (a big qkv bias can make one) would become ±inf and turn
// its scores into inf or NaN, so it is clamped to the largest finite f16. NaN stays NaN.
float SaturateToHalfRange(float x) {
  constexpr float kMax = 65504.0f;
  if (x > kMax) return kMax;
  if (x < -kMax) return -kMax;
  return x;
}

}  // namespace

absl::Status PageGeometry::Validate() const {
  if (page_size <= 0 || num_layers <= 0 || num_kv_heads <= 0 || head_dim <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page geometry needs positive sizes: page_size=", page_size, " num_layers=", num_layers,
        " num_kv_heads=", num_kv_heads, " head_dim=", head_dim));
  }
  if (block_elements() * element_bytes() % 64 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size * head_dim must fill whole 64-byte lines (a multiple of ", 64 / element_bytes(),
        " ", FloatDtypeName(kv_dtype), " values), got ", block_elements()));
  }
  return absl::OkStatus();
}

int64_t PagePool::PagesForBytes(const PageGeometry& geometry, int64_t bytes) {
  if (geometry.page_bytes() <= 0) return 0;
  return bytes / geometry.page_bytes();
}

absl::StatusOr<std::unique_ptr<PagePool>> PagePool::Create(const PageGeometry& geometry,
                                                           int64_t num_pages) {
  if (absl::Status s = geometry.Validate(); !s.ok()) return s;
  if (num_pages <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("num_pages must be > 0, got ", num_pages));
  }
  if (num_pages > INT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("num_pages ", num_pages, " is over 2^31"));
  }
  const size_t bytes = static_cast<size_t>(num_pages) * geometry.page_bytes();
  void* data = std::aligned_alloc(64, bytes);  // page_bytes is a multiple of 64
  if (data == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", bytes, " bytes for ", num_pages, " KV pages"));
  }
  return std::unique_ptr<PagePool>(new PagePool(geometry, num_pages, static_cast<char*>(data)));
}

PagePool::PagePool(const PageGeometry& geometry, int64_t num_pages, char* data)
    : geometry_(geometry),
      block_elements_(geometry.block_elements()),
      page_bytes_(geometry.page_bytes()),
      data_(data),
      ref_counts_(num_pages, 0),
      prev_(num_pages, kNone),
      next_(num_pages, kNone) {
  // In id order, so a fresh pool hands out pages 0, 1, 2, ...
  for (int64_t p = num_pages - 1; p >= 0; --p) {
    ref_counts_[p] = 1;
    Release(static_cast<PageId>(p));
  }
}

PagePool::~PagePool() { std::free(data_); }

void PagePool::Unlink(PageId page) {
  const PageId prev = prev_[page];
  const PageId next = next_[page];
  (prev == kNone ? front_ : next_[prev]) = next;
  (next == kNone ? back_ : prev_[next]) = prev;
  prev_[page] = next_[page] = kNone;
  --num_free_;
}

absl::StatusOr<PageId> PagePool::Allocate() {
  if (front_ == kNone) {
    return absl::ResourceExhaustedError(
        absl::StrCat("KV page pool exhausted: all ", total_pages(), " pages in use"));
  }
  const PageId page = front_;
  Unlink(page);
  ref_counts_[page] = 1;
  return page;
}

absl::Status PagePool::Revive(PageId page) {
  if (page < 0 || page >= total_pages() || ref_counts_[page] != 0) {
    return absl::FailedPreconditionError(absl::StrCat("page ", page, " is not free"));
  }
  Unlink(page);
  ref_counts_[page] = 1;
  return absl::OkStatus();
}

void PagePool::AddRef(PageId page) {
  if (++ref_counts_[page] == 2) ++shared_pages_;
}

void PagePool::Release(PageId page, ReleaseOrder order) {
  const int32_t refs = --ref_counts_[page];
  if (refs == 1) --shared_pages_;
  if (refs != 0) return;
  if (order == ReleaseOrder::kReuseFirst) {
    next_[page] = front_;
    (front_ == kNone ? back_ : prev_[front_]) = page;
    front_ = page;
  } else {
    prev_[page] = back_;
    (back_ == kNone ? front_ : next_[back_]) = page;
    back_ = page;
  }
  ++num_free_;
}

void PagePool::CopyPage(PageId src, PageId dst) {
  std::memcpy(page_data<char>(dst), page_data<char>(src), geometry_.page_bytes());
}

void PagePool::WriteSlot(PageId page, int32_t layer, int32_t kv_head, int32_t slot, const float* k,
                         const float* v) {
  const int64_t d = geometry_.head_dim, offset = int64_t{slot} * d;
  switch (geometry_.kv_dtype) {
    case FloatDtype::kF32:
      std::memcpy(key_block(page, layer, kv_head) + offset, k, sizeof(float) * d);
      std::memcpy(value_block(page, layer, kv_head) + offset, v, sizeof(float) * d);
      return;
    case FloatDtype::kBF16:
    case FloatDtype::kF16: {
      const bool bf16 = geometry_.kv_dtype == FloatDtype::kBF16;
      uint16_t* kd = key_block<uint16_t>(page, layer, kv_head) + offset;
      uint16_t* vd = value_block<uint16_t>(page, layer, kv_head) + offset;
      for (int64_t x = 0; x < d; ++x) {
        kd[x] = bf16 ? FloatToBfloat16(k[x]) : FloatToHalf(SaturateToHalfRange(k[x]));
        vd[x] = bf16 ? FloatToBfloat16(v[x]) : FloatToHalf(SaturateToHalfRange(v[x]));
      }
      return;
    }
  }
}

void PagePool::ReadSlot(PageId page, int32_t layer, int32_t kv_head, int32_t slot, float* k,
                        float* v) const {
  const int64_t d = geometry_.head_dim, offset = int64_t{slot} * d;
  switch (geometry_.kv_dtype) {
    case FloatDtype::kF32:
      std::memcpy(k, key_block(page, layer, kv_head) + offset, sizeof(float) * d);
      std::memcpy(v, value_block(page, layer, kv_head) + offset, sizeof(float) * d);
      return;
    case FloatDtype::kBF16:
    case FloatDtype::kF16: {
      const bool bf16 = geometry_.kv_dtype == FloatDtype::kBF16;
      const uint16_t* ks = key_block<uint16_t>(page, layer, kv_head) + offset;
      const uint16_t* vs = value_block<uint16_t>(page, layer, kv_head) + offset;
      for (int64_t x = 0; x < d; ++x) {
        k[x] = bf16 ? Bfloat16ToFloat(ks[x]) : HalfToFloat(ks[x]);
        v[x] = bf16 ? Bfloat16ToFloat(vs[x]) : HalfToFloat(vs[x]);
      }
      return;
    }
  }
}

}  // namespace kvserve
