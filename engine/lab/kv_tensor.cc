#include "engine/lab/kv_tensor.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kvserve {

KvTensor::KvTensor(int64_t batch, int64_t heads, int64_t length, int64_t head_dim)
    : batch_(std::max<int64_t>(batch, 0)),
      heads_(std::max<int64_t>(heads, 0)),
      length_(std::max<int64_t>(length, 0)),
      head_dim_(std::max<int64_t>(head_dim, 0)),
      length_capacity_(length_),
      data_(static_cast<size_t>(batch_ * heads_ * length_ * head_dim_), 0.0f) {}

KvTensor KvTensor::Zeros(int64_t batch, int64_t heads, int64_t length, int64_t head_dim) {
  return KvTensor(batch, heads, length, head_dim);
}

absl::StatusOr<KvTensor> KvTensor::FromVector(int64_t batch, int64_t heads, int64_t length,
                                              int64_t head_dim, std::vector<float> values) {
  if (batch < 0 || heads < 0 || length < 0 || head_dim < 0) {
    return absl::InvalidArgumentError(absl::StrCat("KvTensor dims must be >= 0, got [", batch, ", ",
                                                   heads, ", ", length, ", ", head_dim, "]"));
  }
  const int64_t expected = batch * heads * length * head_dim;
  if (static_cast<int64_t>(values.size()) != expected) {
    return absl::InvalidArgumentError(absl::StrCat("KvTensor of shape [", batch, ", ", heads, ", ",
                                                   length, ", ", head_dim, "] needs ", expected,
                                                   " values, got ", values.size()));
  }
  KvTensor t;
  t.batch_ = batch;
  t.heads_ = heads;
  t.length_ = length;
  t.head_dim_ = head_dim;
  t.length_capacity_ = length;
  t.data_ = std::move(values);
  return t;
}

std::string KvTensor::ShapeString() const {
  return absl::StrCat("[", batch_, ", ", heads_, ", ", length_, ", ", head_dim_, "]");
}

std::vector<float> KvTensor::ToVector() const {
  if (length_capacity_ == length_) return data_;
  std::vector<float> out;
  out.reserve(static_cast<size_t>(num_elements()));
  for (int64_t b = 0; b < batch_; ++b) {
    for (int64_t h = 0; h < heads_; ++h) {
      absl::Span<const float> r = row(b, h);
      out.insert(out.end(), r.begin(), r.end());
    }
  }
  return out;
}

void KvTensor::ReserveLength(int64_t capacity) {
  if (capacity <= length_capacity_) return;
  std::vector<float> grown(static_cast<size_t>(batch_ * heads_ * capacity * head_dim_), 0.0f);
  const int64_t row_floats = length_ * head_dim_;
  for (int64_t bh = 0; bh < batch_ * heads_; ++bh) {
    if (row_floats == 0) break;
    std::memcpy(grown.data() + bh * capacity * head_dim_,
                data_.data() + bh * length_capacity_ * head_dim_, sizeof(float) * row_floats);
  }
  data_ = std::move(grown);
  length_capacity_ = capacity;
}

absl::Status KvTensor::AppendAlongLength(const KvTensor& other) {
  if (&other == this) {
    const KvTensor copy = other;
    return AppendAlongLength(copy);
  }
  if (absl::Status s = CheckSameBatchHeadsDim(*this, "tensor", other, "appended tensor"); !s.ok()) {
    return s;
  }
  if (other.length_ == 0) return absl::OkStatus();
  const int64_t needed = length_ + other.length_;
  if (needed > length_capacity_) ReserveLength(std::max(needed, 2 * length_capacity_));
  const int64_t add_floats = other.length_ * head_dim_;
  for (int64_t b = 0; b < batch_; ++b) {
    for (int64_t h = 0; h < heads_; ++h) {
      if (add_floats == 0) continue;
      std::memcpy(data_.data() + Index(b, h, length_, 0), other.row(b, h).data(),
                  sizeof(float) * add_floats);
    }
  }
  length_ = needed;
  return absl::OkStatus();
}

absl::Status CheckSameBatchHeadsDim(const KvTensor& a, absl::string_view a_name, const KvTensor& b,
                                    absl::string_view b_name) {
  struct Dim {
    const char* name;
    int64_t a, b;
  };
  for (const Dim& dim :
       {Dim{"B (batch)", a.batch(), b.batch()}, Dim{"H (heads)", a.heads(), b.heads()},
        Dim{"D (head_dim)", a.head_dim(), b.head_dim()}}) {
    if (dim.a != dim.b) {
      return absl::InvalidArgumentError(absl::StrCat(dim.name, " differs: ", a_name, " has ", dim.a,
                                                     ", ", b_name, " has ", dim.b));
    }
  }
  return absl::OkStatus();
}

}  // namespace kvserve
