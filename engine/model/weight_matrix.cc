#include "engine/model/weight_matrix.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/base/half_float.h"

namespace kvserve {

WeightMatrix::WeightMatrix(FloatDtype dtype, int64_t rows, int64_t cols)
    : dtype_(dtype), rows_(rows), cols_(cols) {
  if (dtype == FloatDtype::kF32) {
    f32_.assign(rows * cols, 0.0f);
  } else {
    half_.assign(rows * cols, 0);
  }
}

WeightMatrix::WeightMatrix(std::vector<float> values, int64_t rows, int64_t cols)
    : dtype_(FloatDtype::kF32), rows_(rows), cols_(cols), f32_(std::move(values)) {
  // A size mismatch is kept as is so that ModelWeights::Validate reports it with the tensor name.
  if (static_cast<int64_t>(f32_.size()) != rows * cols) rows_ = 0, cols_ = 0;
}

float WeightMatrix::At(int64_t r, int64_t c) const {
  const int64_t i = r * cols_ + c;
  switch (dtype_) {
    case FloatDtype::kF32:
      return f32_[i];
    case FloatDtype::kBF16:
      return Bfloat16ToFloat(half_[i]);
    case FloatDtype::kF16:
      return HalfToFloat(half_[i]);
  }
  return 0.0f;
}

void WeightMatrix::RowToF32(int64_t r, float* out) const {
  const int64_t begin = r * cols_;
  switch (dtype_) {
    case FloatDtype::kF32:
      std::copy_n(f32_.data() + begin, cols_, out);
      return;
    case FloatDtype::kBF16:
      for (int64_t c = 0; c < cols_; ++c) out[c] = Bfloat16ToFloat(half_[begin + c]);
      return;
    case FloatDtype::kF16:
      for (int64_t c = 0; c < cols_; ++c) out[c] = HalfToFloat(half_[begin + c]);
      return;
  }
}

WeightMatrix WeightMatrix::ConvertedTo(FloatDtype dtype) const {
  WeightMatrix out(dtype, rows_, cols_);
  const int64_t n = size();
#pragma omp parallel for schedule(static) if (n > (int64_t{1} << 20))
  for (int64_t i = 0; i < n; ++i) {
    const float v = At(i / cols_, i % cols_);
    switch (dtype) {
      case FloatDtype::kF32:
        out.f32_[i] = v;
        break;
      case FloatDtype::kBF16:
        out.half_[i] = FloatToBfloat16(v);
        break;
      case FloatDtype::kF16:
        out.half_[i] = FloatToHalf(v);
        break;
    }
  }
  return out;
}

}  // namespace kvserve
