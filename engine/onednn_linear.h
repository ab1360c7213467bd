// OneDnnLinear: y[m][out] (+)= x[m][in] · Wᵀ (+ bias), one oneDNN matmul primitive per weight.
//
// The primitive is created once, with the row count M left to run time (DNNL_RUNTIME_DIM_VAL), so
// one primitive serves every step size; weights are reordered once into the layout oneDNN prefers.
// With `accumulate`, the product is added to y (a oneDNN sum post-op): the residual add is fused.
//
// Threads: Run() may be called from one thread at a time per stream (the scheduler thread); oneDNN
// parallelizes inside it on the OpenMP pool.
#ifndef KVSERVE_ENGINE_ONEDNN_LINEAR_H_
#define KVSERVE_ENGINE_ONEDNN_LINEAR_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace kvserve {

class OneDnnLinear {
 public:
  struct Options {
    bool accumulate = false;       // y += x·Wᵀ instead of y = x·Wᵀ
    const float* bias = nullptr;   // [out] or null; copied
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

 private:
  int64_t in_ = 0, out_ = 0;
  dnnl::engine engine_;
  dnnl::matmul primitive_;
  dnnl::memory weights_;  // in oneDNN's preferred layout, owned
  dnnl::memory bias_;     // empty when no bias
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_ONEDNN_LINEAR_H_
