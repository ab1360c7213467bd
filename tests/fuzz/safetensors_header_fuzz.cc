// safetensors_header_fuzz: ParseSafetensorsHeader (engine/checkpoint/safetensors.h) on arbitrary
// files.
//
// Input, by its first byte:
//   * even: the rest is a whole safetensors file, as is (length prefix, header, data);
//   * odd:  the rest is "JSON header \0 data section"; the target writes the 8-byte length prefix
//           itself, so the fuzzer spends its mutations on the JSON rather than on a length that
//           almost never matches.
// Properties (the promises of safetensors.h), abort on violation:
//   * refused → INVALID_ARGUMENT whose message names the file;
//   * accepted → every tensor has a float or integer dtype of a known size, non-negative shape,
//     end - begin == num_elements * element_size, [begin, end) inside the data section; tensors are
//     sorted by begin, do not overlap and cover the data section with no hole; `index` and Find()
//     agree with `tensors`; ConvertToF32 of every float tensor succeeds (reading the bytes, which
//     ASan checks stay inside the file) and refuses a wrong-sized output.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "engine/checkpoint/safetensors.h"
#include "tests/fuzz/fuzz_check.h"

namespace kvserve {
namespace {

constexpr absl::string_view kFileName = "fuzz/model.safetensors";

std::string FileFromInput(const uint8_t* data, size_t size) {
  if (size == 0) return "";
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) return std::string(rest);
  const size_t split = rest.find('\0');
  const absl::string_view header = rest.substr(0, split);
  const absl::string_view body =
      split == absl::string_view::npos ? absl::string_view() : rest.substr(split + 1);
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) {
    file[i] = static_cast<char>((static_cast<uint64_t>(header.size()) >> (8 * i)) & 0xFF);
  }
  file.append(header.data(), header.size());
  file.append(body.data(), body.size());
  return file;
}

void CheckAccepted(const SafetensorsHeader& header, absl::string_view file) {
  FUZZ_CHECK(file.size() >= 8, "accepted a ", file.size(), "-byte file");
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<uint8_t>(file[i]);
  FUZZ_CHECK(header_size <= file.size() - 8, "header of ", header_size, " bytes in a ", file.size(),
             "-byte file");
  const uint64_t data_begin = 8 + header_size;
  uint64_t expected_begin = data_begin;  // no holes, no overlaps, sorted
  FUZZ_CHECK(header.index.size() == header.tensors.size(), "index has ", header.index.size(),
             " names for ", header.tensors.size(), " tensors");
  for (size_t i = 0; i < header.tensors.size(); ++i) {
    const SafetensorsTensor& t = header.tensors[i];
    FUZZ_CHECK(
        t.element_size == 1 || t.element_size == 2 || t.element_size == 4 || t.element_size == 8,
        t.name, ": element size ", t.element_size);
    int64_t elements = 1;
    for (int64_t d : t.shape) {
      FUZZ_CHECK(d >= 0, t.name, ": dimension ", d);
      FUZZ_CHECK(d == 0 || elements <= INT64_MAX / d, t.name, ": element count overflows");
      elements *= d;
    }
    FUZZ_CHECK(elements == t.num_elements, t.name, ": ", t.num_elements, " elements, shape says ",
               elements);
    FUZZ_CHECK(t.begin == expected_begin, t.name, " begins at ", t.begin, ", expected ",
               expected_begin);
    FUZZ_CHECK(t.end >= t.begin && t.end <= file.size(), t.name, ": [", t.begin, ", ", t.end,
               ") outside the ", file.size(), "-byte file");
    FUZZ_CHECK(t.end - t.begin == static_cast<uint64_t>(t.num_elements) * t.element_size, t.name,
               ": ", t.end - t.begin, " bytes for ", t.num_elements, " elements");
    expected_begin = t.end;
    const SafetensorsTensor* found = header.Find(t.name);
    FUZZ_CHECK(found == &t, "Find(\"", t.name, "\") is not tensor ", i);

    if (IsFloatDtype(t.dtype) && t.num_elements <= (1 << 20)) {
      std::vector<float> out(static_cast<size_t>(t.num_elements));
      const absl::Status converted = ConvertToF32(t, file, kFileName, absl::MakeSpan(out));
      FUZZ_CHECK(converted.ok(), t.name, ": ConvertToF32 refused: ", converted.ToString());
      out.push_back(0.0f);
      FUZZ_CHECK(!ConvertToF32(t, file, kFileName, absl::MakeSpan(out)).ok(), t.name,
                 ": ConvertToF32 accepted an output of the wrong size");
    }
  }
  FUZZ_CHECK(expected_begin == file.size(), "the tensors end at ", expected_begin,
             " but the file has ", file.size(), " bytes");
  FUZZ_CHECK(header.Find("\x01not a tensor name") == nullptr, "Find found a name never written");
}

}  // namespace
}  // namespace kvserve

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvserve;
  const std::string file = FileFromInput(data, size);
  absl::StatusOr<SafetensorsHeader> header = ParseSafetensorsHeader(file, kFileName);
  if (!header.ok()) {
    FUZZ_CHECK(header.status().code() == absl::StatusCode::kInvalidArgument, "refused with ",
               header.status().ToString());
    FUZZ_CHECK(absl::StrContains(header.status().message(), kFileName),
               "the error does not name the file: ", header.status().ToString());
    return 0;
  }
  CheckAccepted(*header, file);
  return 0;
}
