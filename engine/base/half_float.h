// 16-bit floats as bit patterns: IEEE binary16 ("f16") and bfloat16 ("bf16") ↔ float.
//
// Widening is exact (every 16-bit value is a float). Narrowing rounds to nearest, ties to even, as
// PyTorch's and oneDNN's conversions do; NaN stays NaN (quiet), ±inf stays ±inf, and f16 values
// beyond its range (|x| ≥ 65520) become ±inf, small ones f16 subnormals or ±0.
//
// Header-only, pure functions: any thread.
#ifndef KVSERVE_ENGINE_BASE_HALF_FLOAT_H_
#define KVSERVE_ENGINE_BASE_HALF_FLOAT_H_

#include <cstdint>
#include <cstring>

namespace kvserve {

inline float BitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

inline uint32_t FloatToBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

inline float Bfloat16ToFloat(uint16_t bits) { return BitsToFloat(uint32_t{bits} << 16); }

inline uint16_t FloatToBfloat16(float f) {
  const uint32_t u = FloatToBits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

inline float HalfToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits >> 15) << 31;
  const uint32_t exponent = (bits >> 10) & 0x1F;
  const uint32_t mantissa = bits & 0x3FF;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in fp32.
    const float magnitude = static_cast<float>(mantissa) * 0x1.0p-24f;
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 0x1F) return BitsToFloat(sign | 0x7F800000u | (mantissa << 13));  // inf, NaN
  return BitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));  // rebias 15 → 127
}

inline uint16_t FloatToHalf(float f) {
  const uint32_t u = FloatToBits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t magnitude = u & 0x7FFFFFFFu;
  if (magnitude > 0x7F800000u) return sign | 0x7E00u;   // NaN
  if (magnitude >= 0x477FF000u) return sign | 0x7C00u;  // ≥ 65520 rounds to inf
  if (magnitude < 0x38800000u) {                        // below 2^-14: subnormal or 0
    // value = magnitude as float; f16 subnormal unit is 2^-24. Round value * 2^24 to an integer,
    // ties to even (exact in float arithmetic: the product is exact and rounding is the FPU's).
    const float scaled = BitsToFloat(magnitude) * 0x1.0p24f;
    const float rounded = scaled + 0x1.0p23f - 0x1.0p23f;  // RNE to an integer, < 2^10
    return sign | static_cast<uint16_t>(rounded);
  }
  // Normal: rebias the exponent, then round the 13 dropped mantissa bits to nearest even (a carry
  // into the exponent is the right result, up to 0x7C00 = inf, excluded above).
  const uint32_t rebased = magnitude - (uint32_t{112} << 23);
  return sign | static_cast<uint16_t>((rebased + 0xFFFu + ((rebased >> 13) & 1u)) >> 13);
}

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_BASE_HALF_FLOAT_H_
