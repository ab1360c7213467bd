#include "engine/model/model_runner.h"

#include <omp.h>

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/model/paged_attention.h"

namespace kvserve {
namespace {

// Rows above this many tokens are worth splitting over the OpenMP pool.
constexpr int32_t kParallelRows = 8;

void RmsNormRows(const float* x, const float* gain, float eps, int32_t rows, int32_t dim,
                 float* out) {
#pragma omp parallel for schedule(static) if (rows > kParallelRows)
  for (int32_t r = 0; r < rows; ++r) {
    const float* in = x + int64_t{r} * dim;
    float* o = out + int64_t{r} * dim;
    float sum = 0;
    for (int32_t i = 0; i < dim; ++i) sum += in[i] * in[i];
    const float inv = 1.0f / std::sqrt(sum / dim + eps);
    for (int32_t i = 0; i < dim; ++i) o[i] = in[i] * inv * gain[i];
  }
}

// act[r][i] = silu(gate[r][i]) * up[r][i], where gate_up rows are [gate | up].
void SwiGlu(const float* gate_up, int32_t rows, int32_t ff, float* act) {
#pragma omp parallel for schedule(static) if (rows > kParallelRows)
  for (int32_t r = 0; r < rows; ++r) {
    const float* g = gate_up + int64_t{r} * 2 * ff;
    const float* u = g + ff;
    float* a = act + int64_t{r} * ff;
    for (int32_t i = 0; i < ff; ++i) a[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }
}

}  // namespace

ModelRunner::ModelRunner(std::shared_ptr<const ModelWeights> weights, Options options)
    : weights_(std::move(weights)),
      options_(options),
      engine_(dnnl::engine::kind::cpu, 0),
      stream_(engine_) {}

absl::StatusOr<std::unique_ptr<ModelRunner>> ModelRunner::Create(
    std::shared_ptr<const ModelWeights> weights, Options options) {
  if (weights == nullptr) return absl::InvalidArgumentError("ModelRunner needs weights");
  if (absl::Status s = weights->Validate(); !s.ok()) return s;
  if (options.max_batched_tokens <= 0 || options.max_num_seqs <= 0 || options.threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_batched_tokens and max_num_seqs must be > 0 and threads >= 0, got ",
        options.max_batched_tokens, ", ", options.max_num_seqs, " and ", options.threads));
  }
  std::unique_ptr<ModelRunner> runner(new ModelRunner(weights, options));
  const ModelConfig& c = weights->config;
  const int64_t qkv_rows = c.q_size() + 2 * c.kv_size();
  const LinearLayer::Options plain{.bf16_compute = options.bf16_matmul};
  const LinearLayer::Options residual{.accumulate = true, .bf16_compute = options.bf16_matmul};
  for (const LayerWeights& lw : weights->layers) {
    Layer layer;
    LinearLayer::Options qkv_options = plain;
    qkv_options.bias = lw.qkv_bias.empty() ? nullptr : lw.qkv_bias.data();
    auto qkv = LinearLayer::Create(runner->engine_, lw.qkv, qkv_options);
    auto o = LinearLayer::Create(runner->engine_, lw.o_proj, residual);
    auto gu = LinearLayer::Create(runner->engine_, lw.gate_up, plain);
    auto down = LinearLayer::Create(runner->engine_, lw.down_proj, residual);
    for (const auto* s : {&qkv, &o, &gu, &down}) {
      if (!s->ok()) return s->status();
    }
    layer.qkv = *std::move(qkv);
    layer.o_proj = *std::move(o);
    layer.gate_up = *std::move(gu);
    layer.down_proj = *std::move(down);
    runner->layers_.push_back(std::move(layer));
  }
  auto lm = LinearLayer::Create(runner->engine_, weights->lm_head_matrix(), plain);
  if (!lm.ok()) return lm.status();
  runner->lm_head_ = *std::move(lm);

  // RoPE tables, computed in double: angle(pos, i) = pos * theta^(-2i / head_dim).
  const int32_t half = c.head_dim / 2;
  runner->rope_cos_.resize(int64_t{c.max_context} * half);
  runner->rope_sin_.resize(int64_t{c.max_context} * half);
  for (int32_t pos = 0; pos < c.max_context; ++pos) {
    for (int32_t i = 0; i < half; ++i) {
      const double inv_freq = std::pow(static_cast<double>(c.rope_theta), -2.0 * i / c.head_dim);
      runner->rope_cos_[int64_t{pos} * half + i] = static_cast<float>(std::cos(pos * inv_freq));
      runner->rope_sin_[int64_t{pos} * half + i] = static_cast<float>(std::sin(pos * inv_freq));
    }
  }

