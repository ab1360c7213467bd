// ReferenceModel: the plain, obviously-correct forward pass used by tests as ground truth.
//
// Double-precision accumulation everywhere, no KV cache: every call recomputes every position of
// the sequence from the token ids (attention over the whole prefix, causal). Slow by design
// (O(n²) attention, scalar loops); use the "micro" preset or short sequences of "tiny".
//
// Threads: pure functions of their arguments; safe from any thread.
#ifndef KVSERVE_ENGINE_LAB_REFERENCE_MODEL_H_
#define KVSERVE_ENGINE_LAB_REFERENCE_MODEL_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "engine/model/model_weights.h"

namespace kvserve {

// Logits for every position of `tokens`: [tokens.size()][vocab].
std::vector<std::vector<double>> ReferenceForward(const ModelWeights& weights,
                                                  absl::Span<const int32_t> tokens);

// Logits after the last token only.
std::vector<double> ReferenceLastLogits(const ModelWeights& weights,
                                        absl::Span<const int32_t> tokens);

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_LAB_REFERENCE_MODEL_H_
