#include "engine/model/half_linear.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "engine/base/half_float.h"
#include "engine/base/half_simd.h"
#include "oneapi/dnnl/dnnl.h"

#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#include <immintrin.h>
#define KVSERVE_HALF_LINEAR_AVX2 1
#endif

namespace kvserve {
namespace {

template <bool kBf16>
inline float Widen(uint16_t bits) {
  return kBf16 ? Bfloat16ToFloat(bits) : HalfToFloat(bits);
}

#ifdef KVSERVE_HALF_LINEAR_AVX2
// Row j of the block of O rows kPrefetchBlocks blocks past `w`, at column k, into L1: the blocks
// are read as O concurrent streams, which the hardware prefetcher alone does not keep ahead of (a
// 49152×960 bf16 GEMV on 2 cores: 27 GB/s without, 36 GB/s with, pure reads ~42). Past the end of
// the matrix it is a no-op (prefetches never fault).
constexpr int64_t kPrefetchBlocks = 2;
template <int O>
inline void PrefetchAhead(const uint16_t* w, int64_t in, int j, int64_t k) {
  // The address may lie past the matrix: formed as an integer, never as an out-of-range pointer.
  const uintptr_t ahead =
      reinterpret_cast<uintptr_t>(w) +
      sizeof(uint16_t) * static_cast<uintptr_t>((kPrefetchBlocks * O + j) * in + k);
  _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
}

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#endif

// dots[r][j] = Σ_k W[j][k] · x[r][k] for O weight rows (starting at `w`, stride `in`) and R rows of
// x (stride `ldx`): every weight is widened once and used R times.
//
// bf16 on AVX2 reads 16 weights per row with one 256-bit load and widens them without a shuffle:
// in each 32-bit lane, `<< 16` gives the even-indexed weight and `& 0xFFFF0000` the odd one. `xp`
// is x with every 16-element block split the same way ([x0 x2 … x14 | x1 x3 … x15], see
// SplitEvenOdd), so the products pair up; the tail past the last full block reads x itself.
template <bool kBf16, int O, int R>
void DotBlock(const uint16_t* w, int64_t in, const float* x, const float* xp, int64_t ldx,
              float dots[R][O]) {
  int64_t k = 0;
#ifdef KVSERVE_HALF_LINEAR_AVX2
  __m256 acc[R][O];
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < O; ++j) acc[r][j] = _mm256_setzero_ps();
  }
  if constexpr (kBf16) {
    const __m256i high = _mm256_set1_epi32(static_cast<int32_t>(0xFFFF0000u));
    for (; k + 16 <= in; k += 16) {
      for (int j = 0; j < O; ++j) {
        if ((k & 31) == 0) PrefetchAhead<O>(w, in, j, k);
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j * in + k));
        const __m256 even = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        const __m256 odd = _mm256_castsi256_ps(_mm256_and_si256(v, high));
        for (int r = 0; r < R; ++r) {
          acc[r][j] = _mm256_fmadd_ps(even, _mm256_loadu_ps(xp + r * ldx + k), acc[r][j]);
          acc[r][j] = _mm256_fmadd_ps(odd, _mm256_loadu_ps(xp + r * ldx + k + 8), acc[r][j]);
        }
      }
    }
  }
  for (; k + 8 <= in; k += 8) {
    __m256 wv[O];
    for (int j = 0; j < O; ++j) {
      if ((k & 31) == 0) PrefetchAhead<O>(w, in, j, k);
      wv[j] = WidenHalf8<kBf16>(w + j * in + k);
    }
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_loadu_ps(x + r * ldx + k);
      for (int j = 0; j < O; ++j) acc[r][j] = _mm256_fmadd_ps(wv[j], xv, acc[r][j]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < O; ++j) dots[r][j] = HorizontalSum(acc[r][j]);
  }
#else
  (void)xp;
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < O; ++j) dots[r][j] = 0.0f;
  }
#endif
  for (; k < in; ++k) {
    for (int j = 0; j < O; ++j) {
      const float wk = Widen<kBf16>(w[j * in + k]);
      for (int r = 0; r < R; ++r) dots[r][j] += wk * x[r * ldx + k];
    }
  }
}

// `xp` = `x` (m rows of `in`) with each full 16-element block reordered even indices first, then
// odd (the lane order DotBlock's bf16 path widens weights in); the tail is copied as is.
void SplitEvenOdd(const float* x, int64_t m, int64_t in, float* xp) {
  for (int64_t r = 0; r < m; ++r) {
    const float* src = x + r * in;
    float* dst = xp + r * in;
    int64_t k = 0;
    for (; k + 16 <= in; k += 16) {
      for (int i = 0; i < 8; ++i) dst[k + i] = src[k + 2 * i], dst[k + 8 + i] = src[k + 2 * i + 1];
    }
    for (; k < in; ++k) dst[k] = src[k];
  }
}

