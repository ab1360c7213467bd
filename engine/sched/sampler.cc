#include "engine/sched/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "engine/base/split_mix.h"
#include "engine/sched/logit_kernels.h"

namespace kvserve {

namespace {

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

// Top-k path: candidates are the k largest logits, then those min_p keeps; a nucleus, if any, is
// cut from them.
int32_t SampleTopK(absl::Span<const float> logits, const SamplingParams& params, double u,
                   SamplerScratch* scratch) {
  const int64_t n = static_cast<int64_t>(logits.size());
  const int64_t k = params.top_k;
  const float* l = logits.data();
  std::vector<int32_t>& ids = scratch->ids;
  SelectTopK(l, n, k, ids);
  const float max_logit = LogitKey(l[ids[0]]);
  if (!std::isfinite(max_logit)) return ids[0];

  const float t = params.temperature;
  int64_t count = k;
  if (params.min_p > 0.0f) {
    // Keep the candidates whose weight (probability over the top one's) is >= min_p, in order;
    // the top one (weight 1) always stays.
    int64_t kept = 0;
    for (int64_t j = 0; j < k; ++j) {
      if (ExpNonPositive((l[ids[j]] - max_logit) / t) >= params.min_p) ids[kept++] = ids[j];
    }
    count = kept;
  }
  if (params.top_p > 0.0f && params.top_p < 1.0f) {
    std::vector<float>& w = scratch->weights;
    w.resize(std::max<int64_t>(static_cast<int64_t>(w.size()), count));
    double total = 0.0;
    for (int64_t j = 0; j < count; ++j) {
      w[j] = ExpNonPositive((l[ids[j]] - max_logit) / t);
      total += w[j];
    }
    const double threshold = static_cast<double>(params.top_p) * total;
    double cum = 0.0;
    for (int64_t j = 0; j < count; ++j) {
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

// Full-vocabulary path, optionally with min_p and a nucleus. Draws in id order.
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
  if (params.min_p > 0.0f) {
    // The weights are probabilities over the top one's (which has weight 1): drop those < min_p.
    const float min_p = params.min_p;
    for (int64_t i = 0; i < n; ++i) w[i] = w[i] >= min_p ? w[i] : 0.0f;
  }

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
