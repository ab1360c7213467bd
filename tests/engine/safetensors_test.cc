// ParseSafetensorsHeader and the F16/BF16 conversions. Files are assembled byte by byte here; the
// expected float values are the IEEE definitions (e.g. binary16 0x3555 = 1365/4096), not outputs of
// the code under test.
#include "engine/checkpoint/safetensors.h"

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string LittleEndian64(uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out;
}

std::string File(const std::string& header, const std::string& data) {
  return LittleEndian64(header.size()) + header + data;
}

template <typename T>
std::string Bytes(std::initializer_list<T> values) {
  std::string out;
  for (T v : values) out.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return out;
}

// a: F32 [2, 2] at [0, 16); b: F16 [2] at [16, 20); c: BF16 [1, 1] at [20, 22).
std::string ValidFile() {
  const std::string header = R"({"__metadata__":{"format":"pt"},)"
                             R"("b":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},)"
                             R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                             R"("c":{"dtype":"BF16","shape":[1,1],"data_offsets":[20,22]}}    )";
  return File(header, Bytes<float>({1.5f, -2.0f, 0.25f, 8.0f}) + Bytes<uint16_t>({0x3C00, 0xC000}) +
                          Bytes<uint16_t>({0xC0A0}));
}

std::string ParseError(const std::string& file) {
  absl::StatusOr<SafetensorsHeader> h = ParseSafetensorsHeader(file, "shard.safetensors");
  EXPECT_FALSE(h.ok());
  if (h.ok()) return "";
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(h.status().message()), HasSubstr("shard.safetensors"));
  return std::string(h.status().message());
}

TEST(SafetensorsTest, ParsesTensorsWithAbsoluteOffsets) {
  const std::string file = ValidFile();
  absl::StatusOr<SafetensorsHeader> h = ParseSafetensorsHeader(file, "f");
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->tensors.size(), 3u);
  const SafetensorsTensor* a = h->Find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, "F32");
  EXPECT_THAT(a->shape, ElementsAre(2, 2));
  EXPECT_EQ(a->num_elements, 4);
  const uint64_t data_begin = file.size() - 22;
  EXPECT_EQ(a->begin, data_begin);
  EXPECT_EQ(a->end, data_begin + 16);
  EXPECT_EQ(h->Find("c")->begin, data_begin + 20);
  EXPECT_EQ(h->Find("__metadata__"), nullptr);
  EXPECT_EQ(h->Find("d"), nullptr);
  // Sorted by offset, whatever the header's order.
  EXPECT_EQ(h->tensors[0].name, "a");
  EXPECT_EQ(h->tensors[1].name, "b");
}

TEST(SafetensorsTest, ConvertsEachFloatDtype) {
  const std::string file = ValidFile();
  absl::StatusOr<SafetensorsHeader> h = ParseSafetensorsHeader(file, "f");
  ASSERT_TRUE(h.ok());
  std::vector<float> a(4), b(2), c(1);
  ASSERT_TRUE(ConvertToF32(*h->Find("a"), file, "f", absl::MakeSpan(a)).ok());
  ASSERT_TRUE(ConvertToF32(*h->Find("b"), file, "f", absl::MakeSpan(b)).ok());
  ASSERT_TRUE(ConvertToF32(*h->Find("c"), file, "f", absl::MakeSpan(c)).ok());
  EXPECT_THAT(a, ElementsAre(1.5f, -2.0f, 0.25f, 8.0f));
  EXPECT_THAT(b, ElementsAre(1.0f, -2.0f));
  EXPECT_THAT(c, ElementsAre(-5.0f));
  std::vector<float> wrong(3);
  EXPECT_THAT(std::string(ConvertToF32(*h->Find("a"), file, "f", absl::MakeSpan(wrong)).message()),
              HasSubstr("'a'"));
}

