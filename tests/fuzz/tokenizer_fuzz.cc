// tokenizer_fuzz: ByteTokenizer and Utf8StreamDecoder on arbitrary bytes.
//
// The input is used twice: as text (every byte) and as a stream of token ids (little-endian int16
// pairs, so negative ids, bytes, specials and ids past the vocabulary all occur). Properties
// checked (abort on violation), each from the promises in byte_tokenizer.h and
// utf8_stream_decoder.h:
//   * Encode gives one id per byte (BOS first when asked); Decode(Encode(text)) == text; Decode of
//     any ids is exactly the bytes of the ids in 0..255, in order.
//   * Utf8StreamDecoder, fed the ids in chunks of pseudo-random sizes (seeded by the input) and
//     with special / out-of-vocabulary ids sprinkled in, produces exactly what one Feed of
//     everything does, in both modes; pending_bytes() stays in 0..3 and Flush() resets it.
//   * kPassThrough output is Decode(ids); kReplace output equals an independent implementation of
//     the WHATWG UTF-8 decoder (ReferenceReplace), is valid UTF-8 in every single Feed() piece, and
//     equals the input when the input is valid UTF-8.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "engine/tokenizer/utf8_stream_decoder.h"
#include "tests/fuzz/fuzz_check.h"

namespace kvserve {
namespace {

constexpr char kFffd[] = "\xEF\xBF\xBD";

// The UTF-8 decoder of the WHATWG Encoding Standard (section "UTF-8 decoder"), emitting the bytes
// of each decoded code point and U+FFFD for each error. Written from the standard, not from
// utf8_stream_decoder.cc.
std::string ReferenceReplace(absl::string_view bytes) {
  std::string out;
  std::string sequence;  // bytes of the code point being decoded
  int needed = 0;
  uint8_t lower = 0x80, upper = 0xBF;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const uint8_t b = static_cast<uint8_t>(bytes[i]);
    if (needed == 0) {
      if (b <= 0x7F) {
        out.push_back(static_cast<char>(b));
      } else if (b >= 0xC2 && b <= 0xDF) {
        needed = 1;
      } else if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) lower = 0xA0;
        if (b == 0xED) upper = 0x9F;
        needed = 2;
      } else if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) lower = 0x90;
        if (b == 0xF4) upper = 0x8F;
        needed = 3;
      } else {
        out += kFffd;
      }
      if (needed > 0) sequence.assign(1, static_cast<char>(b));
      continue;
    }
    if (b < lower || b > upper) {
      // Error; the byte is processed again as the start of something new ("prepend to stream").
      needed = 0;
      lower = 0x80;
      upper = 0xBF;
      sequence.clear();
      out += kFffd;
      --i;
      continue;
    }
    lower = 0x80;
    upper = 0xBF;
    sequence.push_back(static_cast<char>(b));
    if (static_cast<int>(sequence.size()) == needed + 1) {
      out += sequence;
      sequence.clear();
      needed = 0;
    }
  }
  if (needed > 0) out += kFffd;
  return out;
}

bool IsValidUtf8(absl::string_view bytes) { return ReferenceReplace(bytes) == bytes; }

// SplitMix64: chunk sizes and insertions that vary with the input but are reproducible from it.
class SplitMix {
 public:
  explicit SplitMix(absl::string_view seed_bytes) {
    for (char c : seed_bytes) state_ = (state_ ^ static_cast<uint8_t>(c)) * 1099511628211ULL;
  }
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_ = 1469598103934665603ULL;
};

