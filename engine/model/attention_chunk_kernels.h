// The chunk kernels of paged attention: fold one chunk of up to kChunk keys into the running
// (online) softmax state of a few query rows. paged_attention.cc tiles the work and calls them;
// they know nothing of pages.
//
//   q:      rows × d, pre-multiplied by scale * log2(e) (scores live in the log2 domain)
//   k, v:   n rows of d elements of the KV format Kv (F32Kv, Bf16Kv, F16Kv), widened on load
//   valid:  per row, how many of the chunk's keys it may see (a prefix, 0..n)
//   acc:    rows × d unnormalised output, m: running max (log2 domain), l: running sum as kChunk
//           lanes per row (the portable kernel uses lane 0 only; the sum of the lanes is the
//           row's softmax denominator)
//   p:      rows × kChunk scratch (64-byte aligned, like q and acc)
// Three implementations, chosen at compile time and by head_dim (see paged_attention.cc):
// AVX-512 (head_dim 16·kC), AVX2 + FMA (head_dim 8·kC8) and a portable one for any head_dim.
// Keys past a row's visible prefix are never read.
//
// Threads: pure functions on their arguments.
#ifndef KVSERVE_ENGINE_MODEL_ATTENTION_CHUNK_KERNELS_H_
#define KVSERVE_ENGINE_MODEL_ATTENTION_CHUNK_KERNELS_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "engine/base/half_float.h"
#include "engine/base/half_simd.h"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__) && defined(__F16C__))
#include <immintrin.h>
#endif
#if defined(__AVX512F__)
// GCC 12's AVX-512 intrinsics (unpack, extract, ...) pass _mm512_undefined_ps() as the masked-off
// source, which -Wmaybe-uninitialized reports once inlined. The value is never used.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace kvserve::attention {

// Keys per online-softmax update: one 16-lane vector of scores.
constexpr int32_t kChunk = 16;

// The KV element formats (PageGeometry::kv_dtype): the type stored and its exact widening.
struct F32Kv {
  using T = float;
  static float Get(const T* p, int64_t i) { return p[i]; }
};
struct Bf16Kv {
  using T = uint16_t;
  static float Get(const T* p, int64_t i) { return Bfloat16ToFloat(p[i]); }
};
struct F16Kv {
  using T = uint16_t;
  static float Get(const T* p, int64_t i) { return HalfToFloat(p[i]); }
};
constexpr float kLog2e = 1.44269504088896340736f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// Cephes exp2f: 2^f ≈ Σ kExp2Poly[i] f^(6-i) on [-0.5, 0.5] (Horner order), relative error ~2e-7.
constexpr float kExp2Poly[] = {1.535336188319500e-4f,
                               1.339887440266574e-3f,
                               9.618437357674640e-3f,
                               5.550332471162809e-2f,
                               2.402264791363012e-1f,
                               6.931472028550421e-1f,
                               1.0f};

// Portable fallback for any head_dim; inner loops over d vectorize.
template <class Kv>
inline void ChunkGeneric(int32_t rows, int32_t d, const float* q, const typename Kv::T* k,
                         const typename Kv::T* v, const int32_t* valid, float* acc, float* m,
                         float* l) {
  for (int32_t r = 0; r < rows; ++r) {
    const int32_t nv = valid[r];
    if (nv <= 0) continue;
    const float* qr = q + int64_t{r} * d;
    float s[kChunk];
    float cmax = kNegInf;
    for (int32_t j = 0; j < nv; ++j) {
      const typename Kv::T* kj = k + int64_t{j} * d;
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (int32_t x = 0; x < d; ++x) dot += qr[x] * Kv::Get(kj, x);
      s[j] = dot;
      cmax = std::max(cmax, dot);
    }
    float* ar = acc + int64_t{r} * d;
    if (cmax > m[r]) {
      const float alpha = std::exp2(m[r] - cmax);
      m[r] = cmax;
      l[r * kChunk] *= alpha;
      for (int32_t x = 0; x < d; ++x) ar[x] *= alpha;
    }
    float sum = 0.0f;
    for (int32_t j = 0; j < nv; ++j) {
      s[j] = std::exp2(s[j] - m[r]);
      sum += s[j];
    }
    l[r * kChunk] += sum;
    for (int32_t j = 0; j < nv; ++j) {
      for (int32_t x = 0; x < d; ++x) ar[x] += s[j] * Kv::Get(v, int64_t{j} * d + x);
    }
  }
}

#if defined(__AVX512F__)

