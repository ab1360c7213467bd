#include "engine/lab/cached_generation.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "engine/lab/full_kv_cache.h"
#include "engine/lab/naive_ops.h"
#include "engine/lab/preallocated_kv_cache.h"

namespace kvserve {
namespace {

// The K/V of every layer of one sequence, behind either cache type.
class LayerCaches {
 public:
  LayerCaches(const ModelConfig& c, KvCacheMode mode) : config_(c), mode_(mode) {
    for (int32_t l = 0; l < c.num_layers; ++l) {
      if (mode == KvCacheMode::kPreallocated) {
        preallocated_.push_back(
            *PreallocatedKvCache::Create(c.max_context, c.num_kv_heads, c.head_dim));
      } else {
        full_.emplace_back();
      }
    }
  }

  // Stores K/V rows ([n][kv_heads][head_dim]) of positions [start, start + n) for `layer`, then
  // calls visit(keys, values, stride) where head g's key of position p is keys[g*hd + p*stride]
  // (fully general pointers into the cache's storage).
  template <typename Visit>
  absl::Status UpdateAndVisit(int32_t layer, const std::vector<float>& k,
                              const std::vector<float>& v, int64_t start, int64_t n, Visit visit) {
    const int64_t kvh = config_.num_kv_heads, hd = config_.head_dim;
    if (mode_ == KvCacheMode::kPreallocated) {
      PreallocatedKvCache& cache = preallocated_[layer];
      if (absl::Status s = cache.Update(k, v, start); !s.ok()) return s;
      absl::StatusOr<KvView> view = cache.Get(cache.length());
      if (!view.ok()) return view.status();
      // [pos][kv_head][hd]: head g starts at g*hd, positions kvh*hd apart.
      visit([&](int64_t g) { return view->key.data() + g * hd; },
            [&](int64_t g) { return view->value.data() + g * hd; }, kvh * hd);
      return absl::OkStatus();
    }
    // FullKvCache takes [1][kv_heads][n][hd].
    std::vector<float> kt(kvh * n * hd), vt(kvh * n * hd);
    for (int64_t p = 0; p < n; ++p) {
      for (int64_t g = 0; g < kvh; ++g) {
        std::copy_n(&k[(p * kvh + g) * hd], hd, &kt[(g * n + p) * hd]);
        std::copy_n(&v[(p * kvh + g) * hd], hd, &vt[(g * n + p) * hd]);
      }
    }
    absl::StatusOr<KvTensor> key = KvTensor::FromVector(1, kvh, n, hd, std::move(kt));
    absl::StatusOr<KvTensor> value = KvTensor::FromVector(1, kvh, n, hd, std::move(vt));
    if (!key.ok()) return key.status();
    if (!value.ok()) return value.status();
    absl::StatusOr<KvFetch> all = full_[layer].UpdateAndFetch(*key, *value);
    if (!all.ok()) return all.status();
    visit([&](int64_t g) { return all->key.row(0, g).data(); },
          [&](int64_t g) { return all->value.row(0, g).data(); }, hd);
    return absl::OkStatus();
  }

