#include "engine/checkpoint/safetensors.h"

#include <algorithm>
#include <cstring>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/base/half_float.h"
#include "nlohmann/json.hpp"

namespace kvserve {
namespace {

using Json = nlohmann::json;

// Larger headers are refused before parsing (the reference implementation's limit too).
constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;
// A tensor entry nests two levels below the top object; anything deeper is not a safetensors
// header and is refused before the JSON parser sees it.
constexpr int32_t kMaxJsonDepth = 32;

int32_t ElementSize(absl::string_view dtype) {
  static constexpr std::pair<const char*, int32_t> kSizes[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
  for (const auto& [name, size] : kSizes) {
    if (dtype == name) return size;
  }
  return 0;
}

// The deepest nesting of [] and {} outside strings, stopping early past `limit`.
int32_t JsonDepth(absl::string_view text, int32_t limit) {
  int32_t depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // skip the escaped character
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

std::string ShapeString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

class HeaderParser {
 public:
  HeaderParser(absl::string_view file_bytes, absl::string_view file_name)
      : bytes_(file_bytes), file_(file_name) {}

  absl::StatusOr<SafetensorsHeader> Parse() {
    if (bytes_.size() < 8) {
      return Error(absl::StrCat("file is ", bytes_.size(),
                                " bytes, too short for the 8-byte header length"));
    }
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(bytes_[i]);
    if (header_len > kMaxHeaderBytes) {
      return Error(absl::StrCat("header length ", header_len, " is over the limit of ",
                                kMaxHeaderBytes, " bytes"));
    }
    if (header_len > bytes_.size() - 8) {
      return Error(absl::StrCat("header length ", header_len, " runs past the end of the file (",
                                bytes_.size(), " bytes): truncated file?"));
    }
    const absl::string_view text = bytes_.substr(8, header_len);
    data_begin_ = 8 + header_len;
    data_size_ = bytes_.size() - data_begin_;
    if (JsonDepth(text, kMaxJsonDepth) > kMaxJsonDepth) {
      return Error(absl::StrCat("header JSON nests deeper than ", kMaxJsonDepth, " levels"));
    }
    const Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded()) return Error("header is not valid JSON");
    if (!json.is_object()) return Error("header is not a JSON object");

    SafetensorsHeader header;
    for (const auto& [name, entry] : json.items()) {
      if (name == "__metadata__") {
        if (!entry.is_object()) return Error("__metadata__ is not a JSON object");
        continue;
      }
      absl::StatusOr<SafetensorsTensor> tensor = ParseEntry(name, entry);
      if (!tensor.ok()) return tensor.status();
      header.tensors.push_back(*std::move(tensor));
    }
    if (absl::Status s = CheckLayout(header.tensors); !s.ok()) return s;
    for (size_t i = 0; i < header.tensors.size(); ++i) {
      header.index.emplace(header.tensors[i].name, static_cast<int32_t>(i));
    }
    return header;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(file_, ": ", what));
  }
  absl::Status TensorError(absl::string_view tensor, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(file_, ": tensor '", tensor, "': ", what));
  }

  absl::StatusOr<SafetensorsTensor> ParseEntry(const std::string& name, const Json& entry) const {
    if (!entry.is_object()) return TensorError(name, "entry is not a JSON object");
    SafetensorsTensor t;
    t.name = name;
    const auto dtype = entry.find("dtype");
    if (dtype == entry.end() || !dtype->is_string()) {
      return TensorError(name, "\"dtype\" is missing or not a string");
    }
    t.dtype = dtype->get<std::string>();
    t.element_size = ElementSize(t.dtype);
    if (t.element_size == 0) return TensorError(name, absl::StrCat("unknown dtype ", t.dtype));

    const auto shape = entry.find("shape");
    if (shape == entry.end() || !shape->is_array()) {
      return TensorError(name, "\"shape\" is missing or not an array");
    }
    uint64_t count = 1;
    for (const Json& dim : *shape) {
      if (!dim.is_number_unsigned()) {
        return TensorError(name,
                           absl::StrCat("shape has ", dim.dump(), ", not a non-negative integer"));
      }
      const uint64_t d = dim.get<uint64_t>();
      if (d > (uint64_t{1} << 62) || __builtin_mul_overflow(count, d, &count) ||
          count > (uint64_t{1} << 62)) {
        return TensorError(name, "shape has too many elements");
      }
      t.shape.push_back(static_cast<int64_t>(d));
    }
    t.num_elements = static_cast<int64_t>(count);

    const auto offsets = entry.find("data_offsets");
    if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
        !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
      return TensorError(name, "\"data_offsets\" must be two non-negative integers [begin, end]");
    }
    const uint64_t begin = (*offsets)[0].get<uint64_t>(), end = (*offsets)[1].get<uint64_t>();
    if (begin > end) {
      return TensorError(
          name, absl::StrCat("data_offsets [", begin, ", ", end, "] end before they begin"));
    }
    if (end > data_size_) {
      return TensorError(
          name, absl::StrCat("data_offsets [", begin, ", ", end, "] run past the data section's ",
                             data_size_, " bytes: truncated file, or the header lies"));
    }
    uint64_t want_bytes = 0;
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(t.element_size), &want_bytes) ||
        end - begin != want_bytes) {
      return TensorError(
          name, absl::StrCat("data_offsets [", begin, ", ", end, "] hold ", end - begin,
                             " bytes, but ", t.dtype, " ", ShapeString(t.shape), " needs ", count,
                             " x ", t.element_size));
    }
    t.begin = data_begin_ + begin;
    t.end = data_begin_ + end;
    return t;
  }

  // Sorts by offset and checks the tensors tile the data section exactly.
  absl::Status CheckLayout(std::vector<SafetensorsTensor>& tensors) const {
    std::sort(tensors.begin(), tensors.end(),
              [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
                return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
              });
    uint64_t expected = data_begin_;
    const SafetensorsTensor* previous = nullptr;
    for (const SafetensorsTensor& t : tensors) {
      if (t.begin < expected) {
        return TensorError(t.name, absl::StrCat("its bytes overlap those of tensor '",
                                                previous->name, "' (the header lies)"));
      }
      if (t.begin > expected) {
        return TensorError(t.name, absl::StrCat("there are ", t.begin - expected,
                                                " unused bytes before it (holes are not allowed)"));
      }
      expected = t.end;
      previous = &t;
    }
    if (expected != bytes_.size()) {
      return Error(absl::StrCat(bytes_.size() - expected,
                                " bytes after the last tensor belong to no tensor"));
    }
    return absl::OkStatus();
  }

  const absl::string_view bytes_;
  const absl::string_view file_;
  uint64_t data_begin_ = 0;
  uint64_t data_size_ = 0;
};

}  // namespace

