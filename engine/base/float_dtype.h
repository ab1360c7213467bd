// FloatDtype: how a tensor's floats are stored — fp32, bfloat16 or IEEE binary16 — for weight
// matrices (engine/model/weight_matrix.h) and KV pages (engine/cache/page_pool.h) alike.
// Conversions between them are in half_float.h. Pure functions; any thread.
#ifndef KVSERVE_ENGINE_BASE_FLOAT_DTYPE_H_
#define KVSERVE_ENGINE_BASE_FLOAT_DTYPE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace kvserve {

enum class FloatDtype : uint8_t { kF32, kBF16, kF16 };

// "f32", "bf16", "f16".
inline absl::string_view FloatDtypeName(FloatDtype dtype) {
  switch (dtype) {
    case FloatDtype::kF32:
      return "f32";
    case FloatDtype::kBF16:
      return "bf16";
    case FloatDtype::kF16:
      return "f16";
  }
  return "?";
}

// The inverse of FloatDtypeName; INVALID_ARGUMENT naming the accepted spellings otherwise.
inline absl::StatusOr<FloatDtype> ParseFloatDtype(absl::string_view name) {
  for (FloatDtype d : {FloatDtype::kF32, FloatDtype::kBF16, FloatDtype::kF16}) {
    if (name == FloatDtypeName(d)) return d;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("dtype must be f32, bf16 or f16, got '", name, "'"));
}

inline int32_t FloatDtypeBytes(FloatDtype dtype) { return dtype == FloatDtype::kF32 ? 4 : 2; }

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_BASE_FLOAT_DTYPE_H_
