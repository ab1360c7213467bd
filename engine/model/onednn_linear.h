// OneDnnLinear: y[m][out] (+)= x[m][in] · Wᵀ (+ bias), one oneDNN matmul primitive per weight.
//
// The primitive is created once, with the row count M left to run time (DNNL_RUNTIME_DIM_VAL), so
// one primitive serves every step size; weights are reordered once into the layout oneDNN prefers.
// With `accumulate`, the product is added to y (a oneDNN sum post-op): the residual add is fused.
// With `bf16`, weights are stored in bfloat16 and each Run() rounds x to bfloat16 (nearest even)
// before the matmul; accumulation, bias and y stay fp32. On CPUs with AVX512-BF16 this roughly
// halves matmul time at the presets' shapes, at bfloat16's ~3 significant digits per product.
//
// Threads: Run() may be called from one thread at a time (the scheduler thread; it reuses a
// conversion buffer when bf16); oneDNN parallelizes inside it on the OpenMP pool.
#ifndef KVSERVE_ENGINE_MODEL_ONEDNN_LINEAR_H_
#define KVSERVE_ENGINE_MODEL_ONEDNN_LINEAR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace kvserve {

class OneDnnLinear {
 public:
  struct Options {
    bool accumulate = false;      // y += x·Wᵀ instead of y = x·Wᵀ
    const float* bias = nullptr;  // [out] or null; copied
    bool bf16 = false;            // bfloat16 weights and inputs, fp32 accumulation and output
  };
  // `weight` is [out][in] row-major (Hugging Face layout); it is copied (reordered), not kept.
  static absl::StatusOr<OneDnnLinear> Create(const dnnl::engine& engine, const float* weight,
                                             int64_t in, int64_t out, Options options);
  static absl::StatusOr<OneDnnLinear> Create(const dnnl::engine& engine, const float* weight,
                                             int64_t in, int64_t out) {
    return Create(engine, weight, in, out, Options{});
  }

  OneDnnLinear() = default;
  // x: m rows of `in` floats, packed; y: m rows of `out` floats, packed.
  void Run(dnnl::stream& stream, const float* x, int64_t m, float* y) const;

  int64_t in() const { return in_; }
  int64_t out() const { return out_; }
  bool bf16() const { return bf16_; }

 private:
  int64_t in_ = 0, out_ = 0;
  bool bf16_ = false;
  mutable std::vector<uint16_t> x_bf16_;  // Run()'s input rounded to bfloat16 (bf16 only)
  dnnl::engine engine_;
  dnnl::matmul primitive_;
  dnnl::memory weights_;  // in oneDNN's preferred layout, owned
  dnnl::memory bias_;     // empty when no bias
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_MODEL_ONEDNN_LINEAR_H_