// 16 KV elements from `p`, widened to fp32.
template <class Kv>
inline __m512 Load16(const typename Kv::T* p) {
  if constexpr (std::is_same_v<Kv, F32Kv>) {
    return _mm512_loadu_ps(p);
  } else {
    return WidenHalf16<std::is_same_v<Kv, Bf16Kv>>(p);
  }
}

// 2^x for x <= 0 (and -inf), relative error ~2e-7: Cephes exp2f polynomial on [-0.5, 0.5] and
// scalef for the exponent. NaN stays NaN (maxps returns its second operand for NaN), so a NaN score
// poisons the row as it would in exact arithmetic instead of silently weighing 0.
inline __m512 Exp2Avx512(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-127.0f), x);
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(x, n);
  __m512 p = _mm512_set1_ps(kExp2Poly[0]);
  for (int i = 1; i < 7; ++i) p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2Poly[i]));
  return _mm512_scalef_ps(p, n);
}

// Horizontal max, every lane holding the result.
inline __m512 AllLanesMax(__m512 x) {
  x = _mm512_max_ps(x, _mm512_shuffle_f32x4(x, x, _MM_SHUFFLE(1, 0, 3, 2)));
  x = _mm512_max_ps(x, _mm512_shuffle_f32x4(x, x, _MM_SHUFFLE(2, 3, 0, 1)));
  x = _mm512_max_ps(x, _mm512_permute_ps(x, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm512_max_ps(x, _mm512_permute_ps(x, _MM_SHUFFLE(2, 3, 0, 1)));
}

// Per 128-bit lane: [Σa, Σb, Σc, Σd] over that lane's four elements.
inline __m512 LaneSums4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  return _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                       _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
}

// Given LaneSums4 of keys 0-3, 4-7, 8-11, 12-15: lane j of the result is the full horizontal sum of
// key j's vector. Together 45 shuffles/adds for 16 dot products instead of 16 separate reductions.
inline __m512 CombineLaneSums(__m512 u0, __m512 u1, __m512 u2, __m512 u3) {
  const __m512 w01 = _mm512_add_ps(_mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512 w23 = _mm512_add_ps(_mm512_shuffle_f32x4(u2, u3, _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_f32x4(u2, u3, _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(w01, w23, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(w01, w23, _MM_SHUFFLE(3, 1, 3, 1)));
}

// kR rows, head_dim = 16 * kC. `p` is kR × kChunk scratch (64-byte aligned), like q and acc; `l`
// holds kChunk lanes per row whose sum is the row's running softmax denominator.
template <class Kv, int kC, int kR>
inline void ChunkAvx512(const float* q, const typename Kv::T* k, const typename Kv::T* v,
                        const int32_t* valid, float* acc, float* m, float* l, float* p) {
  constexpr int kD = 16 * kC;
  // Scores of all rows first, so the rows' softmax dependency chains below can overlap.
  // Straight-line code (no per-key branches) so the 16 dot products stay in registers: keys past a
  // row's visible prefix re-read its last visible key instead and their lanes are masked off below,
  // so nothing past the prefix is ever loaded.
  __m512 s[kR];
  int32_t jmax = 0;
  for (int r = 0; r < kR; ++r) {
    const int32_t nv = valid[r];
    if (nv <= 0) continue;
    jmax = std::max(jmax, nv);
    const int32_t last = nv - 1;
    __m512 qv[kC];
    for (int c = 0; c < kC; ++c) qv[c] = _mm512_load_ps(q + r * kD + 16 * c);
    auto dot = [&](int j) {
      const typename Kv::T* kj = k + std::min(j, last) * kD;
      __m512 a = _mm512_mul_ps(qv[0], Load16<Kv>(kj));
      for (int c = 1; c < kC; ++c) a = _mm512_fmadd_ps(qv[c], Load16<Kv>(kj + 16 * c), a);
      return a;
    };
    const __m512 u0 = LaneSums4(dot(0), dot(1), dot(2), dot(3));
    const __m512 u1 = LaneSums4(dot(4), dot(5), dot(6), dot(7));
    const __m512 u2 = LaneSums4(dot(8), dot(9), dot(10), dot(11));
    const __m512 u3 = LaneSums4(dot(12), dot(13), dot(14), dot(15));
    s[r] = CombineLaneSums(u0, u1, u2, u3);
  }
  if (jmax == 0) return;
  // Online softmax. The running max only moves when some score exceeds it (rare after the first
  // chunks), so the horizontal max and the rescale are skipped otherwise.
  float alpha[kR];
  bool rescale = false;
  for (int r = 0; r < kR; ++r) {
    const int32_t nv = valid[r];
    alpha[r] = 1.0f;
    float* pr = p + r * kChunk;
    if (nv <= 0) {
      _mm512_store_ps(pr, _mm512_setzero_ps());
      continue;
    }
    const __mmask16 mask = static_cast<__mmask16>((1u << nv) - 1u);
    __m512 mv = _mm512_set1_ps(m[r]);
    if (_mm512_mask_cmp_ps_mask(mask, s[r], mv, _CMP_NLE_UQ) != 0) {  // > max, or NaN
      const float cmax =
          _mm512_cvtss_f32(AllLanesMax(_mm512_mask_mov_ps(_mm512_set1_ps(kNegInf), mask, s[r])));
      alpha[r] = std::exp2(m[r] - cmax);
      rescale = true;
      m[r] = cmax;
      mv = _mm512_set1_ps(cmax);
      _mm512_store_ps(l + r * kChunk,
                      _mm512_mul_ps(_mm512_load_ps(l + r * kChunk), _mm512_set1_ps(alpha[r])));
    }
    const __m512 e = _mm512_maskz_mov_ps(mask, Exp2Avx512(_mm512_sub_ps(s[r], mv)));
    _mm512_store_ps(l + r * kChunk, _mm512_add_ps(_mm512_load_ps(l + r * kChunk), e));
    _mm512_store_ps(pr, e);
  }
  __m512 a[kR][kC];
  for (int r = 0; r < kR; ++r) {
    for (int c = 0; c < kC; ++c) a[r][c] = _mm512_load_ps(acc + r * kD + 16 * c);
  }
  if (rescale) {
    for (int r = 0; r < kR; ++r) {
      const __m512 al = _mm512_set1_ps(alpha[r]);
      for (int c = 0; c < kC; ++c) a[r][c] = _mm512_mul_ps(a[r][c], al);
    }
  }
  for (int32_t j = 0; j < jmax; ++j) {
    for (int c = 0; c < kC; ++c) {
      const __m512 vv = Load16<Kv>(v + j * kD + 16 * c);
      for (int r = 0; r < kR; ++r) {
        a[r][c] = _mm512_fmadd_ps(_mm512_set1_ps(p[r * kChunk + j]), vv, a[r][c]);
      }
    }
  }
  for (int r = 0; r < kR; ++r) {
    for (int c = 0; c < kC; ++c) _mm512_store_ps(acc + r * kD + 16 * c, a[r][c]);
  }
}

// Rows per register block: accumulators kR × kC must leave room for the 16 score vectors.
template <int kC>
constexpr int kMaxRowBlock = kC <= 1 ? 8 : (kC <= 4 ? 4 : (kC <= 8 ? 2 : 1));

template <class Kv, int kC>
inline void ChunkRowsAvx512(int32_t rows, const float* q, const typename Kv::T* k,
                            const typename Kv::T* v, const int32_t* valid, float* acc, float* m,
                            float* l, float* p) {
  constexpr int kD = 16 * kC;
  int32_t r = 0;
  auto step = [&](auto rows_const) {
    constexpr int kR = decltype(rows_const)::value;
    ChunkAvx512<Kv, kC, kR>(q + r * kD, k, v, valid + r, acc + r * kD, m + r, l + r * kChunk,
                            p + r * kChunk);
    r += kR;
  };
  constexpr int kMax = kMaxRowBlock<kC>;
  while (rows - r >= kMax) step(std::integral_constant<int, kMax>());
  // Remainder (< kMax rows) in blocks of 4, 2, 1.
  if constexpr (kMax > 4)
    if (rows - r >= 4) step(std::integral_constant<int, 4>());
  if constexpr (kMax > 2)
    if (rows - r >= 2) step(std::integral_constant<int, 2>());
  if constexpr (kMax > 1)
    if (rows - r >= 1) step(std::integral_constant<int, 1>());
}

#endif  // __AVX512F__

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

// 8 KV elements from `p`, widened to fp32.
template <class Kv>
inline __m256 Load8(const typename Kv::T* p) {
  if constexpr (std::is_same_v<Kv, F32Kv>) {
    return _mm256_loadu_ps(p);
  } else {
    return WidenHalf8<std::is_same_v<Kv, Bf16Kv>>(p);
  }
}

// 2^x for x <= 0 (and -inf), as Exp2Avx512: the Cephes polynomial, the exponent put in by integer
// arithmetic (AVX2 has no scalef). x is clamped to -126 so the exponent stays normal; NaN stays
// NaN.
inline __m256 Exp2Avx2(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-126.0f), x);
  const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_sub_ps(x, n);
  __m256 p = _mm256_set1_ps(kExp2Poly[0]);
  for (int i = 1; i < 7; ++i) p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2Poly[i]));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

// [Σa, Σb, Σc, Σd]: the horizontal sums of four vectors.
inline __m128 Sums4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

// Lanes < n of all-ones (keys a row may see), for n in 0..8.
inline __m256 PrefixMask(int32_t n) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), lanes));
}

