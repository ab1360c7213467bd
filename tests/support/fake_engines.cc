#include "tests/support/fake_engines.h"

#include <algorithm>
#include <vector>

namespace kvserve {
namespace {

constexpr int32_t kMaxRows = 256;  // more sequences than any test batches

// Row `row` of `logits`, growing it (all_logits steps can ask for more than kMaxRows rows).
float* LogitRow(std::vector<float>* logits, int64_t row, int32_t vocab) {
  if ((row + 1) * vocab > static_cast<int64_t>(logits->size())) logits->resize((row + 1) * vocab);
  return logits->data() + row * vocab;
}

}  // namespace

HistoryHashEngine::HistoryHashEngine() {
  config_ = *PresetConfig("micro");
  logits_.resize(kMaxRows * kFakeVocab);
}

PageGeometry HistoryHashEngine::KvGeometry(int32_t page_size) const {
  return {.page_size = page_size, .num_layers = 1, .num_kv_heads = 1, .head_dim = kDim};
}

absl::StatusOr<absl::Span<const float>> HistoryHashEngine::Step(BatchingKvCache& cache,
                                                                const AttentionBatch& batch,
                                                                absl::Span<const int32_t> tokens) {
  StepRecord record;
  record.total_tokens = batch.total_tokens;
  for (size_t s = 0; s < batch.sequences.size(); ++s) {
    const BatchSequence& seq = batch.sequences[s];
    record.chunks.push_back({seq.id, seq.q_len});
    std::vector<int32_t> positions;
    std::vector<float> kv(seq.q_len * kDim, 0.0f);
    for (int32_t i = 0; i < seq.q_len; ++i) {
      positions.push_back(seq.q_start + i);
      kv[i * kDim] = static_cast<float>(tokens[seq.token_offset + i]);
    }
    if (absl::Status st = cache.Append(seq.id, 0, positions, kv.data(), kv.data()); !st.ok()) {
      return st;
    }
    // FNV-1a over the history read back from the pages; a row after every position that needs
    // logits (the last one, or each new one for all_logits).
    const int32_t first_row_position = seq.kv_len - seq.num_logit_rows();
    uint64_t h = 1469598103934665603ULL;
    for (int32_t p = 0; p < seq.kv_len; ++p) {
      const float* key = cache.pool().key_block(seq.page_table[p / batch.page_size], 0, 0);
      const auto t = static_cast<int32_t>(key[(p % batch.page_size) * kDim]);
      h = (h ^ static_cast<uint64_t>(t)) * 1099511628211ULL;
      if (p < first_row_position) continue;
      float* row =
          LogitRow(&logits_, int64_t{seq.logit_offset} + (p - first_row_position), kFakeVocab);
      for (int32_t v = 0; v < kFakeVocab; ++v) row[v] = static_cast<float>((h >> (v % 48)) & 7);
      row[h % 250] = 20.0f;  // a clear argmax that is never EOS (257)
    }
  }
  steps.push_back(record);
  return absl::MakeConstSpan(logits_.data(), int64_t{batch.num_logit_rows} * kFakeVocab);
}

FixedTokenEngine::FixedTokenEngine(absl::Time* clock, absl::Duration step_time, int32_t token)
    : clock_(clock), step_time_(step_time) {
  config_ = *PresetConfig("micro");
  logits_.assign(kMaxRows * kFakeVocab, 0.0f);
  for (int s = 0; s < kMaxRows; ++s) logits_[s * kFakeVocab + token] = 10.0f;
}

PageGeometry FixedTokenEngine::KvGeometry(int32_t page_size) const {
  return {.page_size = page_size, .num_layers = 1, .num_kv_heads = 1, .head_dim = 16};
}

absl::StatusOr<absl::Span<const float>> FixedTokenEngine::Step(BatchingKvCache&,
                                                               const AttentionBatch& batch,
                                                               absl::Span<const int32_t> tokens) {
  if (clock_ != nullptr) *clock_ += step_time_;
  batched_tokens += static_cast<int64_t>(tokens.size());
  for (int64_t r = kMaxRows; r < batch.num_logit_rows; ++r) {  // every row is the same
    float* row = LogitRow(&logits_, r, kFakeVocab);  // may move logits_: take the row first
    std::copy_n(logits_.data(), kFakeVocab, row);
  }
  return absl::MakeConstSpan(logits_.data(), int64_t{batch.num_logit_rows} * kFakeVocab);
}

}  // namespace kvserve
