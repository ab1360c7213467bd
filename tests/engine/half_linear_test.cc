// HalfLinear against a double-precision product over the same 16-bit weights: both its paths (the
// direct one for m ≤ kDirectRows, the tiled sgemm one above), bias and accumulate, shapes that
// leave tails (in not a multiple of 8, out not a multiple of 4 or of kTileRows), bf16 and f16.
#include "engine/model/half_linear.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/base/split_mix.h"
#include "engine/model/weight_matrix.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

std::vector<float> Random(int64_t n, uint64_t salt) {
  std::vector<float> out(n);
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t r = SplitMixFinalize((salt << 32 | static_cast<uint64_t>(i)) * kSplitMixGamma);
    out[i] = static_cast<float>(static_cast<double>(r >> 11) * 0x1.0p-53 * 2.0 - 1.0);
  }
  return out;
}

using Shape = std::tuple<FloatDtype, int64_t /*m*/, int64_t /*in*/, int64_t /*out*/>;

class HalfLinearTest : public ::testing::TestWithParam<Shape> {};

// fp32 products of exactly representable values: the only error is fp32 summation, bounded by
// ~in · 2^-24 · Σ|w·x|; 1e-5 of Σ|w·x| leaves room for that and catches any wrong element.
TEST_P(HalfLinearTest, MatchesTheDoubleProductOfTheSameWeights) {
  const auto [dtype, m, in, out] = GetParam();
  const WeightMatrix w = WeightMatrix(Random(out * in, 1), out, in).ConvertedTo(dtype);
  const std::vector<float> x = Random(m * in, 2), bias = Random(out, 3), y0 = Random(m * out, 4);
  for (bool accumulate : {false, true}) {
    for (bool with_bias : {false, true}) {
      SCOPED_TRACE(absl::StrCat("accumulate ", accumulate, " bias ", with_bias));
      auto layer = HalfLinear::Create(
          w, {.accumulate = accumulate, .bias = with_bias ? bias.data() : nullptr});
      ASSERT_TRUE(layer.ok()) << layer.status();
      EXPECT_EQ(layer->in(), in);
      EXPECT_EQ(layer->out(), out);
      std::vector<float> y = y0;
      layer->Run(x.data(), m, y.data());
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t o = 0; o < out; ++o) {
          double want = (accumulate ? y0[r * out + o] : 0.0) + (with_bias ? bias[o] : 0.0);
          double magnitude = std::abs(want);
          for (int64_t k = 0; k < in; ++k) {
            const double p = static_cast<double>(w.At(o, k)) * x[r * in + k];
            want += p;
            magnitude += std::abs(p);
          }
          ASSERT_NEAR(y[r * out + o], want, 1e-5 * magnitude + 1e-6) << "row " << r << " out " << o;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, HalfLinearTest,
                         ::testing::Combine(::testing::Values(FloatDtype::kBF16, FloatDtype::kF16),
                                            ::testing::Values(1, 2, 3, HalfLinear::kDirectRows,
                                                              HalfLinear::kDirectRows + 1, 16, 67),
                                            ::testing::Values(100, 256), ::testing::Values(7, 150)),
                         [](const ::testing::TestParamInfo<Shape>& info) {
                           return absl::StrCat(FloatDtypeName(std::get<0>(info.param)), "_m",
                                               std::get<1>(info.param), "_in",
                                               std::get<2>(info.param), "_out",
                                               std::get<3>(info.param));
                         });

// The opt-in oneDNN bf16 path (AVX512-BF16 CPUs only): x is rounded to bf16 (relative error
// ≤ 2^-9), so each product is within ~2^-8 of exact; small m still takes the exact direct path.
TEST(HalfLinearCreateTest, Bf16ComputeRoundsOnlyPrefillSizedCallsWhereTheCpuHasIt) {
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  const int64_t in = 96, out = 40;
  const WeightMatrix w = WeightMatrix(Random(out * in, 6), out, in).ConvertedTo(FloatDtype::kBF16);
  const std::vector<float> bias = Random(out, 7);
  auto layer = HalfLinear::Create(
      w, {.accumulate = true, .bias = bias.data(), .bf16_compute_engine = &engine});
  ASSERT_TRUE(layer.ok()) << layer.status();
  // f16 weights never take it.
  auto f16 = HalfLinear::Create(w.ConvertedTo(FloatDtype::kF16), {.bf16_compute_engine = &engine});
  ASSERT_TRUE(f16.ok()) << f16.status();
  EXPECT_FALSE(f16->uses_onednn_bf16());
  if (!layer->uses_onednn_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  for (int64_t m : {int64_t{3}, HalfLinear::kDirectRows + 1, int64_t{67}}) {
    SCOPED_TRACE(m);
    const std::vector<float> x = Random(m * in, 8), y0 = Random(m * out, 9);
    std::vector<float> y = y0;
    layer->Run(x.data(), m, y.data());
    const double relative = m <= HalfLinear::kDirectRows ? 1e-5 : 0x1.0p-7;
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t o = 0; o < out; ++o) {
        double want = y0[r * out + o] + bias[o], magnitude = std::abs(want);
        for (int64_t k = 0; k < in; ++k) {
          const double p = static_cast<double>(w.At(o, k)) * x[r * in + k];
          want += p;
          magnitude += std::abs(p);
        }
        ASSERT_NEAR(y[r * out + o], want, relative * magnitude + 1e-6) << r << " " << o;
      }
    }
  }
}

TEST(HalfLinearCreateTest, RefusesFp32AndEmptyMatrices) {
  const WeightMatrix f32(Random(12, 5), 3, 4);
  EXPECT_EQ(HalfLinear::Create(f32, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HalfLinear::Create(WeightMatrix(), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kvserve
