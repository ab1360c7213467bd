#include "engine/lab/reference_model.h"

#include <cmath>

#include "engine/lab/naive_ops.h"

namespace kvserve {

std::vector<std::vector<double>> ReferenceForward(const ModelWeights& w,
                                                  absl::Span<const int32_t> tokens) {
  const ModelConfig& c = w.config;
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t hidden = c.hidden_size, hd = c.head_dim;
  const int64_t q_size = c.q_size(), kv_size = c.kv_size(), qkv_rows = q_size + 2 * kv_size;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));

  std::vector<std::vector<double>> h(n, std::vector<double>(hidden));
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < hidden; ++i) h[t][i] = w.embedding.At(tokens[t], i);
  }
  naive::RowScratch<double> scratch(c);
  std::vector<double> attn(q_size);
  for (const LayerWeights& lw : w.layers) {
    // Q, K, V of every position, RoPE'd.
    std::vector<std::vector<double>> qkv(n, std::vector<double>(qkv_rows));
    for (int64_t t = 0; t < n; ++t) {
      naive::QkvRow(c, lw, h[t].data(), static_cast<int32_t>(t), scratch, qkv[t].data());
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
        naive::Attend(qkv[t].data() + head * hd, keys.data(), values.data(), t + 1, hd, c.head_dim,
                      scale, attn.data() + head * hd);
      }
      // The MLP right away: it only depends on this position's residual.
      naive::OutputAndMlpRow(c, lw, attn.data(), scratch, h[t].data());
    }
  }
  std::vector<std::vector<double>> logits(n, std::vector<double>(c.vocab_size));
  for (int64_t t = 0; t < n; ++t) naive::LogitsRow(w, h[t].data(), scratch, logits[t].data());
  return logits;
}

std::vector<double> ReferenceLastLogits(const ModelWeights& weights,
                                        absl::Span<const int32_t> tokens) {
  std::vector<std::vector<double>> all = ReferenceForward(weights, tokens);
  return all.empty() ? std::vector<double>() : std::move(all.back());
}

}  // namespace kvserve
