// PreallocatedKvCache: the K and V of one sequence and one layer in fixed buffers of max_seq_len
// positions, allocated once by Create() and never grown.
//
// Layout (inputs and outputs alike): [pos][kv_head][head_dim] floats, so positions [0, n) of K (or
// V) are one contiguous prefix of n * num_kv_heads * head_dim floats.
//
// Update semantics: Update(k, v, position) writes positions [position, position + L) and then the
// cache holds exactly length() == position + L tokens. Rewriting earlier positions is allowed and
// truncates: whatever was stored after position + L is dropped (as when a speculative or rejected
// suffix is replaced). An update with L = 0 therefore truncates to `position`.
//
// Invariants:
//   * 0 <= length() <= max_seq_len().
//   * Positions [0, length()) were all written since the last Reset(): no holes.
//   * Buffer addresses never change after Create() (Reset() and Update() do not reallocate), so a
//     view from Get() keeps pointing at the cache's memory, though a later Update may change what
//     the memory holds.
//
// Threads: not thread-safe; one thread owns a cache. Concurrent Get() calls without a concurrent
// Update() or Reset() are safe. Move-only; a moved-from cache may only be destroyed or assigned to.
#ifndef KVSERVE_ENGINE_LAB_PREALLOCATED_KV_CACHE_H_
#define KVSERVE_ENGINE_LAB_PREALLOCATED_KV_CACHE_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace kvserve {

// Read-only views of positions [0, num_tokens): [num_tokens][num_kv_heads][head_dim] floats each.
struct KvView {
  absl::Span<const float> key;
  absl::Span<const float> value;
  int64_t num_tokens = 0;
};

class PreallocatedKvCache {
 public:
  // Allocates both buffers (zero-filled). INVALID_ARGUMENT unless every size is > 0 and the buffer
  // size fits in int64; RESOURCE_EXHAUSTED if the allocation fails.
  static absl::StatusOr<PreallocatedKvCache> Create(int64_t max_seq_len, int64_t num_kv_heads,
                                                    int64_t head_dim);

  PreallocatedKvCache(PreallocatedKvCache&&) = default;
  PreallocatedKvCache& operator=(PreallocatedKvCache&&) = default;
  PreallocatedKvCache(const PreallocatedKvCache&) = delete;
  PreallocatedKvCache& operator=(const PreallocatedKvCache&) = delete;

  // Writes L = k.size() / (num_kv_heads * head_dim) positions starting at `position`; k and v are
  // [L][num_kv_heads][head_dim]. Afterwards length() == position + L (see the file comment).
  //   INVALID_ARGUMENT: k.size() != v.size(), or not a whole number of positions.
  //   OUT_OF_RANGE:     position < 0 or position + L > max_seq_len().
  //   INVALID_ARGUMENT: position > length() (would leave a hole).
  // On error nothing changes.
  absl::Status Update(absl::Span<const float> k, absl::Span<const float> v, int64_t position);

  // Views of positions [0, end). OUT_OF_RANGE unless 0 <= end <= length().
  absl::StatusOr<KvView> Get(int64_t end) const;

  // Forgets every token (length 0); keeps the buffers.
  void Reset() { length_ = 0; }

  int64_t length() const { return length_; }
  int64_t max_seq_len() const { return max_seq_len_; }
  int64_t num_kv_heads() const { return num_kv_heads_; }
  int64_t head_dim() const { return head_dim_; }
  // Floats per position: num_kv_heads * head_dim.
  int64_t position_floats() const { return num_kv_heads_ * head_dim_; }

 private:
  PreallocatedKvCache(int64_t max_seq_len, int64_t num_kv_heads, int64_t head_dim,
                      std::unique_ptr<float[]> key, std::unique_ptr<float[]> value);

  int64_t max_seq_len_;
  int64_t num_kv_heads_;
  int64_t head_dim_;
  int64_t length_ = 0;
  std::unique_ptr<float[]> key_;    // max_seq_len_ * position_floats()
  std::unique_ptr<float[]> value_;  // same
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_LAB_PREALLOCATED_KV_CACHE_H_
