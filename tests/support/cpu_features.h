// Test helper: what this CPU lets oneDNN do, for tests of paths that need it (they skip, saying
// why, rather than fail on a machine without it).
//
// Threads: pure functions.
#ifndef KVSERVE_TESTS_SUPPORT_CPU_FEATURES_H_
#define KVSERVE_TESTS_SUPPORT_CPU_FEATURES_H_

#include "oneapi/dnnl/dnnl.hpp"

namespace kvserve::testing {

// oneDNN 2.6 implements bf16 matmul from AVX-512 (avx512_core) up; below it creating one fails.
inline bool OneDnnHasBf16Matmul() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto avx512 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core);
  return (isa & avx512) == avx512;
}

}  // namespace kvserve::testing

#endif  // KVSERVE_TESTS_SUPPORT_CPU_FEATURES_H_
