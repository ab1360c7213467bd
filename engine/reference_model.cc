#include "engine/reference_model.h"

#include <cmath>

#include "engine/naive_ops.h"

namespace kvserve {

std::vector<std::vector<double>> ReferenceForward(const ModelWeights& w,
                                                  absl::Span<const int32_t> tokens) {
  const ModelConfig& c = w.config;
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t hidden = c.hidden_size, hd = c.head_dim, ff = c.intermediate_size;
  const int64_t q_size = c.q_size(), kv_size = c.kv_size(), qkv_rows = q_size + 2 * kv_size;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));

  std::vector<std::vector<double>> h(n, std::vector<double>(hidden));
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < hidden; ++i) h[t][i] = w.embedding[tokens[t] * hidden + i];
  }
  std::vector<double> normed(hidden), attn(q_size), proj(hidden), gu(2 * ff), act(ff);
  for (const LayerWeights& lw : w.layers) {
    // Q, K, V of every position, RoPE'd.
    std::vector<std::vector<double>> qkv(n, std::vector<double>(qkv_rows));
    for (int64_t t = 0; t < n; ++t) {
      naive::RmsNorm(h[t].data(), lw.attn_norm.data(), c.rms_norm_eps, hidden, normed.data());
      naive::MatVec(lw.qkv.data(), lw.qkv_bias.empty() ? nullptr : lw.qkv_bias.data(),
                    normed.data(), hidden, qkv_rows, qkv[t].data());
      for (int32_t head = 0; head < c.num_heads + c.num_kv_heads; ++head) {
        naive::Rope(qkv[t].data() + head * hd, static_cast<int32_t>(t), c.head_dim, c.rope_theta);
      }
    }
    // Causal attention: position t sees positions 0..t. Keys/values of KV head g are the
    // columns [q_size + g*hd, ...) and [q_size + kv_size + g*hd, ...) of the qkv rows.
    std::vector<double> keys(n * hd), values(n * hd);
    for (int64_t t = 0; t < n; ++t) {
      for (int32_t head = 0; head < c.num_heads; ++head) {
        const int64_t g = head / c.group_size();
        for (int64_t j = 0; j <= t; ++j) {
          for (int64_t d = 0; d < hd; ++d) {
            keys[j * hd + d] = qkv[j][q_size + g * hd + d];
            values[j * hd + d] = qkv[j][q_size + kv_size + g * hd + d];
          }
        }
        naive::Attend(qkv[t].data() + head * hd, keys.data(), values.data(), t + 1, hd,
                      c.head_dim, scale, attn.data() + head * hd);
      }
      naive::MatVec(lw.o_proj.data(), nullptr, attn.data(), q_size, hidden, proj.data());
      for (int64_t i = 0; i < hidden; ++i) h[t][i] += proj[i];
      // MLP right away: it only depends on this position's residual.
      naive::RmsNorm(h[t].data(), lw.mlp_norm.data(), c.rms_norm_eps, hidden, normed.data());
      naive::MatVec(lw.gate_up.data(), nullptr, normed.data(), hidden, 2 * ff, gu.data());
      for (int64_t i = 0; i < ff; ++i) act[i] = naive::Silu(gu[i]) * gu[ff + i];
      naive::MatVec(lw.down_proj.data(), nullptr, act.data(), ff, hidden, proj.data());
      for (int64_t i = 0; i < hidden; ++i) h[t][i] += proj[i];
    }
  }
  std::vector<std::vector<double>> logits(n, std::vector<double>(c.vocab_size));
  for (int64_t t = 0; t < n; ++t) {
    naive::RmsNorm(h[t].data(), w.final_norm.data(), c.rms_norm_eps, hidden, normed.data());
    naive::MatVec(w.lm_head_data(), nullptr, normed.data(), hidden, c.vocab_size, logits[t].data());
  }
  return logits;
}

std::vector<double> ReferenceLastLogits(const ModelWeights& weights,
                                        absl::Span<const int32_t> tokens) {
  std::vector<std::vector<double>> all = ReferenceForward(weights, tokens);
  return all.empty() ? std::vector<double>() : std::move(all.back());
}

}  // namespace kvserve
