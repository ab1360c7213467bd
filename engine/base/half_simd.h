// 16-bit floats widened to fp32 in SIMD registers (AVX2 + F16C, AVX-512), for the kernels that
// read bf16 / f16 weights (engine/model/half_linear.cc) and KV pages (attention_chunk_kernels.h).
// bf16 is the top half of an fp32, so widening is a zero-extend and a shift; f16 uses F16C's
// vcvtph2ps. Exact, like half_float.h's scalar versions. Header-only, pure: any thread.
#ifndef KVSERVE_ENGINE_BASE_HALF_SIMD_H_
#define KVSERVE_ENGINE_BASE_HALF_SIMD_H_

#include <cstdint>

#if defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>
#define KVSERVE_HALF_SIMD_AVX2 1
#endif

namespace kvserve {

#ifdef KVSERVE_HALF_SIMD_AVX2
// 8 bf16 (kBf16) or f16 values at `p` as 8 floats.
template <bool kBf16>
inline __m256 WidenHalf8(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if constexpr (kBf16) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  } else {
    return _mm256_cvtph_ps(h);
  }
}
#endif

#if defined(__AVX512F__)
// 16 bf16 (kBf16) or f16 values at `p` as 16 floats.
template <bool kBf16>
inline __m512 WidenHalf16(const uint16_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  if constexpr (kBf16) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else {
    return _mm512_cvtph_ps(h);
  }
}
#endif

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_BASE_HALF_SIMD_H_
