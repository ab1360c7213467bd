// SplitMix64: a fast, well-mixed 64-bit hash of a counter. The engine's deterministic randomness
// (synthetic weights, server-chosen seeds) is built on it, so it never depends on a standard
// library's generator. Pure function; any thread.
#ifndef KVSERVE_ENGINE_BASE_SPLIT_MIX_H_
#define KVSERVE_ENGINE_BASE_SPLIT_MIX_H_

#include <cstdint>

namespace kvserve {

inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_BASE_SPLIT_MIX_H_
