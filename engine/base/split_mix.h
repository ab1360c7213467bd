// SplitMix64: a fast, well-mixed 64-bit hash of a counter. The engine's deterministic randomness
// (synthetic weights, server-chosen seeds) is built on it, so it never depends on a standard
// library's generator. Pure function; any thread.
#ifndef KVSERVE_ENGINE_BASE_SPLIT_MIX_H_
#define KVSERVE_ENGINE_BASE_SPLIT_MIX_H_

#include <cstdint>

namespace kvserve {

// SplitMix64's increment (the golden ratio in 64 bits).
inline constexpr uint64_t kSplitMixGamma = 0x9e3779b97f4a7c15ULL;

// SplitMix64's output function (Stafford's "Mix13"): a bijective mix of one 64-bit state.
inline uint64_t SplitMixFinalize(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The output of a SplitMix64 generator whose state was x, after one step.
inline uint64_t SplitMix64(uint64_t x) { return SplitMixFinalize(x + kSplitMixGamma); }

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_BASE_SPLIT_MIX_H_
