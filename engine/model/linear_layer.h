// LinearLayer: one projection of the model, on whichever kernel suits its weights' dtype:
//   * f32 weights → OneDnnLinear (oneDNN matmul on a reordered copy; optionally bf16 compute);
//   * bf16 / f16 weights → HalfLinear (the 16-bit matrix read in place, no copy).
// Both compute y[m][out] (+)= x[m][in] · Wᵀ (+ bias) with fp32 accumulation.
//
// Threads: as the kernel it wraps (Run from one thread at a time; OpenMP inside).
#ifndef KVSERVE_ENGINE_MODEL_LINEAR_LAYER_H_
#define KVSERVE_ENGINE_MODEL_LINEAR_LAYER_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "engine/model/half_linear.h"
#include "engine/model/onednn_linear.h"
#include "engine/model/weight_matrix.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace kvserve {

class LinearLayer {
 public:
  struct Options {
    bool accumulate = false;
    const float* bias = nullptr;
    // f32 weights: OneDnnLinear::Options::bf16; bf16 weights: HalfLinear's oneDNN bf16 path for
    // prefill-sized calls where the CPU has AVX512-BF16 (else ignored); f16 weights: ignored.
    bool bf16_compute = false;
  };

  // `weight` ([out][in]) must outlive the layer when it is 16-bit (it is read in place).
  static absl::StatusOr<LinearLayer> Create(const dnnl::engine& engine, const WeightMatrix& weight,
                                            Options options) {
    LinearLayer layer;
    if (weight.dtype() == FloatDtype::kF32) {
      absl::StatusOr<OneDnnLinear> dense = OneDnnLinear::Create(
          engine, weight.f32(), weight.cols(), weight.rows(),
          {.accumulate = options.accumulate, .bias = options.bias, .bf16 = options.bf16_compute});
      if (!dense.ok()) return dense.status();
      layer.dense_ = *std::move(dense);
    } else {
      absl::StatusOr<HalfLinear> half = HalfLinear::Create(
          weight, {.accumulate = options.accumulate,
                   .bias = options.bias,
                   .bf16_compute_engine = options.bf16_compute ? &engine : nullptr});
      if (!half.ok()) return half.status();
      layer.half_ = *std::move(half);
      layer.is_half_ = true;
    }
    return layer;
  }

  LinearLayer() = default;
  // Which kernel runs prefill-sized calls: "oneDNN f32", "oneDNN bf16", "HalfLinear" or
  // "HalfLinear + oneDNN bf16".
  const char* kernel() const {
    if (!is_half_) return dense_.bf16() ? "oneDNN bf16" : "oneDNN f32";
    return half_.uses_onednn_bf16() ? "HalfLinear + oneDNN bf16" : "HalfLinear";
  }
  void Run(dnnl::stream& stream, const float* x, int64_t m, float* y) const {
    if (is_half_) {
      half_.Run(x, m, y);
    } else {
      dense_.Run(stream, x, m, y);
    }
  }

 private:
  bool is_half_ = false;
  OneDnnLinear dense_;
  HalfLinear half_;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_MODEL_LINEAR_LAYER_H_
