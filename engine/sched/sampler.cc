#include "engine/sched/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>

#include "engine/base/split_mix.h"

namespace kvserve {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Logit order: NaN counts as -inf so the comparators below are strict weak orders.
float Key(float logit) { return std::isnan(logit) ? kNegInf : logit; }

// exp(x) for x <= 0 within ~2 ulp (Cephes expf), exactly 1 at 0, and exactly 0 below -87 (so for
// -inf) and for NaN. Written so the loop over the vocabulary vectorizes under the project's flags
// (std::exp, std::floor, float->int conversion and arithmetic inside a conditional all keep it
// scalar without -ffast-math): only value selects and arithmetic.
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

// w[i] = exp((l[i] - max_logit) / t) for i < n. Vectorizes.
void SoftmaxWeights(const float* __restrict l, int64_t n, float max_logit, float t,
                    float* __restrict w) {
  for (int64_t i = 0; i < n; ++i) w[i] = ExpNonPositive((l[i] - max_logit) / t);
}

// Σ w[i] in double with 8 interleaved partial sums: a fixed order (deterministic) that still
// vectorizes.
double SumWeights(const float* w, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += w[i + j];
  }
  double total = 0.0;
  for (; i < n; ++i) total += w[i];
  for (double a : acc) total += a;
  return total;
}

// The largest logit, ignoring NaN (-inf if there is none), with 16 partial maxima so it
// vectorizes.
float MaxLogit(const float* l, int64_t n) {
  float acc[16];
  for (float& a : acc) a = kNegInf;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int j = 0; j < 16; ++j) acc[j] = l[i + j] > acc[j] ? l[i + j] : acc[j];
  }
  float m = kNegInf;
  for (; i < n; ++i) m = l[i] > m ? l[i] : m;
  for (float a : acc) m = a > m ? a : m;
  return m;
}

// Inverse CDF over ids 0..n-1 in id order with weights w (zero = excluded): the first id whose
// running sum passes u * total. Blocks of kDrawBlock ids are summed vectorized (SumWeights, a fixed
// order, so total and the block search agree exactly); only the block holding the answer is walked
// one id at a time. -1 if every weight is zero.
int32_t DrawInIdOrder(const float* w, int64_t n, double u) {
  constexpr int64_t kDrawBlock = 512;
  double total = 0.0;
  for (int64_t b = 0; b < n; b += kDrawBlock) {
    total += SumWeights(w + b, std::min(kDrawBlock, n - b));
  }
  const double target = u * total;
  double cum = 0.0;
  int32_t last_positive = -1;
  for (int64_t b = 0; b < n; b += kDrawBlock) {
    const int64_t len = std::min(kDrawBlock, n - b);
    const double block = SumWeights(w + b, len);
    if (block <= 0.0) continue;
    if (cum + block <= target) {
      cum += block;
      for (int64_t i = b + len - 1; i >= b; --i) {
        if (w[i] > 0.0f) {
          last_positive = static_cast<int32_t>(i);
          break;
        }
      }
      continue;
    }
    // The answer is in this block (up to rounding of the walk: then its last positive id).
    for (int64_t i = b; i < b + len; ++i) {
      if (w[i] <= 0.0f) continue;
      cum += w[i];
      last_positive = static_cast<int32_t>(i);
      if (cum > target) return last_positive;
    }
    return last_positive;
  }
  return last_positive;
}

// Inverse CDF: walks ids[0, count) (in increasing id order) with weights weight_of(j) summing to
// about `total`, returning the first id whose running sum passes u * total. Falls back to the last
// id of positive weight (rounding), then to ids[0].
template <typename WeightOf>
int32_t Draw(const int32_t* ids, int64_t count, WeightOf weight_of, double total, double u) {
  const double target = u * total;
  double cum = 0.0;
  int32_t last_positive = ids[0];
  for (int64_t j = 0; j < count; ++j) {
    const float w = weight_of(j);
    if (w <= 0.0f) continue;
    cum += w;
    last_positive = ids[j];
    if (cum > target) return ids[j];
  }
  return last_positive;
}