inline float MaxOf(__m256 x) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// One row at a time, head_dim = 8 * kC8: the row's 16 scores (q in registers, four keys per
// reduction), the online-softmax update on two 8-lane halves, then P·V with the row's accumulator
// in registers. K and V of the chunk (≤ 16 KiB at head_dim 128) stay in L1 across the rows.
template <class Kv, int kC8>
inline void ChunkRowsAvx2(int32_t rows, const float* q, const typename Kv::T* k,
                          const typename Kv::T* v, const int32_t* valid, float* acc, float* m,
                          float* l, float* p) {
  constexpr int kD = 8 * kC8;
  for (int32_t r = 0; r < rows; ++r) {
    const int32_t nv = valid[r];
    if (nv <= 0) continue;
    const int32_t last = nv - 1;
    __m256 qv[kC8];
    for (int c = 0; c < kC8; ++c) qv[c] = _mm256_loadu_ps(q + r * kD + 8 * c);
    auto dot = [&](int j) {
      // Past the prefix: re-read the last visible key, masked below.
      const typename Kv::T* kj = k + std::min(j, last) * kD;
      __m256 a = _mm256_mul_ps(qv[0], Load8<Kv>(kj));
      for (int c = 1; c < kC8; ++c) a = _mm256_fmadd_ps(qv[c], Load8<Kv>(kj + 8 * c), a);
      return a;
    };
    __m256 s[2];
    for (int h = 0; h < 2; ++h) {
      if (8 * h >= nv) {
        s[h] = _mm256_set1_ps(kNegInf);
        continue;
      }
      const int j = 8 * h;
      const __m128 lo = Sums4(dot(j), dot(j + 1), dot(j + 2), dot(j + 3));
      const __m128 hi = Sums4(dot(j + 4), dot(j + 5), dot(j + 6), dot(j + 7));
      s[h] = _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
    }
    const __m256 mask[2] = {PrefixMask(std::min(nv, 8)), PrefixMask(std::max(nv - 8, 0))};
    const __m256 neg_inf = _mm256_set1_ps(kNegInf);
    const float cmax = MaxOf(_mm256_max_ps(_mm256_blendv_ps(neg_inf, s[0], mask[0]),
                                           _mm256_blendv_ps(neg_inf, s[1], mask[1])));
    float* lr = l + r * kChunk;
    float* ar = acc + r * kD;
    float alpha = 1.0f;
    if (cmax > m[r] || std::isnan(cmax)) {
      alpha = std::exp2(m[r] - cmax);
      m[r] = cmax;
    }
    const __m256 mv = _mm256_set1_ps(m[r]);
    float* pr = p + r * kChunk;
    for (int h = 0; h < 2; ++h) {
      const __m256 e = _mm256_and_ps(mask[h], Exp2Avx2(_mm256_sub_ps(s[h], mv)));
      __m256 lh = _mm256_loadu_ps(lr + 8 * h);
      if (alpha != 1.0f) lh = _mm256_mul_ps(lh, _mm256_set1_ps(alpha));
      _mm256_storeu_ps(lr + 8 * h, _mm256_add_ps(lh, e));
      _mm256_storeu_ps(pr + 8 * h, e);
    }
    __m256 a[kC8];
    for (int c = 0; c < kC8; ++c) a[c] = _mm256_loadu_ps(ar + 8 * c);
    if (alpha != 1.0f) {
      const __m256 al = _mm256_set1_ps(alpha);
      for (int c = 0; c < kC8; ++c) a[c] = _mm256_mul_ps(a[c], al);
    }
    for (int32_t j = 0; j < nv; ++j) {
      const __m256 pj = _mm256_set1_ps(pr[j]);
      for (int c = 0; c < kC8; ++c) {
        a[c] = _mm256_fmadd_ps(pj, Load8<Kv>(v + j * kD + 8 * c), a[c]);
      }
    }
    for (int c = 0; c < kC8; ++c) _mm256_storeu_ps(ar + 8 * c, a[c]);
  }
}

#endif  // __AVX2__ && __FMA__ && __F16C__

}  // namespace kvserve::attention

#endif  // KVSERVE_ENGINE_MODEL_ATTENTION_CHUNK_KERNELS_H_