// Output rows [o, o + O) for every row of x, R rows of x at a time.
template <bool kBf16, int O>
void OutputRows(const uint16_t* w, int64_t in, int64_t out, int64_t o, const float* x,
                const float* xp, int64_t m, const float* bias, bool accumulate, float* y) {
  auto store = [&](int64_t r, const float* dots) {
    float* yr = y + r * out + o;
    for (int j = 0; j < O; ++j) {
      const float v = dots[j] + (bias ? bias[o + j] : 0.0f);
      yr[j] = accumulate ? yr[j] + v : v;
    }
  };
  const uint16_t* rows = w + o * in;
  int64_t r = 0;
  for (; r + 2 <= m; r += 2) {
    float dots[2][O];
    DotBlock<kBf16, O, 2>(rows, in, x + r * in, xp + r * in, in, dots);
    store(r, dots[0]);
    store(r + 1, dots[1]);
  }
  if (r < m) {
    float dots[1][O];
    DotBlock<kBf16, O, 1>(rows, in, x + r * in, xp + r * in, in, dots);
    store(r, dots[0]);
  }
}

// O weight rows at a time: 8 for a single row of x (more independent FMA chains and memory
// streams in flight, which is what a bandwidth-bound GEMV needs), 4 when two rows of x share them.
template <bool kBf16, int O>
void Direct(const uint16_t* w, int64_t in, int64_t out, const float* x, const float* xp, int64_t m,
            const float* bias, bool accumulate, float* y) {
  const int64_t groups = out / O;
#pragma omp parallel for schedule(static)
  for (int64_t g = 0; g < groups; ++g) {
    OutputRows<kBf16, O>(w, in, out, O * g, x, xp, m, bias, accumulate, y);
  }
  for (int64_t o = O * groups; o < out; ++o) {
    OutputRows<kBf16, 1>(w, in, out, o, x, xp, m, bias, accumulate, y);
  }
}

template <bool kBf16>
void Direct(const uint16_t* w, int64_t in, int64_t out, const float* x, const float* xp, int64_t m,
            const float* bias, bool accumulate, float* y) {
  if (m == 1) {
    Direct<kBf16, 8>(w, in, out, x, xp, m, bias, accumulate, y);
  } else {
    Direct<kBf16, 4>(w, in, out, x, xp, m, bias, accumulate, y);
  }
}

// Rows [o, o + rows) of W widened to fp32 into `dst` (rows × in, packed).
template <bool kBf16>
void WidenRows(const uint16_t* w, int64_t in, int64_t o, int64_t rows, float* dst) {
  const uint16_t* src = w + o * in;
  const int64_t n = rows * in;
  int64_t i = 0;
#ifdef KVSERVE_HALF_LINEAR_AVX2
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, WidenHalf8<kBf16>(src + i));
#endif
  for (; i < n; ++i) dst[i] = Widen<kBf16>(src[i]);
}

// oneDNN's bf16 matmul is only fast with native bf16 dot products (AVX512-BF16, AMX); below that
// oneDNN 2.6 either has none (AVX2) or emulates it.
bool HasNativeBf16Matmul() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (isa & bf16) == bf16;
}

}  // namespace

absl::StatusOr<HalfLinear> HalfLinear::Create(const WeightMatrix& weight, Options options) {
  if (weight.dtype() == FloatDtype::kF32 || weight.half() == nullptr || weight.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HalfLinear needs a non-empty bf16 or f16 matrix, got ", FloatDtypeName(weight.dtype()),
        " [", weight.rows(), "][", weight.cols(), "]"));
  }
  HalfLinear layer;
  layer.w_ = weight.half();
  layer.out_ = weight.rows();
  layer.in_ = weight.cols();
  layer.bf16_ = weight.dtype() == FloatDtype::kBF16;
  layer.accumulate_ = options.accumulate;
  if (options.bias != nullptr) layer.bias_.assign(options.bias, options.bias + layer.out_);
  if (options.bf16_compute_engine != nullptr && layer.bf16_ && HasNativeBf16Matmul()) {
    // An opt-in speed-up only: if this oneDNN cannot build the primitive, the layer keeps its
    // exact fp32 path (uses_onednn_bf16() is false) rather than refusing the model.
    if (!layer.CreateOneDnnBf16(*options.bf16_compute_engine).ok()) {
      layer.bf16_matmul_ = dnnl::matmul();
    }
  }
  return layer;
}

