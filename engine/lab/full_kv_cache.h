// FullKvCache: the concatenating KV cache of the project's origins (TinyKvFullCache). Every update
// appends its keys and values along the L axis and gets back everything stored so far.
//
// Shapes: keys and values are KvTensors [B, H, L, D]. The first successful UpdateAndFetch after
// construction or Reset() defines B, H and D (each must be > 0), even when its L is 0: the cache
// then holds [B, H, 0, D] tensors and returns them. Later updates must match B, H and D.
//
// Invariants:
//   * key() and value() always have the same shape; their L is offset(), the tokens stored.
//   * A failed update changes nothing (shape checks run before any write).
//   * An update with L = 0 on a cache that already has a shape changes nothing and returns the
//     stored tensors.
//   * Appends are amortized: each (b, h) row keeps spare capacity that at least doubles when it
//     runs out, so N single-token updates copy O(N * B * H * D) floats in total, not O(N^2 ...).
//
// Threads: not thread-safe; one thread (the one running the model step) owns a cache. KvFetch
// refers to the cache's own tensors, so it sees later updates; spans or element addresses taken
// from them are invalidated by the next update that grows capacity, and by Reset().
#ifndef KVSERVE_ENGINE_LAB_FULL_KV_CACHE_H_
#define KVSERVE_ENGINE_LAB_FULL_KV_CACHE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/lab/kv_tensor.h"

namespace kvserve {

// All keys and values stored so far, both [B, H, offset(), D]; owned by the cache.
struct KvFetch {
  const KvTensor& key;
  const KvTensor& value;
};

class FullKvCache {
 public:
  FullKvCache() = default;
  FullKvCache(const FullKvCache&) = delete;
  FullKvCache& operator=(const FullKvCache&) = delete;
  FullKvCache(FullKvCache&&) = default;
  FullKvCache& operator=(FullKvCache&&) = default;

  // Appends `key` and `value` (same shape [B, H, L, D]) along L and returns all keys and values so
  // far. INVALID_ARGUMENT, with the cache unchanged, when key and value shapes differ, when B, H or
  // D is 0 on the first update, or when B, H or D differ from the stored ones (the message names
  // the dim and both values).
  absl::StatusOr<KvFetch> UpdateAndFetch(const KvTensor& key, const KvTensor& value);

  // Drops every token and forgets B, H and D.
  void Reset();

  // Tokens stored (the L of key() and value()).
  int64_t offset() const { return key_.length(); }
  // Whether an update has fixed B, H and D since construction or Reset().
  bool has_shape() const { return has_shape_; }
  const KvTensor& key() const { return key_; }
  const KvTensor& value() const { return value_; }

 private:
  bool has_shape_ = false;
  KvTensor key_;
  KvTensor value_;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_LAB_FULL_KV_CACHE_H_