// Found by safetensors_header_fuzz: an empty tensor went to memcpy with the null data() of an
// empty destination (undefined behaviour; UBSan aborts on it).
TEST(SafetensorsTest, EmptyTensorsConvertToNothing) {
  const std::string file = File(R"({"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                                R"("z":{"dtype":"BF16","shape":[3,0],"data_offsets":[0,0]},)"
                                R"("i":{"dtype":"I64","shape":[0],"data_offsets":[0,0]}})",
                                "");
  absl::StatusOr<SafetensorsHeader> h = ParseSafetensorsHeader(file, "f");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->Find("z")->num_elements, 0);
  EXPECT_TRUE(ConvertToF32(*h->Find("e"), file, "f", absl::Span<float>()).ok());
  EXPECT_TRUE(ConvertToF32(*h->Find("z"), file, "f", absl::Span<float>()).ok());
  EXPECT_THAT(std::string(ConvertToF32(*h->Find("i"), file, "f", absl::Span<float>()).message()),
              HasSubstr("not supported"));
}

TEST(SafetensorsTest, HalfAndBfloat16BitPatterns) {
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xC000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);               // largest finite
  EXPECT_EQ(HalfToFloat(0x3555), 1365.0f / 4096.0f);      // 0.333251953125
  EXPECT_EQ(HalfToFloat(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(HalfToFloat(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(HalfToFloat(0x0000), 0.0f);
  EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
  EXPECT_EQ(HalfToFloat(0x7C00), INFINITY);
  EXPECT_EQ(HalfToFloat(0xFC00), -INFINITY);
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7E00)));
  EXPECT_EQ(Bfloat16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(Bfloat16ToFloat(0xC0A0), -5.0f);
  EXPECT_EQ(Bfloat16ToFloat(0x4049), 3.140625f);
  EXPECT_EQ(Bfloat16ToFloat(0x7F80), INFINITY);
  EXPECT_EQ(Bfloat16ToFloat(0x0001), std::ldexp(1.0f, -133));
}

TEST(SafetensorsTest, UnsupportedDtypeIsRefusedAtConversionNamingTensorAndFile) {
  const std::string file =
      File(R"({"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", Bytes<int64_t>({7}));
  absl::StatusOr<SafetensorsHeader> h = ParseSafetensorsHeader(file, "f");
  ASSERT_TRUE(h.ok()) << h.status();
  std::vector<float> out(1);
  const absl::Status s = ConvertToF32(h->tensors[0], file, "x.safetensors", absl::MakeSpan(out));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("x.safetensors"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("'ids'"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("I64"));
  EXPECT_FALSE(IsFloatDtype("I64"));
  EXPECT_TRUE(IsFloatDtype("BF16"));
}

TEST(SafetensorsTest, MalformedFilesAreRefusedWithWhatIsWrong) {
  const std::string four(4, '\0');
  EXPECT_THAT(ParseError(""), HasSubstr("too short"));
  EXPECT_THAT(ParseError(four), HasSubstr("too short"));
  EXPECT_THAT(ParseError(LittleEndian64(100) + "{}"), HasSubstr("runs past the end"));
  EXPECT_THAT(ParseError(LittleEndian64(~uint64_t{0}) + "{}"), HasSubstr("over the limit"));
  EXPECT_THAT(ParseError(File("{\"a\":", "")), HasSubstr("not valid JSON"));
  EXPECT_THAT(ParseError(File("[1,2]", "")), HasSubstr("not a JSON object"));
  EXPECT_THAT(ParseError(File(R"({"__metadata__":3})", "")), HasSubstr("__metadata__"));
  EXPECT_THAT(ParseError(File(R"({"t":5})", "")), HasSubstr("'t'"));
  const std::string data8(8, '\0');
  auto entry = [&](const std::string& body) {
    return ParseError(File(absl::StrCat(R"({"t":{)", body, "}}"), data8));
  };
  EXPECT_THAT(entry(R"("shape":[2],"data_offsets":[0,8])"), HasSubstr("dtype"));
  EXPECT_THAT(entry(R"("dtype":"F12","shape":[2],"data_offsets":[0,8])"), HasSubstr("F12"));
  EXPECT_THAT(entry(R"("dtype":"F32","data_offsets":[0,8])"), HasSubstr("shape"));
  EXPECT_THAT(entry(R"("dtype":"F32","shape":[-2],"data_offsets":[0,8])"), HasSubstr("-2"));
  EXPECT_THAT(entry(R"("dtype":"F32","shape":[1.5],"data_offsets":[0,8])"), HasSubstr("1.5"));
  EXPECT_THAT(entry(R"("dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8])"),
              HasSubstr("too many elements"));
  EXPECT_THAT(entry(R"("dtype":"F32","shape":[2],"data_offsets":[0])"), HasSubstr("data_offsets"));
  EXPECT_THAT(entry(R"("dtype":"F32","shape":[2],"data_offsets":[-8,0])"),
              HasSubstr("data_offsets"));
  EXPECT_THAT(entry(R"("dtype":"F32","shape":[0],"data_offsets":[8,0])"), HasSubstr("end before"));
  // The header lies about where the bytes are, or the file was cut short.
  EXPECT_THAT(entry(R"("dtype":"F32","shape":[4],"data_offsets":[0,16])"),
              HasSubstr("past the data section"));
  EXPECT_THAT(entry(R"("dtype":"F32","shape":[3],"data_offsets":[0,8])"), HasSubstr("needs 3 x 4"));
  // Every error about a tensor names it.
  EXPECT_THAT(entry(R"("dtype":"F32","shape":[3],"data_offsets":[0,8])"), HasSubstr("'t'"));
}

TEST(SafetensorsTest, TensorsMustTileTheDataSectionExactly) {
  const std::string data(16, '\0');
  EXPECT_THAT(ParseError(File(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                              data)),
              HasSubstr("overlap"));
  EXPECT_THAT(ParseError(File(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
                              data)),
              HasSubstr("unused bytes before it"));
  EXPECT_THAT(ParseError(File(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data)),
              HasSubstr("8 bytes after the last tensor"));
  // Empty tensors take no room and may share an offset.
  EXPECT_TRUE(
      ParseSafetensorsHeader(File(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                  R"("e":{"dtype":"F16","shape":[0,3],"data_offsets":[16,16]},)"
                                  R"("f":{"dtype":"F16","shape":[0],"data_offsets":[16,16]}})",
                                  data),
                             "f")
          .ok());
  EXPECT_TRUE(ParseSafetensorsHeader(File("{}", ""), "f").ok());
}

TEST(SafetensorsTest, DeeplyNestedJsonIsRefusedWithoutRecursing) {
  const std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_THAT(ParseError(File(deep, "")), HasSubstr("nests deeper"));
  // Brackets inside strings do not count.
  const std::string quoted = R"({"__metadata__":{"k":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}})";
  EXPECT_TRUE(ParseSafetensorsHeader(File(quoted, ""), "f").ok());
}

// What a fuzzer would try: every truncation and random byte flips never read out of bounds, and
// whatever parses keeps every tensor inside the file.
TEST(SafetensorsTest, TruncationsAndCorruptionsAreRefusedOrStayInBounds) {
  const std::string file = ValidFile();
  for (size_t len = 0; len < file.size(); ++len) {
    // A copy of exactly `len` bytes, so a sanitizer would catch any read past it.
    const std::string cut = file.substr(0, len);
    EXPECT_FALSE(ParseSafetensorsHeader(cut, "f").ok()) << len;
  }
  std::mt19937 rng(3);
  int parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string bad = file;
    for (int flips = 1 + rng() % 3; flips > 0; --flips) {
      bad[rng() % bad.size()] = static_cast<char>(rng() % 256);
    }
    absl::StatusOr<SafetensorsHeader> h = ParseSafetensorsHeader(bad, "f");
    if (!h.ok()) continue;
    ++parsed;
    for (const SafetensorsTensor& t : h->tensors) {
      EXPECT_LE(t.begin, t.end);
      EXPECT_LE(t.end, bad.size());
      EXPECT_EQ(t.end - t.begin, static_cast<uint64_t>(t.num_elements) * t.element_size);
    }
  }
  EXPECT_GT(parsed, 0);  // flips inside the data section leave a valid header
}

}  // namespace
}  // namespace kvserve
