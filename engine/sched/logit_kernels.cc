#include "engine/sched/logit_kernels.h"

#include <algorithm>
#include <numeric>

namespace kvserve {

void SoftmaxWeights(const float* __restrict l, int64_t n, float max_logit, float t,
                    float* __restrict w) {
  for (int64_t i = 0; i < n; ++i) w[i] = ExpNonPositive((l[i] - max_logit) / t);
}

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

void SelectTopK(const float* l, int64_t n, int64_t k, std::vector<int32_t>& ids) {
  auto better = [l](int32_t a, int32_t b) {
    const float ka = LogitKey(l[a]), kb = LogitKey(l[b]);
    return ka > kb || (ka == kb && a < b);
  };
  if (k * 16 <= n) {
    ids.resize(std::max<int64_t>(static_cast<int64_t>(ids.size()), k));
    std::iota(ids.begin(), ids.begin() + k, 0);
    // A heap ordered by `better` keeps its worst member on top.
    std::make_heap(ids.begin(), ids.begin() + k, better);
    float worst = LogitKey(l[ids[0]]);
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
        worst = LogitKey(l[ids[0]]);
      }
    }
  } else {
    ids.resize(std::max<int64_t>(static_cast<int64_t>(ids.size()), n));
    std::iota(ids.begin(), ids.begin() + n, 0);
    std::nth_element(ids.begin(), ids.begin() + k, ids.begin() + n, better);
  }
  std::sort(ids.begin(), ids.begin() + k, better);
}

}  // namespace kvserve
