#include "engine/lab/preallocated_kv_cache.h"

#include <cstring>
#include <limits>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kvserve {

absl::StatusOr<PreallocatedKvCache> PreallocatedKvCache::Create(int64_t max_seq_len,
                                                                int64_t num_kv_heads,
                                                                int64_t head_dim) {
  if (max_seq_len <= 0 || num_kv_heads <= 0 || head_dim <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("preallocated KV cache needs positive sizes: max_seq_len=", max_seq_len,
                     " num_kv_heads=", num_kv_heads, " head_dim=", head_dim));
  }
  constexpr int64_t kMaxFloats = std::numeric_limits<int64_t>::max() / sizeof(float);
  if (num_kv_heads > kMaxFloats / head_dim ||
      max_seq_len > kMaxFloats / (num_kv_heads * head_dim)) {
    return absl::InvalidArgumentError(absl::StrCat("preallocated KV cache of ", max_seq_len, " x ",
                                                   num_kv_heads, " x ", head_dim,
                                                   " floats is too large"));
  }
  const int64_t floats = max_seq_len * num_kv_heads * head_dim;
  std::unique_ptr<float[]> key(new (std::nothrow) float[static_cast<size_t>(floats)]());
  std::unique_ptr<float[]> value(new (std::nothrow) float[static_cast<size_t>(floats)]());
  if (key == nullptr || value == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate 2 x ", floats, " floats for a preallocated KV cache"));
  }
  return PreallocatedKvCache(max_seq_len, num_kv_heads, head_dim, std::move(key), std::move(value));
}

PreallocatedKvCache::PreallocatedKvCache(int64_t max_seq_len, int64_t num_kv_heads,
                                         int64_t head_dim, std::unique_ptr<float[]> key,
                                         std::unique_ptr<float[]> value)
    : max_seq_len_(max_seq_len),
      num_kv_heads_(num_kv_heads),
      head_dim_(head_dim),
      key_(std::move(key)),
      value_(std::move(value)) {}

absl::Status PreallocatedKvCache::Update(absl::Span<const float> k, absl::Span<const float> v,
                                         int64_t position) {
  if (k.size() != v.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("key has ", k.size(), " floats but value has ", v.size()));
  }
  const int64_t row = position_floats();
  if (static_cast<int64_t>(k.size()) % row != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("update of ", k.size(), " floats is not a whole number of positions of ", row,
                     " floats (num_kv_heads ", num_kv_heads_, " x head_dim ", head_dim_, ")"));
  }
  const int64_t num_tokens = static_cast<int64_t>(k.size()) / row;
  // Written as a subtraction so that a huge position cannot overflow.
  if (position < 0 || position > max_seq_len_ - num_tokens) {
    return absl::OutOfRangeError(absl::StrCat("update of positions [", position, ", +", num_tokens,
                                              ") is outside [0, ", max_seq_len_, ")"));
  }
  if (position > length_) {
    return absl::InvalidArgumentError(absl::StrCat("update at position ", position,
                                                   " would leave a hole after length ", length_));
  }
  if (num_tokens > 0) {
    const size_t bytes = sizeof(float) * static_cast<size_t>(k.size());
    std::memcpy(key_.get() + position * row, k.data(), bytes);
    std::memcpy(value_.get() + position * row, v.data(), bytes);
  }
  length_ = position + num_tokens;
  return absl::OkStatus();
}

absl::StatusOr<KvView> PreallocatedKvCache::Get(int64_t end) const {
  if (end < 0 || end > length_) {
    return absl::OutOfRangeError(
        absl::StrCat("cannot read positions [0, ", end, ") of a cache holding ", length_));
  }
  const size_t floats = static_cast<size_t>(end * position_floats());
  return KvView{absl::MakeConstSpan(key_.get(), floats), absl::MakeConstSpan(value_.get(), floats),
                end};
}

}  // namespace kvserve
