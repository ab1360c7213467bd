#include "engine/model/model_weights.h"

#include <cmath>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/base/split_mix.h"

namespace kvserve {
namespace {

class WeightFiller {
 public:
  explicit WeightFiller(uint64_t seed) : state_(SplitMix64(seed)) {}

  // Approximately normal(0, stddev): a sum of four uniforms, rescaled (cheap and deterministic).
  std::vector<float> Normal(int64_t n, double stddev) {
    std::vector<float> out(n);
    const double scale = stddev * std::sqrt(3.0);  // Var(sum of 4 U(-1,1)) = 4/3
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int j = 0; j < 4; ++j) s += Uniform() * 2.0 - 1.0;
      out[i] = static_cast<float>(s * scale / 2.0);
    }
    return out;
  }
  // 1 + normal(0, stddev): norm gains.
  std::vector<float> AroundOne(int64_t n, double stddev) {
    std::vector<float> out = Normal(n, stddev);
    for (float& v : out) v += 1.0f;
    return out;
  }

 private:
  double Uniform() { return static_cast<double>(SplitMix64(state_++) >> 11) * 0x1.0p-53; }
  uint64_t state_;
};

absl::Status CheckSize(const std::vector<float>& t, int64_t want, const std::string& name) {
  if (static_cast<int64_t>(t.size()) != want) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", name, " has ", t.size(), " values, the config needs ", want));
  }
  return absl::OkStatus();
}

absl::Status CheckMatrix(const WeightMatrix& m, int64_t rows, int64_t cols, FloatDtype dtype,
                         const std::string& name) {
  if (m.rows() != rows || m.cols() != cols) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", name, " is [", m.rows(), "][",
                                                   m.cols(), "], the config needs [", rows, "][",
                                                   cols, "]"));
  }
  if (m.dtype() != dtype) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", name, " is ", FloatDtypeName(m.dtype()), ", the embedding ",
                     FloatDtypeName(dtype), ": every matrix must have one dtype"));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t ModelWeights::num_parameters() const {
  int64_t n = embedding.size() + lm_head.size() + static_cast<int64_t>(final_norm.size());
  for (const LayerWeights& l : layers) {
    n += l.qkv.size() + l.o_proj.size() + l.gate_up.size() + l.down_proj.size() +
         static_cast<int64_t>(l.attn_norm.size() + l.qkv_bias.size() + l.mlp_norm.size());
  }
  return n;
}

int64_t ModelWeights::num_bytes() const {
  int64_t n = embedding.bytes() + lm_head.bytes() + 4 * static_cast<int64_t>(final_norm.size());
  for (const LayerWeights& l : layers) {
    n += l.qkv.bytes() + l.o_proj.bytes() + l.gate_up.bytes() + l.down_proj.bytes() +
         4 * static_cast<int64_t>(l.attn_norm.size() + l.qkv_bias.size() + l.mlp_norm.size());
  }
  return n;
}

void ModelWeights::ConvertMatrices(FloatDtype dtype) {
  auto convert = [dtype](WeightMatrix& m) {
    if (m.dtype() != dtype) m = m.ConvertedTo(dtype);
  };
  convert(embedding);
  convert(lm_head);
  for (LayerWeights& l : layers) {
    for (WeightMatrix* m : {&l.qkv, &l.o_proj, &l.gate_up, &l.down_proj}) convert(*m);
  }
}