// Feeds `ids` in one piece and then in pseudo-random chunks; both must give `expected`.
void CheckStreaming(absl::Span<const int32_t> ids, Utf8StreamDecoder::InvalidBytes mode,
                    const std::string& expected, SplitMix& rng) {
  Utf8StreamDecoder decoder(Utf8StreamDecoder::Options{.invalid = mode});
  const bool replace = mode == Utf8StreamDecoder::InvalidBytes::kReplace;
  for (int pass = 0; pass < 2; ++pass) {  // the second pass reuses the decoder after Flush()
    std::string whole = decoder.Feed(ids);
    decoder.FlushTo(&whole);
    FUZZ_CHECK(decoder.pending_bytes() == 0, "Flush() left ", decoder.pending_bytes(), " bytes");
    FUZZ_CHECK(whole == expected, "one Feed() gave \"", absl::CHexEscape(whole), "\", expected \"",
               absl::CHexEscape(expected), "\"");

    std::string pieces;
    size_t pos = 0;
    while (pos < ids.size()) {
      const size_t len = std::min<size_t>(ids.size() - pos, rng.Next() % 6);  // 0..5 ids
      const std::string piece = decoder.Feed(ids.subspan(pos, len));
      pos += len;
      FUZZ_CHECK(decoder.pending_bytes() >= 0 && decoder.pending_bytes() <= 3, "holds ",
                 decoder.pending_bytes(), " bytes");
      if (replace) {
        FUZZ_CHECK(IsValidUtf8(piece), "a Feed() piece is not valid UTF-8: \"",
                   absl::CHexEscape(piece), "\"");
      }
      pieces += piece;
    }
    const std::string tail = decoder.Flush();
    if (replace) FUZZ_CHECK(IsValidUtf8(tail), "Flush() is not valid UTF-8");
    pieces += tail;
    FUZZ_CHECK(pieces == expected, "chunked Feed() gave \"", absl::CHexEscape(pieces),
               "\", expected \"", absl::CHexEscape(expected), "\"");
  }
}

}  // namespace
}  // namespace kvserve

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvserve;
  using Mode = Utf8StreamDecoder::InvalidBytes;
  static const ByteTokenizer& tokenizer = *new ByteTokenizer();
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  SplitMix rng(text);

  // The input as text.
  const std::vector<int32_t> ids = tokenizer.Encode(text);
  FUZZ_CHECK(ids.size() == size, size, " bytes gave ", ids.size(), " ids");
  for (size_t i = 0; i < size; ++i) {
    FUZZ_CHECK(ids[i] == data[i] && ByteTokenizer::IsByte(ids[i]), "byte ", i, " became ", ids[i]);
  }
  FUZZ_CHECK(tokenizer.Decode(ids) == text, "Decode(Encode(text)) != text");
  const std::vector<int32_t> with_bos = tokenizer.Encode(text, /*add_bos=*/true);
  FUZZ_CHECK(with_bos.size() == size + 1 && with_bos[0] == tokenizer.bos_token_id() &&
                 tokenizer.IsSpecial(with_bos[0]),
             "BOS missing");
  FUZZ_CHECK(tokenizer.Decode(with_bos) == text, "Decode(Encode(text, BOS)) != text");

  // Streaming the text, with transparent non-byte ids sprinkled between its bytes.
  const int32_t non_bytes[] = {tokenizer.bos_token_id(), tokenizer.eos_token_id(),
                               tokenizer.pad_token_id(), -1,
                               tokenizer.vocab_size(),   1 << 30};
  std::vector<int32_t> sprinkled;
  for (int32_t id : ids) {
    if (rng.Next() % 4 == 0) sprinkled.push_back(non_bytes[rng.Next() % 6]);
    sprinkled.push_back(id);
  }
  const std::string replaced = ReferenceReplace(text);
  if (IsValidUtf8(text)) FUZZ_CHECK(replaced == text, "valid UTF-8 was altered by the reference");
  CheckStreaming(ids, Mode::kReplace, replaced, rng);
  CheckStreaming(sprinkled, Mode::kReplace, replaced, rng);
  CheckStreaming(sprinkled, Mode::kPassThrough, std::string(text), rng);

  // The input as int16 ids: Decode keeps exactly the byte ids.
  std::vector<int32_t> raw_ids;
  std::string raw_bytes;
  for (size_t i = 0; i + 1 < size; i += 2) {
    const int32_t id = static_cast<int16_t>(static_cast<uint16_t>(data[i] | (data[i + 1] << 8)));
    raw_ids.push_back(id);
    if (id >= 0 && id < 256) raw_bytes.push_back(static_cast<char>(id));
  }
  FUZZ_CHECK(tokenizer.Decode(raw_ids) == raw_bytes, "Decode kept something other than the bytes");
  CheckStreaming(raw_ids, Mode::kPassThrough, raw_bytes, rng);
  CheckStreaming(raw_ids, Mode::kReplace, ReferenceReplace(raw_bytes), rng);
  return 0;
}
