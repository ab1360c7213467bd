// HalfLinear: y[m][out] (+)= x[m][in] · Wᵀ (+ bias), with W a bf16 or f16 WeightMatrix ([out][in],
// Hugging Face layout) read in place: the 16-bit weights are the only copy in memory.
//
// Two paths, by the row count m of the call:
//   * m ≤ kDirectRows (decode): W is widened to fp32 in registers (AVX2: a shift and a mask per 16
//     bf16 weights, F16C's vcvtph2ps for f16) and multiplied with FMA against one row of x (8
//     weight rows at a time) or two (4 at a time), prefetching two blocks ahead; every weight is
//     read from memory once per call, which is what bounds decode. 12 rows: where the tiled path
//     starts to win on 2 AVX2 cores (2880×960: m = 8 direct 113 vs tiled 88 GFLOP/s, m = 16
//     107 vs 120).
//   * larger m (prefill, big decode batches): each thread widens a tile of kTileRows rows of W into
//     a thread-local fp32 buffer (L2-sized) and multiplies it with oneDNN's sgemm (dnnl_sgemm, run
//     single-threaded inside the OpenMP region), so the widening is amortized over m rows.
// Accumulation is fp32 in both paths. Output rows are split over the OpenMP pool.
//
// Opt-in (Options::bf16_compute_engine, kvserve --matmul_dtype bf16): with bf16 weights on a CPU
// with AVX512-BF16, the rows above kDirectRows run instead as one oneDNN bf16 matmul on the weights
// in place ("ba" layout, no copy), x rounded to bf16 (~3 significant digits per product): the
// fastest prefill there. Elsewhere, or if oneDNN cannot build that primitive, the option is
// ignored (uses_onednn_bf16() says which).
//
// Without AVX2/F16C/FMA at compile time the direct path is plain C++ (same results up to fp32
// summation order).
//
// Threads: Run() may be called from one thread at a time per object (the scheduler thread); it
// parallelizes inside on the OpenMP pool. The WeightMatrix must outlive the HalfLinear.
#ifndef KVSERVE_ENGINE_MODEL_HALF_LINEAR_H_
#define KVSERVE_ENGINE_MODEL_HALF_LINEAR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/weight_matrix.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace kvserve {

class HalfLinear {
 public:
  struct Options {
    bool accumulate = false;      // y += x·Wᵀ instead of y = x·Wᵀ
    const float* bias = nullptr;  // [out] or null; copied
    // Non-null: allow the oneDNN bf16 path above kDirectRows (see above) on this engine.
    const dnnl::engine* bf16_compute_engine = nullptr;
  };
  static constexpr int64_t kDirectRows = 12;
  static constexpr int64_t kTileRows = 64;

  // `weight` must be bf16 or f16 and is referenced, not copied.
  static absl::StatusOr<HalfLinear> Create(const WeightMatrix& weight, Options options);

  HalfLinear() = default;
  // x: m rows of `in` floats, packed; y: m rows of `out` floats, packed.
  void Run(const float* x, int64_t m, float* y) const;

  int64_t in() const { return in_; }
  int64_t out() const { return out_; }
  bool uses_onednn_bf16() const { return static_cast<bool>(bf16_matmul_); }

 private:
  void RunDirect(const float* x, int64_t m, float* y) const;
  void RunTiled(const float* x, int64_t m, float* y) const;
  void RunOneDnnBf16(const float* x, int64_t m, float* y) const;
  absl::Status CreateOneDnnBf16(const dnnl::engine& engine);

  const uint16_t* w_ = nullptr;
  int64_t in_ = 0, out_ = 0;
  bool bf16_ = false;
  bool accumulate_ = false;
  std::vector<float> bias_;  // empty when none
  // The oneDNN bf16 path (empty unless chosen at Create).
  dnnl::engine engine_;
  dnnl::matmul bf16_matmul_;
  mutable dnnl::stream bf16_stream_;
  dnnl::memory weights_;  // wraps w_ in place
  dnnl::memory bias_memory_;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_MODEL_HALF_LINEAR_H_
