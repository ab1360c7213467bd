// KvTensor: a small owning tensor of floats with shape [B, H, L, D] (batch, heads, length,
// head_dim), the unit FullKvCache stores and hands back.
//
// Layout: row-major over [B][H][L][D], except that each (b, h) row of the L axis may be padded to
// length_capacity() >= length() positions, so element (b, h, l, d) lives at
//   ((b * H + h) * length_capacity() + l) * D + d.
// Tensors made by Zeros() or FromVector() are dense (length_capacity() == length()); only
// AppendAlongLength() leaves spare capacity, which is what makes repeated appends amortized O(1)
// per appended element. row(b, h) is always one contiguous [L][D] block.
//
// Invariants:
//   * All dims are >= 0 and length() <= length_capacity().
//   * The storage holds exactly B * H * length_capacity() * D floats; padding slots are 0.
//   * Elements are never reordered by an append: row(b, h) keeps its values (its address moves only
//     when the capacity grows).
//
// Threads: a value type with no internal synchronization. Concurrent const use is safe; any
// mutation needs exclusive access.
#ifndef KVSERVE_ENGINE_LAB_KV_TENSOR_H_
#define KVSERVE_ENGINE_LAB_KV_TENSOR_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace kvserve {

class KvTensor {
 public:
  // The empty tensor, shape [0, 0, 0, 0].
  KvTensor() = default;

  // A dense tensor of zeros. Negative dims are treated as 0.
  static KvTensor Zeros(int64_t batch, int64_t heads, int64_t length, int64_t head_dim);
  // A dense tensor holding `values` in row-major [B][H][L][D] order. INVALID_ARGUMENT for a
  // negative dim or when values.size() != B * H * L * D.
  static absl::StatusOr<KvTensor> FromVector(int64_t batch, int64_t heads, int64_t length,
                                             int64_t head_dim, std::vector<float> values);

  int64_t batch() const { return batch_; }
  int64_t heads() const { return heads_; }
  int64_t length() const { return length_; }
  int64_t head_dim() const { return head_dim_; }
  // Dim i of [B, H, L, D]; i must be in [0, 4).
  int64_t dim(int i) const { return shape()[i]; }
  std::array<int64_t, 4> shape() const { return {batch_, heads_, length_, head_dim_}; }
  int64_t num_elements() const { return batch_ * heads_ * length_ * head_dim_; }
  int64_t length_capacity() const { return length_capacity_; }
  bool empty() const { return num_elements() == 0; }
  bool SameShape(const KvTensor& other) const { return shape() == other.shape(); }
  // "[B, H, L, D]", for error messages.
  std::string ShapeString() const;

  // Element access; indices must be inside the shape (unchecked).
  float& at(int64_t b, int64_t h, int64_t l, int64_t d) { return data_[Index(b, h, l, d)]; }
  float at(int64_t b, int64_t h, int64_t l, int64_t d) const { return data_[Index(b, h, l, d)]; }

  // The [L][D] block of one (batch, head), contiguous; b and h must be inside the shape.
  absl::Span<const float> row(int64_t b, int64_t h) const {
    return absl::MakeConstSpan(data_.data() + Index(b, h, 0, 0), length_ * head_dim_);
  }
  absl::Span<float> mutable_row(int64_t b, int64_t h) {
    return absl::MakeSpan(data_.data() + Index(b, h, 0, 0), length_ * head_dim_);
  }

  // All elements in dense row-major [B][H][L][D] order (drops any padding).
  std::vector<float> ToVector() const;

  // Concatenates `other` after this tensor along L. INVALID_ARGUMENT, with nothing changed, when B,
  // H or D differ (the message names the dim and both values). Capacity at least doubles whenever
  // it must grow, so N appends of one position copy O(N) rows in total, not O(N^2).
  absl::Status AppendAlongLength(const KvTensor& other);
  // Makes room for `capacity` positions per row without changing the shape.
  void ReserveLength(int64_t capacity);

 private:
  KvTensor(int64_t batch, int64_t heads, int64_t length, int64_t head_dim);

  int64_t Index(int64_t b, int64_t h, int64_t l, int64_t d) const {
    return ((b * heads_ + h) * length_capacity_ + l) * head_dim_ + d;
  }

  int64_t batch_ = 0;
  int64_t heads_ = 0;
  int64_t length_ = 0;
  int64_t head_dim_ = 0;
  int64_t length_capacity_ = 0;
  std::vector<float> data_;  // batch_ * heads_ * length_capacity_ * head_dim_ floats
};

// OK when `a` and `b` agree on B, H and D. Otherwise INVALID_ARGUMENT naming the first differing
// dim and both values, e.g. "H (heads) differs: cache has 4, key has 2".
absl::Status CheckSameBatchHeadsDim(const KvTensor& a, absl::string_view a_name, const KvTensor& b,
                                    absl::string_view b_name);

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_LAB_KV_TENSOR_H_
