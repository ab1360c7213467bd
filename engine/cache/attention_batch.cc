#include "engine/cache/attention_batch.h"

namespace kvserve {

std::vector<int64_t> AttentionBatch::VisibleSlots(int32_t row) const {
  std::vector<int64_t> slots;
  for (const BatchSequence& seq : sequences) {
    if (row < seq.token_offset || row >= seq.token_offset + seq.q_len) continue;
    const int32_t visible = seq.VisibleLength(row - seq.token_offset);
    slots.reserve(visible);
    for (int32_t p = 0; p < visible; ++p) {
      slots.push_back(int64_t{seq.page_table[p / page_size]} * page_size + p % page_size);
    }
  }
  return slots;
}

}  // namespace kvserve
