// WeightMatrix: one [rows][cols] row-major parameter matrix stored in f32, bf16 or f16.
//
// 16-bit matrices stay 16-bit: the model runner computes on them in place (HalfLinear widens in
// registers), so a bf16 checkpoint occupies its file size in memory, not twice it in f32. The
// storage is either a vector of floats (f32) or of 16-bit patterns (bf16, f16), never both.
//
// Immutable once built and shared read-only between threads (it lives in ModelWeights).
#ifndef KVSERVE_ENGINE_MODEL_WEIGHT_MATRIX_H_
#define KVSERVE_ENGINE_MODEL_WEIGHT_MATRIX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/base/float_dtype.h"

namespace kvserve {

class WeightMatrix {
 public:
  WeightMatrix() = default;
  // Zero-filled.
  WeightMatrix(FloatDtype dtype, int64_t rows, int64_t cols);
  // Takes fp32 values (rows * cols of them, row-major).
  WeightMatrix(std::vector<float> values, int64_t rows, int64_t cols);

  FloatDtype dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t size() const { return rows_ * cols_; }
  bool empty() const { return size() == 0; }
  int64_t bytes() const { return size() * FloatDtypeBytes(dtype_); }

  // The storage: f32() is null unless dtype is f32, half() null unless it is bf16 or f16.
  float* f32() { return f32_.empty() ? nullptr : f32_.data(); }
  const float* f32() const { return f32_.empty() ? nullptr : f32_.data(); }
  uint16_t* half() { return half_.empty() ? nullptr : half_.data(); }
  const uint16_t* half() const { return half_.empty() ? nullptr : half_.data(); }

  // Element (r, c) / row r widened to fp32 (exact for every dtype).
  float At(int64_t r, int64_t c) const;
  void RowToF32(int64_t r, float* out) const;

  // This matrix in `dtype`, rounding to nearest even when narrowing (16-bit → the other 16-bit
  // dtype goes through fp32, which is exact on the way in). Converting to the same dtype copies.
  WeightMatrix ConvertedTo(FloatDtype dtype) const;

  friend bool operator==(const WeightMatrix& a, const WeightMatrix& b) {
    return a.dtype_ == b.dtype_ && a.rows_ == b.rows_ && a.cols_ == b.cols_ && a.f32_ == b.f32_ &&
           a.half_ == b.half_;
  }

 private:
  FloatDtype dtype_ = FloatDtype::kF32;
  int64_t rows_ = 0, cols_ = 0;
  std::vector<float> f32_;
  std::vector<uint16_t> half_;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_MODEL_WEIGHT_MATRIX_H_
