// Naive per-row transformer operations, templated on the accumulation type (double for the
// reference model, float for the KV-cache lab). Plain loops, no tiling, no threads: the point is to
// be obviously correct and deterministic (the same inputs give bit-identical outputs, whichever
// path calls them), not fast.
#ifndef KVSERVE_ENGINE_LAB_NAIVE_OPS_H_
#define KVSERVE_ENGINE_LAB_NAIVE_OPS_H_

#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/model/model_config.h"
#include "engine/model/model_weights.h"

namespace kvserve::naive {

// out = x * rsqrt(mean(x²) + eps) * gain
template <typename T>
void RmsNorm(const T* x, const float* gain, float eps, int64_t dim, T* out) {
  T sum = 0;
  for (int64_t i = 0; i < dim; ++i) sum += x[i] * x[i];
  const T inv = T(1) / std::sqrt(sum / static_cast<T>(dim) + static_cast<T>(eps));
  for (int64_t i = 0; i < dim; ++i) out[i] = x[i] * inv * static_cast<T>(gain[i]);
}

// y[o] = Σ_i w[o][i] x[i] (+ bias[o]); w is [out][in] (Hugging Face layout).
template <typename T>
void MatVec(const float* w, const float* bias, const T* x, int64_t in, int64_t out, T* y) {
  for (int64_t o = 0; o < out; ++o) {
    T acc = bias ? static_cast<T>(bias[o]) : T(0);
    const float* row = w + o * in;
    for (int64_t i = 0; i < in; ++i) acc += static_cast<T>(row[i]) * x[i];
    y[o] = acc;
  }
}

// The same over a WeightMatrix of any dtype (16-bit rows widened one at a time, exactly).
template <typename T>
void MatVec(const WeightMatrix& w, const float* bias, const T* x, int64_t in, int64_t out, T* y) {
  if (w.f32() != nullptr) return MatVec(w.f32(), bias, x, in, out, y);
  std::vector<float> row(in);
  for (int64_t o = 0; o < out; ++o) {
    w.RowToF32(o, row.data());
    MatVec(row.data(), bias ? bias + o : nullptr, x, in, 1, y + o);
  }
}

// Rotary embedding of one head at `pos`, "rotate half" pairing (i, i + head_dim/2).
template <typename T>
void Rope(T* v, int32_t pos, int32_t head_dim, float theta) {
  const int32_t half = head_dim / 2;
  for (int32_t i = 0; i < half; ++i) {
    const double angle = pos * std::pow(static_cast<double>(theta), -2.0 * i / head_dim);
    const T c = static_cast<T>(std::cos(angle)), s = static_cast<T>(std::sin(angle));
    const T x1 = v[i], x2 = v[i + half];
    v[i] = x1 * c - x2 * s;
    v[i + half] = x2 * c + x1 * s;
  }
}

// One query head against `n` keys/values spaced `stride` apart: softmax(q·k * scale) · v.
template <typename T, typename KV>
void Attend(const T* q, const KV* keys, const KV* values, int64_t n, int64_t stride,
            int32_t head_dim, T scale, T* out) {
  std::vector<T> scores(n);
  T max_score = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    T s = 0;
    for (int32_t d = 0; d < head_dim; ++d) s += q[d] * static_cast<T>(keys[j * stride + d]);
    scores[j] = s * scale;
    max_score = std::max(max_score, scores[j]);
  }
  T denom = 0;
  for (int64_t j = 0; j < n; ++j) denom += (scores[j] = std::exp(scores[j] - max_score));
  for (int32_t d = 0; d < head_dim; ++d) out[d] = 0;
  for (int64_t j = 0; j < n; ++j) {
    const T p = scores[j] / denom;
    for (int32_t d = 0; d < head_dim; ++d) out[d] += p * static_cast<T>(values[j * stride + d]);
  }
}

template <typename T>
T Silu(T x) {
  return x / (T(1) + std::exp(-x));
}

// Buffers for the per-position layer pieces below.
template <typename T>
struct RowScratch {
  explicit RowScratch(const ModelConfig& c)
      : normed(c.hidden_size),
        proj(c.hidden_size),
        gate_up(2 * c.intermediate_size),
        act(c.intermediate_size) {}
  std::vector<T> normed, proj, gate_up, act;
};

// qkv = RoPE(qkv_proj(RmsNorm(h))) for the token at `pos`: q heads, then k heads, then v.
template <typename T>
void QkvRow(const ModelConfig& c, const LayerWeights& lw, const T* h, int32_t pos,
            RowScratch<T>& scratch, T* qkv) {
  RmsNorm(h, lw.attn_norm.data(), c.rms_norm_eps, c.hidden_size, scratch.normed.data());
  MatVec(lw.qkv, lw.qkv_bias.empty() ? nullptr : lw.qkv_bias.data(), scratch.normed.data(),
         c.hidden_size, c.q_size() + 2 * c.kv_size(), qkv);
  for (int32_t head = 0; head < c.num_heads + c.num_kv_heads; ++head) {
    Rope(qkv + int64_t{head} * c.head_dim, pos, c.head_dim, c.rope_theta);
  }
}

// The rest of a layer for one position: h += o_proj(attn); h += down(silu(gate) * up)(RmsNorm(h)).
template <typename T>
void OutputAndMlpRow(const ModelConfig& c, const LayerWeights& lw, const T* attn,
                     RowScratch<T>& scratch, T* h) {
  const int64_t hidden = c.hidden_size, ff = c.intermediate_size;
  MatVec(lw.o_proj, nullptr, attn, c.q_size(), hidden, scratch.proj.data());
  for (int64_t i = 0; i < hidden; ++i) h[i] += scratch.proj[i];
  RmsNorm(h, lw.mlp_norm.data(), c.rms_norm_eps, hidden, scratch.normed.data());
  MatVec(lw.gate_up, nullptr, scratch.normed.data(), hidden, 2 * ff, scratch.gate_up.data());
  for (int64_t i = 0; i < ff; ++i)
    scratch.act[i] = Silu(scratch.gate_up[i]) * scratch.gate_up[ff + i];
  MatVec(lw.down_proj, nullptr, scratch.act.data(), ff, hidden, scratch.proj.data());
  for (int64_t i = 0; i < hidden; ++i) h[i] += scratch.proj[i];
}

// Final norm and LM head of one position.
template <typename T>
void LogitsRow(const ModelWeights& w, const T* h, RowScratch<T>& scratch, T* logits) {
  const ModelConfig& c = w.config;
  RmsNorm(h, w.final_norm.data(), c.rms_norm_eps, c.hidden_size, scratch.normed.data());
  MatVec(w.lm_head_matrix(), nullptr, scratch.normed.data(), c.hidden_size, c.vocab_size, logits);
}

}  // namespace kvserve::naive

#endif  // KVSERVE_ENGINE_LAB_NAIVE_OPS_H_