  const int64_t t = options.max_batched_tokens;
  runner->hidden_.resize(t * c.hidden_size);
  runner->normed_.resize(t * c.hidden_size);
  runner->qkv_.resize(t * qkv_rows);
  runner->attn_.resize(t * c.q_size());
  runner->gate_up_.resize(t * 2 * c.intermediate_size);
  runner->act_.resize(t * c.intermediate_size);
  runner->positions_.resize(t);
  runner->last_.resize(int64_t{options.max_num_seqs} * c.hidden_size);
  runner->logits_.resize(int64_t{options.max_num_seqs} * c.vocab_size);
  return runner;
}

PageGeometry ModelRunner::KvGeometry(int32_t page_size) const {
  const ModelConfig& c = config();
  return PageGeometry{.page_size = page_size,
                      .num_layers = c.num_layers,
                      .num_kv_heads = c.num_kv_heads,
                      .head_dim = c.head_dim,
                      .kv_dtype = options_.kv_cache_dtype};
}

absl::Status ModelRunner::Validate(const BatchingKvCache& cache, const AttentionBatch& batch,
                                   absl::Span<const int32_t> tokens) const {
  const ModelConfig& c = config();
  if (batch.total_tokens > options_.max_batched_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("step has ", batch.total_tokens,
                                                   " tokens, max_batched_tokens is ",
                                                   options_.max_batched_tokens));
  }
  if (static_cast<int64_t>(batch.sequences.size()) > options_.max_num_seqs) {
    return absl::InvalidArgumentError(absl::StrCat("step has ", batch.sequences.size(),
                                                   " sequences, max_num_seqs is ",
                                                   options_.max_num_seqs));
  }
  if (static_cast<int64_t>(tokens.size()) != batch.total_tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        "step has ", batch.total_tokens, " tokens in its batch but ", tokens.size(), " token ids"));
  }
  for (int32_t id : tokens) {
    if (id < 0 || id >= c.vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", id, " is outside the vocabulary of ", c.vocab_size));
    }
  }
  const PageGeometry& g = cache.pool().geometry();
  if (g.num_layers != c.num_layers || g.num_kv_heads != c.num_kv_heads ||
      g.head_dim != c.head_dim) {
    return absl::InvalidArgumentError("the KV cache's page geometry does not match the model");
  }
  int64_t logit_rows = 0;
  for (const BatchSequence& s : batch.sequences) {
    if (s.logit_offset != logit_rows) {
      return absl::InvalidArgumentError(absl::StrCat("request ", s.id, " has logit_offset ",
                                                     s.logit_offset, ", expected ", logit_rows));
    }
    logit_rows += s.num_logit_rows();
  }
  if (logit_rows != batch.num_logit_rows) {
    return absl::InvalidArgumentError(absl::StrCat("step has num_logit_rows ", batch.num_logit_rows,
                                                   " but its sequences need ", logit_rows));
  }
  for (const BatchSequence& s : batch.sequences) {
    if (s.kv_len > c.max_context) {
      return absl::OutOfRangeError(absl::StrCat("request ", s.id, " reaches position ", s.kv_len,
                                                ", past the model's context of ", c.max_context));
    }
  }
  return absl::OkStatus();
}

void ModelRunner::ApplyRope(int32_t num_tokens) {
  const ModelConfig& c = config();
  const int32_t half = c.head_dim / 2;
  const int64_t row = c.q_size() + 2 * c.kv_size();
  const int32_t rotated_heads = c.num_heads + c.num_kv_heads;  // q heads, then k heads
#pragma omp parallel for schedule(static) if (num_tokens > kParallelRows)
  for (int32_t t = 0; t < num_tokens; ++t) {
    const float* cos = rope_cos_.data() + int64_t{positions_[t]} * half;
    const float* sin = rope_sin_.data() + int64_t{positions_[t]} * half;
    float* base = qkv_.data() + t * row;
    for (int32_t h = 0; h < rotated_heads; ++h) {
      float* v = base + int64_t{h} * c.head_dim;
      for (int32_t i = 0; i < half; ++i) {
        const float x1 = v[i], x2 = v[i + half];
        v[i] = x1 * cos[i] - x2 * sin[i];
        v[i + half] = x2 * cos[i] + x1 * sin[i];
      }
    }
  }
}