// Puts the ids of the k largest logits into ids[0, k), ordered by (logit desc, id asc). A bounded
// heap scan when k is small (most logits are rejected by one comparison), nth_element otherwise.
void SelectTopK(const float* l, int64_t n, int64_t k, std::vector<int32_t>& ids) {
  auto better = [l](int32_t a, int32_t b) {
    const float ka = Key(l[a]), kb = Key(l[b]);
    return ka > kb || (ka == kb && a < b);
  };
  if (k * 16 <= n) {
    ids.resize(std::max<int64_t>(static_cast<int64_t>(ids.size()), k));
    std::iota(ids.begin(), ids.begin() + k, 0);
    // A heap ordered by `better` keeps its worst member on top.
    std::make_heap(ids.begin(), ids.begin() + k, better);
    float worst = Key(l[ids[0]]);
    constexpr int64_t kBlock = 64;
    for (int64_t b = k; b < n; b += kBlock) {
      const int64_t end = std::min(n, b + kBlock);
      // Most blocks hold nothing that beats the heap's worst: one vectorized max rejects them.
      if (!(MaxLogit(l + b, end - b) > worst)) continue;
      for (int64_t i = b; i < end; ++i) {
        // Strictly greater: on a tie the heap member has the lower id and wins. NaN never passes.
        if (!(l[i] > worst)) continue;
        std::pop_heap(ids.begin(), ids.begin() + k, better);
        ids[k - 1] = static_cast<int32_t>(i);
        std::push_heap(ids.begin(), ids.begin() + k, better);
        worst = Key(l[ids[0]]);
      }
    }
  } else {
    ids.resize(std::max<int64_t>(static_cast<int64_t>(ids.size()), n));
    std::iota(ids.begin(), ids.begin() + n, 0);
    std::nth_element(ids.begin(), ids.begin() + k, ids.begin() + n, better);
  }
  std::sort(ids.begin(), ids.begin() + k, better);
}

// Top-k path: candidates are the k largest logits; a nucleus, if any, is cut from them.
int32_t SampleTopK(absl::Span<const float> logits, const SamplingParams& params, double u,
                   SamplerScratch* scratch) {
  const int64_t n = static_cast<int64_t>(logits.size());
  const int64_t k = params.top_k;
  const float* l = logits.data();
  std::vector<int32_t>& ids = scratch->ids;
  SelectTopK(l, n, k, ids);
  const float max_logit = Key(l[ids[0]]);
  if (!std::isfinite(max_logit)) return ids[0];

  const float t = params.temperature;
  int64_t count = k;
  if (params.top_p > 0.0f && params.top_p < 1.0f) {
    std::vector<float>& w = scratch->weights;
    w.resize(std::max<int64_t>(static_cast<int64_t>(w.size()), k));
    double total = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      w[j] = ExpNonPositive((l[ids[j]] - max_logit) / t);
      total += w[j];
    }
    const double threshold = static_cast<double>(params.top_p) * total;
    double cum = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      cum += w[j];
      if (cum >= threshold) {
        count = j + 1;
        break;
      }
    }
  }
  // Draw in id order.
  std::sort(ids.begin(), ids.begin() + count);
  auto weight = [&](int64_t j) { return ExpNonPositive((l[ids[j]] - max_logit) / t); };
  double total = 0.0;
  for (int64_t j = 0; j < count; ++j) total += weight(j);
  return Draw(ids.data(), count, weight, total, u);
}

