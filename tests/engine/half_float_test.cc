// 16-bit float conversions (engine/base/half_float.h) and WeightMatrix (engine/model/
// weight_matrix.h). The f16 narrowing is checked against the CPU's own F16C conversion
// (vcvtps2ph, round to nearest even) where the build has it: an oracle nobody here wrote.
#include "engine/base/half_float.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "engine/base/split_mix.h"
#include "engine/model/weight_matrix.h"
#include "gtest/gtest.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace kvserve {
namespace {

// Floats of every magnitude f16 and bf16 care about, with random mantissas, plus exact ties.
std::vector<float> Probes() {
  std::vector<float> out;
  for (uint64_t i = 0; i < 200000; ++i) {
    const uint64_t r = SplitMixFinalize(i * kSplitMixGamma);
    // Exponents 2^-30 .. 2^20 (f16 subnormals, normals, overflow) with a random sign.
    const uint32_t exponent = 97 + static_cast<uint32_t>(r % 51);
    out.push_back(BitsToFloat(static_cast<uint32_t>(r >> 63) << 31 | exponent << 23 |
                              static_cast<uint32_t>((r >> 20) & 0x7FFFFF)));
  }
  for (uint32_t h = 0; h < 0x7C00; ++h) {  // halfway between f16 neighbours: ties
    out.push_back((HalfToFloat(h) + HalfToFloat(h + 1)) / 2);
  }
  return out;
}

TEST(HalfFloatTest, FloatToHalfMatchesTheCpusConversion) {
#if defined(__F16C__)
  for (float f : Probes()) {
    const uint16_t want = static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
    ASSERT_EQ(FloatToHalf(f), want) << f;
  }
#else
  GTEST_SKIP() << "built without F16C";
#endif
}

TEST(HalfFloatTest, HalfRoundTripsEveryValueAndKeepsSpecials) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(f))));
    } else {
      ASSERT_EQ(FloatToHalf(f), h) << std::hex << h;
    }
  }
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7BFF);  // rounds down to the largest finite
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7C00);  // the tie rounds to even: infinity
  EXPECT_EQ(FloatToHalf(-1e9f), 0xFC00);
  EXPECT_EQ(FloatToHalf(0x1.0p-25f), 0x0000);  // half the smallest subnormal: tie to even (0)
  EXPECT_EQ(FloatToHalf(0x1.8p-25f), 0x0001);
}

TEST(HalfFloatTest, Bfloat16RoundsToNearestEvenAndRoundTrips) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const float f = Bfloat16ToFloat(static_cast<uint16_t>(b));
    if (!std::isnan(f)) ASSERT_EQ(FloatToBfloat16(f), b) << std::hex << b;
  }
  for (float f : Probes()) {
    if (std::isinf(f)) continue;
    const uint16_t b = FloatToBfloat16(f);
    const double error = std::abs(static_cast<double>(Bfloat16ToFloat(b)) - f);
    // Within half a unit in the last place (bf16 keeps 8 significant bits).
    ASSERT_LE(error, std::ldexp(std::abs(static_cast<double>(f)), -8)) << f;
  }
  EXPECT_EQ(FloatToBfloat16(BitsToFloat(0x3F808000u)), 0x3F80);  // tie, even below
  EXPECT_EQ(FloatToBfloat16(BitsToFloat(0x3F818000u)), 0x3F82);  // tie, even above
  EXPECT_TRUE(std::isnan(Bfloat16ToFloat(FloatToBfloat16(std::nanf("")))));
  EXPECT_TRUE(std::isnan(Bfloat16ToFloat(FloatToBfloat16(BitsToFloat(0x7F800001u)))));
  EXPECT_EQ(FloatToBfloat16(std::numeric_limits<float>::infinity()), 0x7F80);
}

TEST(WeightMatrixTest, ConvertsBetweenDtypesAndReadsRowsInFp32) {
  std::vector<float> values(3 * 5);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.1f * static_cast<float>(i) - 0.7f;
  const WeightMatrix f32(values, 3, 5);
  EXPECT_EQ(f32.bytes(), 60);
  for (FloatDtype dtype : {FloatDtype::kBF16, FloatDtype::kF16}) {
    const WeightMatrix half = f32.ConvertedTo(dtype);
    EXPECT_EQ(half.dtype(), dtype);
    EXPECT_EQ(half.f32(), nullptr);
    ASSERT_NE(half.half(), nullptr);
    EXPECT_EQ(half.bytes(), 30);
    std::vector<float> row(5);
    half.RowToF32(2, row.data());
    for (int c = 0; c < 5; ++c) {
      const float want = dtype == FloatDtype::kBF16
                             ? Bfloat16ToFloat(FloatToBfloat16(values[10 + c]))
                             : HalfToFloat(FloatToHalf(values[10 + c]));
      EXPECT_EQ(row[c], want);
      EXPECT_EQ(half.At(2, c), want);
    }
    // Back to f32 is exact, and to 16 bits again gives the same bits.
    EXPECT_TRUE(half.ConvertedTo(FloatDtype::kF32).ConvertedTo(dtype) == half);
  }
  EXPECT_EQ(*ParseFloatDtype("bf16"), FloatDtype::kBF16);
  EXPECT_EQ(ParseFloatDtype("fp8").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kvserve