absl::StatusOr<absl::Span<const float>> ModelRunner::Step(BatchingKvCache& cache,
                                                          const AttentionBatch& batch,
                                                          absl::Span<const int32_t> tokens) {
  if (absl::Status s = Validate(cache, batch, tokens); !s.ok()) return s;
  if (options_.threads > 0 && omp_get_max_threads() != options_.threads) {
    omp_set_num_threads(options_.threads);
  }
  const ModelConfig& c = config();
  const ModelWeights& w = *weights_;
  const int32_t n = batch.total_tokens;
  const int32_t num_seqs = static_cast<int32_t>(batch.sequences.size());
  if (n == 0) return absl::Span<const float>();
  const int64_t hidden = c.hidden_size;
  const int64_t qkv_row = c.q_size() + 2 * c.kv_size();

  for (const BatchSequence& s : batch.sequences) {
    for (int32_t i = 0; i < s.q_len; ++i) positions_[s.token_offset + i] = s.q_start + i;
  }
  for (int32_t t = 0; t < n; ++t) w.embedding.RowToF32(tokens[t], &hidden_[t * hidden]);
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  for (int32_t l = 0; l < c.num_layers; ++l) {
    const LayerWeights& lw = w.layers[l];
    Layer& layer = layers_[l];
    RmsNormRows(hidden_.data(), lw.attn_norm.data(), c.rms_norm_eps, n, c.hidden_size,
                normed_.data());
    layer.qkv.Run(stream_, normed_.data(), n, qkv_.data());
    ApplyRope(n);
    for (const BatchSequence& s : batch.sequences) {
      const float* row = qkv_.data() + int64_t{s.token_offset} * qkv_row;
      absl::Status st =
          cache.Append(s.id, l, absl::MakeConstSpan(&positions_[s.token_offset], s.q_len),
                       row + c.q_size(), row + c.q_size() + c.kv_size(), qkv_row);
      if (!st.ok()) return st;
    }
    PagedAttention(batch, cache.pool(), l, c.num_heads, qkv_.data(), qkv_row, attn_.data(),
                   c.q_size(), scale);
    layer.o_proj.Run(stream_, attn_.data(), n, hidden_.data());  // hidden += attn · Woᵀ
    RmsNormRows(hidden_.data(), lw.mlp_norm.data(), c.rms_norm_eps, n, c.hidden_size,
                normed_.data());
    layer.gate_up.Run(stream_, normed_.data(), n, gate_up_.data());
    SwiGlu(gate_up_.data(), n, c.intermediate_size, act_.data());
    layer.down_proj.Run(stream_, act_.data(), n, hidden_.data());  // hidden += act · Wdownᵀ
  }
  // Logits only where asked: each sequence's last new token, or every new token of an all_logits
  // sequence (one contiguous run of hidden rows). Rows in batch order.
  int32_t rows = 0;
  for (const BatchSequence& s : batch.sequences) {
    const int32_t first = s.all_logits ? s.token_offset : s.token_offset + s.q_len - 1;
    const int32_t count = s.num_logit_rows();
    std::memcpy(&normed_[int64_t{rows} * hidden], &hidden_[int64_t{first} * hidden],
                sizeof(float) * hidden * count);
    rows += count;
  }
  if (rows > num_seqs) GrowLogitRows(rows);  // all_logits only: ≤ total_tokens ≤ normed_'s rows
  RmsNormRows(normed_.data(), w.final_norm.data(), c.rms_norm_eps, rows, c.hidden_size,
              last_.data());
  lm_head_.Run(stream_, last_.data(), rows, logits_.data());
  stream_.wait();
  return absl::MakeConstSpan(logits_.data(), int64_t{rows} * c.vocab_size);
}

void ModelRunner::GrowLogitRows(int32_t rows) {
  const ModelConfig& c = config();
  if (int64_t{rows} * c.hidden_size > static_cast<int64_t>(last_.size())) {
    last_.resize(int64_t{rows} * c.hidden_size);
  }
  if (int64_t{rows} * c.vocab_size > static_cast<int64_t>(logits_.size())) {
    logits_.resize(int64_t{rows} * c.vocab_size);
  }
}

}  // namespace kvserve
