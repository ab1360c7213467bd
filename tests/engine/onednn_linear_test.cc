#include "engine/model/onednn_linear.h"

#include <cmath>
#include <random>
#include <vector>

#include "engine/lab/naive_ops.h"
#include "gtest/gtest.h"
#include "tests/support/cpu_features.h"

namespace kvserve {
namespace {

std::vector<float> Random(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

class OneDnnLinearTest : public ::testing::TestWithParam<int64_t> {
 protected:
  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
};

TEST_P(OneDnnLinearTest, MatchesNaiveMatVecForAnyRowCount) {
  const int64_t in = 96, out = 40, m = GetParam();
  std::vector<float> w = Random(in * out, 1), bias = Random(out, 2), x = Random(m * in, 3);
  auto plain = OneDnnLinear::Create(engine_, w.data(), in, out);
  auto biased = OneDnnLinear::Create(engine_, w.data(), in, out, {.bias = bias.data()});
  auto accumulating = OneDnnLinear::Create(engine_, w.data(), in, out, {.accumulate = true});
  ASSERT_TRUE(plain.ok() && biased.ok() && accumulating.ok());
  std::vector<float> y(m * out), yb(m * out), acc(m * out, 0.5f);
  plain->Run(stream_, x.data(), m, y.data());
  biased->Run(stream_, x.data(), m, yb.data());
  accumulating->Run(stream_, x.data(), m, acc.data());
  stream_.wait();
  std::vector<double> want(out), want_b(out);
  for (int64_t r = 0; r < m; ++r) {
    std::vector<double> xr(x.begin() + r * in, x.begin() + (r + 1) * in);
    naive::MatVec(w.data(), nullptr, xr.data(), in, out, want.data());
    naive::MatVec(w.data(), bias.data(), xr.data(), in, out, want_b.data());
    for (int64_t o = 0; o < out; ++o) {
      ASSERT_NEAR(y[r * out + o], want[o], 1e-4) << "row " << r << " col " << o;
      ASSERT_NEAR(yb[r * out + o], want_b[o], 1e-4);
      ASSERT_NEAR(acc[r * out + o], want[o] + 0.5, 1e-4);
    }
  }
}

// bf16: x and W are rounded to 8-bit significands (relative error <= 2^-9 each), so every product
// is within ~2^-8 of exact and the sum within 2^-8 * sum |w x| (plus fp32 rounding).
TEST_P(OneDnnLinearTest, Bf16StaysWithinBfloat16RoundingOfTheExactProduct) {
  if (!testing::OneDnnHasBf16Matmul()) GTEST_SKIP() << "this CPU has no AVX-512: no bf16 matmul";
  const int64_t in = 96, out = 40, m = GetParam();
  std::vector<float> w = Random(in * out, 4), bias = Random(out, 5), x = Random(m * in, 6);
  auto bf16 = OneDnnLinear::Create(engine_, w.data(), in, out,
                                   {.accumulate = true, .bias = bias.data(), .bf16 = true});
  auto f32 = OneDnnLinear::Create(engine_, w.data(), in, out, {.bias = bias.data()});
  ASSERT_TRUE(bf16.ok()) << bf16.status();
  ASSERT_TRUE(f32.ok()) << f32.status();
  EXPECT_TRUE(bf16->bf16());
  std::vector<float> y(m * out, 0.5f), exact32(m * out);
  bf16->Run(stream_, x.data(), m, y.data());
  f32->Run(stream_, x.data(), m, exact32.data());
  stream_.wait();
  double largest_gap = 0;
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double want = 0.5 + bias[o], magnitude = 0;
      for (int64_t i = 0; i < in; ++i) {
        want += static_cast<double>(w[o * in + i]) * x[r * in + i];
        magnitude += std::abs(static_cast<double>(w[o * in + i]) * x[r * in + i]);
      }
      ASSERT_NEAR(y[r * out + o], want, std::ldexp(magnitude, -8) + 1e-5)
          << "row " << r << " col " << o;
      largest_gap = std::max(largest_gap, std::abs(y[r * out + o] - 0.5 - exact32[r * out + o]));
    }
  }
  EXPECT_GT(largest_gap, 1e-5) << "bf16 result equals fp32's: bf16 not used?";
}

INSTANTIATE_TEST_SUITE_P(RowCounts, OneDnnLinearTest, ::testing::Values(1, 2, 7, 64, 129));

TEST(OneDnnLinearCreateTest, RejectsEmptyShapes) {
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  float w = 1.0f;
  EXPECT_EQ(OneDnnLinear::Create(engine, &w, 0, 4).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OneDnnLinear::Create(engine, nullptr, 4, 4).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kvserve