absl::Status ModelWeights::Validate() const {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  const int64_t h = config.hidden_size, v = config.vocab_size, ff = config.intermediate_size;
  const int64_t qkv_rows = config.q_size() + 2 * config.kv_size();
  const FloatDtype dtype = embedding.dtype();
  if (absl::Status s = CheckMatrix(embedding, v, h, dtype, "embedding"); !s.ok()) return s;
  if (absl::Status s = CheckSize(final_norm, h, "final_norm"); !s.ok()) return s;
  if (!config.tie_word_embeddings) {
    if (absl::Status s = CheckMatrix(lm_head, v, h, dtype, "lm_head"); !s.ok()) return s;
  }
  if (static_cast<int32_t>(layers.size()) != config.num_layers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weights have ", layers.size(), " layers, the config needs ", config.num_layers));
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerWeights& l = layers[i];
    const std::string p = absl::StrCat("layers.", i, ".");
    for (auto [t, want, name] :
         {std::tuple{&l.attn_norm, h, "attn_norm"}, {&l.mlp_norm, h, "mlp_norm"}}) {
      if (absl::Status s = CheckSize(*t, want, p + name); !s.ok()) return s;
    }
    for (auto [m, rows, cols, name] : {std::tuple{&l.qkv, qkv_rows, h, "qkv"},
                                       {&l.o_proj, h, int64_t{config.q_size()}, "o_proj"},
                                       {&l.gate_up, 2 * ff, h, "gate_up"},
                                       {&l.down_proj, h, ff, "down_proj"}}) {
      if (absl::Status s = CheckMatrix(*m, rows, cols, dtype, p + name); !s.ok()) return s;
    }
    if (!l.qkv_bias.empty()) {
      if (absl::Status s = CheckSize(l.qkv_bias, qkv_rows, p + "qkv_bias"); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelWeights> MakeSyntheticWeights(const ModelConfig& config, uint64_t seed) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  WeightFiller fill(seed);
  const int64_t h = config.hidden_size, v = config.vocab_size, ff = config.intermediate_size;
  const int64_t qkv_rows = config.q_size() + 2 * config.kv_size();
  // Residual branches are scaled by 1/sqrt(2 * layers) so the residual stream stays O(1).
  const double branch = 1.0 / std::sqrt(2.0 * config.num_layers);
  ModelWeights w;
  w.config = config;
  w.embedding = WeightMatrix(fill.Normal(v * h, 1.0), v, h);
  w.layers.resize(config.num_layers);
  for (LayerWeights& l : w.layers) {
    l.attn_norm = fill.AroundOne(h, 0.1);
    // q/k at 1.5/sqrt(hidden) make attention scores spread over a few units: not uniform, not
    // one-hot.
    l.qkv = WeightMatrix(fill.Normal(qkv_rows * h, 1.5 / std::sqrt(static_cast<double>(h))),
                         qkv_rows, h);
    l.o_proj = WeightMatrix(fill.Normal(h * config.q_size(), branch / std::sqrt(config.q_size())),
                            h, config.q_size());
    l.mlp_norm = fill.AroundOne(h, 0.1);
    l.gate_up =
        WeightMatrix(fill.Normal(2 * ff * h, 1.0 / std::sqrt(static_cast<double>(h))), 2 * ff, h);
    l.down_proj =
        WeightMatrix(fill.Normal(h * ff, 2.0 * branch / std::sqrt(static_cast<double>(ff))), h, ff);
  }
  w.final_norm = fill.AroundOne(h, 0.1);
  if (!config.tie_word_embeddings) {
    // Logit spread of about 3: varied greedy paths, sampling that is neither flat nor one-hot.
    std::vector<float> lm_head = fill.Normal(v * h, 3.0 / std::sqrt(static_cast<double>(h)));
    // With a byte vocabulary, damp the rows of tokens that are not printable ASCII (control bytes,
    // bytes >= 128 that would form invalid UTF-8, BOS/EOS/PAD): the demo text then reads as
    // characters instead of replacement marks, and EOS stays rare so lengths are predictable.
    for (int64_t token = 0; token < v; ++token) {
      const bool printable = token < 256 && ((token >= 32 && token < 127) || token == '\n');
      if (printable) continue;
      for (int64_t i = 0; i < h; ++i) lm_head[token * h + i] *= 0.2f;
    }
    w.lm_head = WeightMatrix(std::move(lm_head), v, h);
  }
  return w;
}

}  // namespace kvserve
