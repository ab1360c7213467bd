// Logit kernels: the vectorized loops over one logits row that sampling (sampler.h) and
// log-probabilities (logprobs.h) share — the maximum, exp of non-positive values, a fixed-order
// double sum, and top-k selection.
//
// Every kernel treats NaN as -inf (it is never the maximum, never selected before a real logit,
// and weighs 0), and each sums in a fixed order, so results do not depend on anything but the
// row. Written so the loops vectorize under the project's flags (no -ffast-math): value selects
// and arithmetic only in the hot loops.
//
// Threads: pure functions of their arguments (SelectTopK writes only the caller's vector).
#ifndef KVSERVE_ENGINE_SCHED_LOGIT_KERNELS_H_
#define KVSERVE_ENGINE_SCHED_LOGIT_KERNELS_H_

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace kvserve {

inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Logit order: NaN counts as -inf so the comparators built on it are strict weak orders.
inline float LogitKey(float logit) { return std::isnan(logit) ? kNegInf : logit; }

// exp(x) for x <= 0 within ~2 ulp (Cephes expf), exactly 1 at 0, and exactly 0 below -87 (so for
// -inf) and for NaN. Inline so that loops over the vocabulary calling it vectorize (std::exp,
// std::floor, float->int conversion and arithmetic inside a conditional all keep a loop scalar).
inline float ExpNonPositive(float x) {
  float xc = x > -87.0f ? x : -87.0f;  // also maps NaN to -87
  xc = xc < 0.0f ? xc : 0.0f;
  // n = round(x / ln2) in [-126, 0] by the 1.5 * 2^23 shifter: the add rounds to an integer, whose
  // value sits in the low mantissa bits.
  constexpr float kShifter = 12582912.0f;
  const float shifted = xc * 1.44269504088896341f + kShifter;
  const float n = shifted - kShifter;
  const int32_t n_int =
      static_cast<int32_t>(std::bit_cast<uint32_t>(shifted) - std::bit_cast<uint32_t>(kShifter));
  const float r = xc - n * 0.693359375f + n * 2.12194440e-4f;  // x - n ln2, |r| <= ln2 / 2
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const float e = p * std::bit_cast<float>((n_int + 127) << 23);
  return x > -87.0f ? e : 0.0f;
}

// w[i] = exp((l[i] - max_logit) / t) for i < n (0 for NaN and -inf). Vectorizes.
void SoftmaxWeights(const float* __restrict l, int64_t n, float max_logit, float t,
                    float* __restrict w);

// Σ w[i] in double with 8 interleaved partial sums: a fixed order (deterministic) that still
// vectorizes.
double SumWeights(const float* w, int64_t n);

// The largest logit, ignoring NaN (-inf if there is none), with 16 partial maxima.
float MaxLogit(const float* l, int64_t n);

// Puts the ids of the k largest logits (0 < k <= n) into ids[0, k), ordered by (logit desc,
// id asc), NaN last. A bounded heap scan when k is small (most logits are rejected by one
// comparison), nth_element otherwise. Grows `ids` to max(k, n) at most; never shrinks it.
void SelectTopK(const float* l, int64_t n, int64_t k, std::vector<int32_t>& ids);

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_SCHED_LOGIT_KERNELS_H_