const SafetensorsTensor* SafetensorsHeader::Find(absl::string_view name) const {
  const auto it = index.find(name);
  return it == index.end() ? nullptr : &tensors[it->second];
}

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(absl::string_view file_bytes,
                                                         absl::string_view file_name) {
  return HeaderParser(file_bytes, file_name).Parse();
}

bool IsFloatDtype(absl::string_view dtype) {
  return dtype == "F32" || dtype == "F16" || dtype == "BF16";
}

namespace {

// The checks ConvertToF32 and ConvertToHalf share: `out` has the tensor's size, the tensor's byte
// range is inside `file_bytes`, and its dtype is a float one.
absl::Status CheckConvertible(const SafetensorsTensor& tensor, absl::string_view file_bytes,
                              absl::string_view file_name, int64_t out_size) {
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ": tensor '", tensor.name, "': ", what));
  };
  if (out_size != tensor.num_elements) {
    return error(absl::StrCat("has ", tensor.num_elements, " values, the destination ", out_size));
  }
  if (tensor.end > file_bytes.size() || tensor.begin > tensor.end ||
      tensor.end - tensor.begin != static_cast<uint64_t>(tensor.num_elements) *
                                       static_cast<uint64_t>(std::max(tensor.element_size, 0))) {
    return error("byte range does not match the file (was it parsed from another file?)");
  }
  if (!IsFloatDtype(tensor.dtype)) {
    return error(absl::StrCat("dtype ", tensor.dtype, " is not supported (F32, F16 or BF16)"));
  }
  return absl::OkStatus();
}

// Element i of a float tensor whose data starts at `src`, widened to fp32.
float ElementAsFloat(const char* src, const std::string& dtype, int64_t i) {
  if (dtype == "F32") {
    float f;
    std::memcpy(&f, src + 4 * i, sizeof(f));
    return f;
  }
  uint16_t bits;
  std::memcpy(&bits, src + 2 * i, sizeof(bits));
  return dtype == "F16" ? HalfToFloat(bits) : Bfloat16ToFloat(bits);
}

}  // namespace

absl::Status ConvertToF32(const SafetensorsTensor& tensor, absl::string_view file_bytes,
                          absl::string_view file_name, absl::Span<float> out) {
  if (absl::Status s = CheckConvertible(tensor, file_bytes, file_name, out.size()); !s.ok()) {
    return s;
  }
  const char* src = file_bytes.data() + tensor.begin;
  const int64_t n = tensor.num_elements;
  // Nothing to copy (and an empty `out` may have a null data(), which memcpy must not get).
  if (n == 0) return absl::OkStatus();
  if (tensor.dtype == "F32") {
    std::memcpy(out.data(), src, sizeof(float) * n);
    return absl::OkStatus();
  }
  float* dst = out.data();
#pragma omp parallel for schedule(static) if (n > (int64_t{1} << 20))
  for (int64_t i = 0; i < n; ++i) dst[i] = ElementAsFloat(src, tensor.dtype, i);
  return absl::OkStatus();
}

absl::Status ConvertToHalf(const SafetensorsTensor& tensor, absl::string_view file_bytes,
                           absl::string_view file_name, bool bf16, absl::Span<uint16_t> out) {
  if (absl::Status s = CheckConvertible(tensor, file_bytes, file_name, out.size()); !s.ok()) {
    return s;
  }
  const char* src = file_bytes.data() + tensor.begin;
  const int64_t n = tensor.num_elements;
  if (n == 0) return absl::OkStatus();
  if (tensor.dtype == (bf16 ? "BF16" : "F16")) {
    std::memcpy(out.data(), src, sizeof(uint16_t) * n);
    return absl::OkStatus();
  }
  uint16_t* dst = out.data();
#pragma omp parallel for schedule(static) if (n > (int64_t{1} << 20))
  for (int64_t i = 0; i < n; ++i) {
    const float f = ElementAsFloat(src, tensor.dtype, i);
    dst[i] = bf16 ? FloatToBfloat16(f) : FloatToHalf(f);
  }
  return absl::OkStatus();
}

}  // namespace kvserve
