// Safetensors: the header parser and dtype conversion for Hugging Face `*.safetensors` files.
//
// File layout: 8 bytes little-endian u64 N, then N bytes of JSON header, then the data section.
// The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the data section) plus an optional "__metadata__" object.
//
// ParseSafetensorsHeader is the untrusted-input boundary (it is the fuzzing entry point): it takes
// the whole file as bytes and guarantees, if it returns OK, that for every tensor
//   * dtype is a known safetensors dtype and shape has non-negative dimensions;
//   * end - begin == element count * element size, computed without overflow;
//   * [begin, end) lies inside the file's data section (so reading it is never out of bounds);
//   * no two tensors overlap and the tensors cover the data section with no holes (the format's
//     rule against polyglot files; a truncated file or a header that lies fails here).
// Every error names the file and, where there is one, the tensor. The parser never reads outside
// `file_bytes` and never throws.
//
// Threads: pure functions; call them from any thread.
#ifndef KVSERVE_ENGINE_CHECKPOINT_SAFETENSORS_H_
#define KVSERVE_ENGINE_CHECKPOINT_SAFETENSORS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/base/half_float.h"  // HalfToFloat, Bfloat16ToFloat (the conversions used here)

namespace kvserve {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;  // as written: "F32", "F16", "BF16", "I64", ...
  int32_t element_size = 0;
  std::vector<int64_t> shape;
  int64_t num_elements = 0;
  // Absolute byte offsets into the file: [begin, end).
  uint64_t begin = 0;
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<SafetensorsTensor> tensors;           // sorted by begin offset
  absl::flat_hash_map<std::string, int32_t> index;  // name → position in `tensors`

  // nullptr if there is no tensor called `name`.
  const SafetensorsTensor* Find(absl::string_view name) const;
};

// The header of the safetensors file whose complete contents are `file_bytes`. `file_name` is
// only used in error messages. INVALID_ARGUMENT (naming file and tensor) for anything malformed.
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(absl::string_view file_bytes,
                                                         absl::string_view file_name);

// Whether ConvertToF32 accepts `dtype` ("F32", "F16", "BF16").
bool IsFloatDtype(absl::string_view dtype);

// Writes the values of `tensor` (from the same `file_bytes` it was parsed from) as fp32 into `out`,
// which must have tensor.num_elements floats. INVALID_ARGUMENT naming tensor and file if the dtype
// is not F32, F16 or BF16, or if `out` has the wrong size.
absl::Status ConvertToF32(const SafetensorsTensor& tensor, absl::string_view file_bytes,
                          absl::string_view file_name, absl::Span<float> out);

// The same into 16-bit patterns: bfloat16 (`bf16`) or IEEE binary16. A tensor already in that
// dtype is copied bit for bit; others are rounded to nearest even (through fp32, exact on the way).
absl::Status ConvertToHalf(const SafetensorsTensor& tensor, absl::string_view file_bytes,
                           absl::string_view file_name, bool bf16, absl::Span<uint16_t> out);

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_CHECKPOINT_SAFETENSORS_H_
