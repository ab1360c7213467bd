#include "engine/sched/logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/sched/logit_kernels.h"

namespace kvserve {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// log_softmax of one row, set up once per row: logprob(i) for any i.
class LogSoftmax {
 public:
  LogSoftmax(const float* l, int64_t n, std::vector<float>& weights) : l_(l) {
    max_ = MaxLogit(l, n);
    if (max_ == kNegInf) return;  // every logit -inf or NaN: every logprob -inf
    if (max_ == kInf) {
      int64_t count = 0;
      for (int64_t i = 0; i < n; ++i) count += l[i] == kInf;
      inf_logprob_ = static_cast<float>(-std::log(static_cast<double>(count)));
      return;
    }
    weights.resize(std::max<int64_t>(static_cast<int64_t>(weights.size()), n));
    SoftmaxWeights(l, n, max_, 1.0f, weights.data());
    // The max's weight is exactly 1, so the sum is in [1, n]: its log is well conditioned.
    log_sum_ = std::log(SumWeights(weights.data(), n));
  }

  float operator()(int32_t i) const {
    const float x = l_[i];
    if (!(x > kNegInf)) return kNegInf;  // -inf or NaN
    if (max_ == kInf) return x == kInf ? inf_logprob_ : kNegInf;
    return static_cast<float>(static_cast<double>(x) - static_cast<double>(max_) - log_sum_);
  }

 private:
  const float* l_;
  float max_ = kNegInf;
  double log_sum_ = 0.0;
  float inf_logprob_ = 0.0f;
};

// 1-based position of `token` in (logit desc, id asc) order, NaN counted as -inf.
int32_t Rank(const float* l, int64_t n, int32_t token) {
  // int32 counters (a row has < 2^31 ids) keep the loops vectorized.
  const float key = LogitKey(l[token]);
  int32_t ahead = 0;
  for (int64_t i = 0; i < n; ++i) ahead += l[i] > key ? 1 : 0;  // NaN is never ahead
  if (key == kNegInf) {
    // Ties with -inf include NaN: everything not above -inf.
    for (int64_t i = 0; i < token; ++i) ahead += l[i] > kNegInf ? 0 : 1;
  } else {
    for (int64_t i = 0; i < token; ++i) ahead += l[i] == key ? 1 : 0;
  }
  return ahead + 1;
}

}  // namespace

void ComputeTokenLogprobs(absl::Span<const float> logits, int32_t token, int32_t num_top,
                          SamplerScratch* scratch, TokenLogprobs* out) {
  const int64_t n = static_cast<int64_t>(logits.size());
  const float* l = logits.data();
  const LogSoftmax logprob(l, n, scratch->weights);
  out->token = token;
  const bool in_row = token >= 0 && token < n;
  out->logprob = in_row ? logprob(token) : kNegInf;
  out->rank = in_row ? Rank(l, n, token) : 0;
  const int64_t k = std::clamp<int64_t>(num_top, 0, std::min<int64_t>(kMaxLogprobs, n));
  out->num_top = static_cast<int32_t>(k);
  if (k == 0) return;
  SelectTopK(l, n, k, scratch->ids);
  for (int64_t j = 0; j < k; ++j) {
    const int32_t id = scratch->ids[j];
    out->top[j] = {.token = id, .logprob = logprob(id)};
  }
}

void AppendPromptLogprobs(absl::Span<const float> rows, int32_t vocab_size,
                          absl::Span<const int32_t> prompt, int32_t first_position, int32_t num_top,
                          SamplerScratch* scratch, std::vector<TokenLogprobs>* out) {
  if (vocab_size <= 0) return;
  const int64_t num_rows = static_cast<int64_t>(rows.size()) / vocab_size;
  for (int64_t j = 0; j < num_rows; ++j) {
    const int64_t predicted = first_position + j + 1;
    if (predicted < 1 || predicted >= static_cast<int64_t>(prompt.size())) continue;
    ComputeTokenLogprobs(rows.subspan(j * vocab_size, vocab_size), prompt[predicted], num_top,
                         scratch, &out->emplace_back());
  }
}

}  // namespace kvserve