// The nucleus of weights w[0, n) (max weight 1): returns the weight and id of its last member in
// (weight desc, id asc) order, so that id i is in it iff w[i] > w_last or (w[i] == w_last and
// i <= id_last).
//
// Weights are bucketed by their float exponent in one pass: bucket b holds [2^-b, 2^(1-b)), the
// last bucket holds 0. The first bucket B where the running mass reaches top_p * total is where
// the nucleus ends; every heavier bucket is wholly inside it, so only bucket B's members are
// ordered (incrementally, as far as needed).
struct NucleusEdge {
  float weight;
  int32_t id;
};
NucleusEdge FindNucleusEdge(const float* w, int64_t n, float top_p, std::vector<int32_t>& ids) {
  constexpr int kBuckets = 128;
  auto bucket = [](float x) {
    return std::clamp(127 - static_cast<int>(std::bit_cast<uint32_t>(x) >> 23), 0, kBuckets - 1);
  };
  // Four interleaved histograms break the dependency chain of adds into one bucket.
  double partial[4][kBuckets] = {};
  int64_t count[kBuckets] = {};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int j = 0; j < 4; ++j) {
      const int b = bucket(w[i + j]);
      partial[j][b] += w[i + j];
      ++count[b];
    }
  }
  for (; i < n; ++i) {
    const int b = bucket(w[i]);
    partial[0][b] += w[i];
    ++count[b];
  }
  double mass[kBuckets];
  double total = 0.0;
  for (int b = 0; b < kBuckets; ++b) {
    mass[b] = (partial[0][b] + partial[1][b]) + (partial[2][b] + partial[3][b]);
    total += mass[b];
  }
  const double threshold = static_cast<double>(top_p) * total;
  double before = 0.0;  // mass of the buckets heavier than B
  int edge = kBuckets - 1;
  for (int b = 0; b < kBuckets; ++b) {
    if (count[b] > 0 && before + mass[b] >= threshold) {
      edge = b;
      break;
    }
    before += mass[b];
  }
  if (edge == kBuckets - 1) before = 0.0;  // rounding fallback: the walk below covers every id

  // Members of bucket B (or, in the fallback, every id), ordered only as far as needed.
  int64_t m = 0;
  ids.resize(std::max<int64_t>(static_cast<int64_t>(ids.size()), n));
  for (i = 0; i < n; ++i) {
    if (edge == kBuckets - 1 || bucket(w[i]) == edge) ids[m++] = static_cast<int32_t>(i);
  }
  auto heavier = [w](int32_t a, int32_t b) { return w[a] > w[b] || (w[a] == w[b] && a < b); };
  double cum = before;
  int64_t begin = 0;
  int64_t chunk = 256;
  while (begin < m) {
    const int64_t end = std::min(m, begin + chunk);
    if (end < m) std::nth_element(ids.begin() + begin, ids.begin() + end, ids.begin() + m, heavier);
    std::sort(ids.begin() + begin, ids.begin() + end, heavier);
    for (int64_t j = begin; j < end; ++j) {
      cum += w[ids[j]];
      if (cum >= threshold) return {w[ids[j]], ids[j]};
    }
    begin = end;
    chunk *= 4;
  }
  // Rounding: the whole bucket (and so everything heavier) is in.
  return {w[ids[m - 1]], ids[m - 1]};
}

// Full-vocabulary path, optionally with a nucleus. Draws in id order.
int32_t SampleFull(absl::Span<const float> logits, const SamplingParams& params, double u,
                   SamplerScratch* scratch) {
  const int64_t n = static_cast<int64_t>(logits.size());
  const float* l = logits.data();
  const float max_logit = MaxLogit(l, n);
  if (!std::isfinite(max_logit)) return GreedyToken(logits);

  std::vector<float>& weights = scratch->weights;
  weights.resize(std::max<int64_t>(static_cast<int64_t>(weights.size()), n));
  float* w = weights.data();
  SoftmaxWeights(l, n, max_logit, params.temperature, w);

  if (params.top_p > 0.0f && params.top_p < 1.0f) {
    const NucleusEdge edge = FindNucleusEdge(w, n, params.top_p, scratch->ids);
    // Zero the weights outside the nucleus so one id-order walk draws from it.
    for (int64_t i = 0; i < n; ++i) {
      const bool in = w[i] > edge.weight || (w[i] == edge.weight && i <= edge.id);
      w[i] = in ? w[i] : 0.0f;
    }
  }
  const int32_t token = DrawInIdOrder(w, n, u);
  return token >= 0 ? token : GreedyToken(logits);
}

}  // namespace

double SamplingUniform(uint64_t seed, int64_t output_index) {
  // The (output_index + 1)-th output of a SplitMix64 stream whose start is the mixed seed: any
  // output of the stream is computable directly from its index.
  const uint64_t start = SplitMixFinalize(seed ^ 0x6A09E667F3BCC909ULL);
  const uint64_t x =
      SplitMixFinalize(start + (static_cast<uint64_t>(output_index) + 1) * kSplitMixGamma);
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

int32_t GreedyToken(absl::Span<const float> logits) {
  if (logits.empty()) return -1;
  const int64_t n = static_cast<int64_t>(logits.size());
  const float* l = logits.data();
  const float max_logit = MaxLogit(l, n);  // vectorized; then the first id holding it
  if (max_logit == kNegInf) return 0;
  for (int64_t i = 0; i < n; ++i) {
    if (l[i] == max_logit) return static_cast<int32_t>(i);
  }
  return 0;
}

int32_t SampleToken(absl::Span<const float> logits, const SamplingParams& params,
                    int64_t output_index, SamplerScratch* scratch) {
  if (logits.empty()) return -1;
  if (params.greedy()) return GreedyToken(logits);
  const double u = SamplingUniform(params.seed, output_index);
  if (params.top_k > 0 && params.top_k < static_cast<int64_t>(logits.size())) {
    return SampleTopK(logits, params, u, scratch);
  }
  return SampleFull(logits, params, u, scratch);
}

}  // namespace kvserve