 private:
  const ModelConfig& config_;
  KvCacheMode mode_;
  std::vector<FullKvCache> full_;
  std::vector<PreallocatedKvCache> preallocated_;
};

// Feeds tokens[start..] (positions start, start+1, ...) through the model, storing their K/V in
// `caches`, and returns the logits after the last one.
absl::StatusOr<std::vector<float>> Forward(const ModelWeights& w, absl::Span<const int32_t> tokens,
                                           int64_t start, LayerCaches& caches,
                                           GenerationTrace& trace) {
  const ModelConfig& c = w.config;
  const int64_t n = static_cast<int64_t>(tokens.size()) - start;
  const int64_t hidden = c.hidden_size, hd = c.head_dim;
  const int64_t q_size = c.q_size(), kv_size = c.kv_size(), qkv_rows = q_size + 2 * kv_size;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<std::vector<float>> h(n, std::vector<float>(hidden));
  for (int64_t t = 0; t < n; ++t) {
    w.embedding.RowToF32(tokens[start + t], h[t].data());
  }
  naive::RowScratch<float> scratch(c);
  std::vector<float> qkv(qkv_rows), attn(q_size);
  std::vector<std::vector<float>> q(n, std::vector<float>(q_size));
  std::vector<float> k(n * kv_size), v(n * kv_size);
  for (const LayerWeights& lw : w.layers) {
    const int32_t layer = static_cast<int32_t>(&lw - w.layers.data());
    for (int64_t t = 0; t < n; ++t) {
      naive::QkvRow(c, lw, h[t].data(), static_cast<int32_t>(start + t), scratch, qkv.data());
      std::copy_n(qkv.data(), q_size, q[t].data());
      std::copy_n(qkv.data() + q_size, kv_size, &k[t * kv_size]);
      std::copy_n(qkv.data() + q_size + kv_size, kv_size, &v[t * kv_size]);
    }
    absl::Status status = caches.UpdateAndVisit(
        layer, k, v, start, n, [&](auto keys_of, auto values_of, int64_t stride) {
          for (int64_t t = 0; t < n; ++t) {
            const int64_t visible = start + t + 1;
            for (int32_t head = 0; head < c.num_heads; ++head) {
              const int64_t g = head / c.group_size();
              naive::Attend(q[t].data() + head * hd, keys_of(g), values_of(g), visible, stride,
                            c.head_dim, scale, attn.data() + head * hd);
              trace.attention_scores += visible;
            }
            if (layer == 0) ++trace.attention_ops;  // per query position, not per layer
            naive::OutputAndMlpRow(c, lw, attn.data(), scratch, h[t].data());
          }
        });
    if (!status.ok()) return status;
  }
  std::vector<float> logits(c.vocab_size);
  naive::LogitsRow(w, h[n - 1].data(), scratch, logits.data());
  ++trace.forward_steps;
  return logits;
}

}  // namespace

absl::StatusOr<GenerationTrace> GenerateGreedy(const ModelWeights& weights,
                                               absl::Span<const int32_t> prompt,
                                               int32_t max_new_tokens, KvCacheMode mode) {
  const ModelConfig& c = weights.config;
  if (prompt.empty()) return absl::InvalidArgumentError("prompt: must not be empty");
  for (int32_t id : prompt) {
    if (id < 0 || id >= c.vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("prompt: token id ", id, " is outside the vocabulary of ", c.vocab_size));
    }
  }
  if (max_new_tokens < 0 || static_cast<int64_t>(prompt.size()) + max_new_tokens > c.max_context) {
    return absl::InvalidArgumentError(absl::StrCat("prompt (", prompt.size(),
                                                   ") + max_new_tokens (", max_new_tokens,
                                                   ") must be within max_context ", c.max_context));
  }
  GenerationTrace trace;
  std::vector<int32_t> sequence(prompt.begin(), prompt.end());
  std::optional<LayerCaches> persistent;
  if (mode != KvCacheMode::kNone) persistent.emplace(c, mode);
  int64_t computed = 0;  // positions whose K/V the persistent cache holds
  while (static_cast<int32_t>(trace.tokens.size()) < max_new_tokens) {
    absl::StatusOr<std::vector<float>> logits;
    if (persistent) {
      logits = Forward(weights, sequence, computed, *persistent, trace);
      computed = static_cast<int64_t>(sequence.size());
    } else {
      LayerCaches scratch(c, KvCacheMode::kFull);  // recompute everything from position 0
      logits = Forward(weights, sequence, 0, scratch, trace);
    }
    if (!logits.ok()) return logits.status();
    const int32_t next =
        static_cast<int32_t>(std::max_element(logits->begin(), logits->end()) - logits->begin());
    trace.tokens.push_back(next);
    sequence.push_back(next);
  }
  return trace;
}

}  // namespace kvserve