absl::Status HalfLinear::CreateOneDnnBf16(const dnnl::engine& engine) {
  using dnnl::memory;
  try {
    const memory::dim runtime = DNNL_RUNTIME_DIM_VAL;
    memory::desc src_md({runtime, in_}, memory::data_type::bf16, memory::format_tag::ab);
    memory::desc dst_md({runtime, out_}, memory::data_type::f32, memory::format_tag::ab);
    // [out][in] row-major is the (K = in) × (N = out) matrix in "ba" order: used as it lies.
    memory::desc weights_md({in_, out_}, memory::data_type::bf16, memory::format_tag::ba);
    memory::desc bias_md =
        bias_.empty() ? memory::desc()
                      : memory::desc({1, out_}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::primitive_attr attr;
    if (accumulate_) {
      dnnl::post_ops ops;
      ops.append_sum(1.0f);
      attr.set_post_ops(ops);
    }
    dnnl::matmul::desc desc = bias_.empty()
                                  ? dnnl::matmul::desc(src_md, weights_md, dst_md)
                                  : dnnl::matmul::desc(src_md, weights_md, bias_md, dst_md);
    dnnl::matmul::primitive_desc pd(desc, attr, engine);
    engine_ = engine;
    bf16_stream_ = dnnl::stream(engine);  // created once, not per call
    bf16_matmul_ = dnnl::matmul(pd);
    weights_ = memory(weights_md, engine, const_cast<uint16_t*>(w_));
    if (!bias_.empty()) {  // its own copy: a copied HalfLinear must not point into this one
      bias_memory_ = memory(bias_md, engine);
      std::memcpy(bias_memory_.get_data_handle(), bias_.data(), sizeof(float) * out_);
    }
    return absl::OkStatus();
  } catch (const dnnl::error& e) {
    return absl::InternalError(
        absl::StrCat("oneDNN bf16 matmul ", in_, "x", out_, " on bf16 weights: ", e.what()));
  }
}

void HalfLinear::RunOneDnnBf16(const float* x, int64_t m, float* y) const {
  using dnnl::memory;
  thread_local std::vector<uint16_t> x_bf16;
  const int64_t n = m * in_;
  if (static_cast<int64_t>(x_bf16.size()) < n) x_bf16.resize(n);
  uint16_t* rounded = x_bf16.data();
#pragma omp parallel for schedule(static) if (n > (int64_t{1} << 16))
  for (int64_t i = 0; i < n; ++i) rounded[i] = FloatToBfloat16(x[i]);
  memory src({{m, in_}, memory::data_type::bf16, memory::format_tag::ab}, engine_, rounded);
  memory dst({{m, out_}, memory::data_type::f32, memory::format_tag::ab}, engine_, y);
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst}};
  if (bias_memory_) args.emplace(DNNL_ARG_BIAS, bias_memory_);
  bf16_matmul_.execute(bf16_stream_, args);
  bf16_stream_.wait();
}

void HalfLinear::Run(const float* x, int64_t m, float* y) const {
  if (m <= 0) return;
  if (m <= kDirectRows) {
    RunDirect(x, m, y);
  } else if (bf16_matmul_) {
    RunOneDnnBf16(x, m, y);
  } else {
    RunTiled(x, m, y);
  }
}

void HalfLinear::RunDirect(const float* x, int64_t m, float* y) const {
  const float* bias = bias_.empty() ? nullptr : bias_.data();
  if (bf16_) {
    // x split even/odd for the shuffle-free widening (m ≤ kDirectRows rows: a few KiB).
    thread_local std::vector<float> xp;
    if (static_cast<int64_t>(xp.size()) < m * in_) xp.resize(m * in_);
    SplitEvenOdd(x, m, in_, xp.data());
    Direct<true>(w_, in_, out_, x, xp.data(), m, bias, accumulate_, y);
  } else {
    Direct<false>(w_, in_, out_, x, x, m, bias, accumulate_, y);
  }
}

void HalfLinear::RunTiled(const float* x, int64_t m, float* y) const {
  const int64_t tiles = (out_ + kTileRows - 1) / kTileRows;
  const float* bias = bias_.empty() ? nullptr : bias_.data();
#pragma omp parallel
  {
    // One fp32 tile buffer per OpenMP thread, grown once and kept (no allocation per step).
    thread_local std::vector<float> tile;
    if (static_cast<int64_t>(tile.size()) < kTileRows * in_) tile.resize(kTileRows * in_);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t o = t * kTileRows;
      const int64_t rows = std::min(kTileRows, out_ - o);
      if (bf16_) {
        WidenRows<true>(w_, in_, o, rows, tile.data());
      } else {
        WidenRows<false>(w_, in_, o, rows, tile.data());
      }
      // y[:, o:o+rows] (+)= x · tileᵀ (row-major; oneDNN runs it on this thread alone).
      dnnl_sgemm('N', 'T', m, rows, in_, 1.0f, x, in_, tile.data(), in_, accumulate_ ? 1.0f : 0.0f,
                 y + o, out_);
      if (bias != nullptr) {
        for (int64_t r = 0; r < m; ++r) {
          float* yr = y + r * out_ + o;
          for (int64_t j = 0; j < rows; ++j) yr[j] += bias[o + j];
        }
      }
    }
  }
}

}  // namespace kvserve
