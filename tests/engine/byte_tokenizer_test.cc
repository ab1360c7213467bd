#include "engine/tokenizer/byte_tokenizer.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/model/model_config.h"
#include "engine/tokenizer/utf8_stream_decoder.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

constexpr char kMultilingual[] =
    "Hello, world! Привет, мир! 你好，世界！ こんにちは 안녕하세요 مرحبا שלום नमस्ते "
    "Ελληνικά café naïve ∑∫√∞ 🌍🎉👩‍👩‍👧 \xF4\x8F\xBF\xBF end";
constexpr char kReplacement[] = "\xEF\xBF\xBD";

std::string RandomBytes(std::mt19937& rng, int max_len) {
  std::uniform_int_distribution<int> len_dist(0, max_len);
  std::uniform_int_distribution<int> byte_dist(0, 255);
  std::string s(len_dist(rng), '\0');
  for (char& c : s) c = static_cast<char>(byte_dist(rng));
  return s;
}

// Independent of the decoder: decodes code points per RFC 3629 and checks every rule.
bool IsValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    int len;
    uint32_t cp;
    if (b0 < 0x80) {
      len = 1, cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2, cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3, cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4, cp = b0 & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (int j = 1; j < len; ++j) {
      const auto b = static_cast<unsigned char>(s[i + j]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

// Feeds `ids` to `decoder` in chunks cut at random points; returns the concatenated output
// including Flush(), and checks that at most 3 bytes are ever held.
std::string FeedInRandomChunks(Utf8StreamDecoder& decoder, const std::vector<int32_t>& ids,
                               std::mt19937& rng, std::vector<std::string>* pieces = nullptr) {
  std::string all;
  size_t pos = 0;
  while (pos < ids.size()) {
    const size_t n =
        std::uniform_int_distribution<size_t>(0, std::min<size_t>(6, ids.size() - pos))(rng);
    std::string piece = decoder.Feed(absl::MakeConstSpan(ids).subspan(pos, n));
    EXPECT_LE(decoder.pending_bytes(), 3);
    if (pieces) pieces->push_back(piece);
    all += piece;
    pos += n;
  }
  std::string tail = decoder.Flush();
  EXPECT_EQ(decoder.pending_bytes(), 0);
  if (pieces) pieces->push_back(tail);
  return all + tail;
}

TEST(ByteTokenizerTest, CreateChecksSpecialIds) {
  EXPECT_TRUE(ByteTokenizer::Create(ByteVocab{}).ok());
  EXPECT_EQ(ByteTokenizer::Create({.bos_token_id = 65}).status().code(),
            absl::StatusCode::kInvalidArgument);  // a byte id
  EXPECT_EQ(ByteTokenizer::Create({.eos_token_id = 259}).status().code(),
            absl::StatusCode::kInvalidArgument);  // outside the vocabulary
  EXPECT_EQ(ByteTokenizer::Create({.pad_token_id = 256}).status().code(),
            absl::StatusCode::kInvalidArgument);  // same as BOS
  EXPECT_EQ(ByteTokenizer::Create({.vocab_size = 256}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto custom = ByteTokenizer::Create(
      {.bos_token_id = 300, .eos_token_id = 260, .pad_token_id = 256, .vocab_size = 301});
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_EQ(custom->Encode("x", /*add_bos=*/true), (std::vector<int32_t>{300, 'x'}));
  EXPECT_TRUE(custom->IsSpecial(300));
  EXPECT_FALSE(custom->IsSpecial(301));
}

TEST(ByteTokenizerTest, MatchesThePresetVocabulary) {
  auto config = PresetConfig("tiny");
  ASSERT_TRUE(config.ok());
  ByteTokenizer tok;
  EXPECT_EQ(tok.vocab_size(), config->vocab_size);
  EXPECT_EQ(tok.bos_token_id(), config->bos_token_id);
  EXPECT_EQ(tok.eos_token_id(), config->eos_token_id);
  EXPECT_EQ(tok.pad_token_id(), config->pad_token_id);
}

TEST(ByteTokenizerTest, EncodesOneIdPerByte) {
  ByteTokenizer tok;
  const std::string text = kMultilingual;
  std::vector<int32_t> ids = tok.Encode(text);
  ASSERT_EQ(ids.size(), text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    EXPECT_EQ(ids[i], static_cast<unsigned char>(text[i]));
    EXPECT_TRUE(ByteTokenizer::IsByte(ids[i]));
  }
  std::vector<int32_t> with_bos = tok.Encode(text, /*add_bos=*/true);
  ASSERT_EQ(with_bos.size(), text.size() + 1);
  EXPECT_EQ(with_bos[0], tok.bos_token_id());
  EXPECT_TRUE(std::equal(ids.begin(), ids.end(), with_bos.begin() + 1));
  EXPECT_TRUE(tok.Encode("").empty());
  EXPECT_EQ(tok.Encode("", true), std::vector<int32_t>{tok.bos_token_id()});
}

TEST(ByteTokenizerTest, RoundTripsArbitraryBytes) {
  ByteTokenizer tok;
  std::mt19937 rng(1234);
  int invalid = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const std::string s = RandomBytes(rng, 200);
    if (!IsValidUtf8(s)) ++invalid;
    EXPECT_EQ(tok.Decode(tok.Encode(s)), s);
    EXPECT_EQ(tok.Decode(tok.Encode(s, /*add_bos=*/true)), s);
  }
  EXPECT_GT(invalid, 100);  // the random strings really exercised invalid UTF-8
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte.push_back(static_cast<char>(b));
  EXPECT_EQ(tok.Decode(tok.Encode(every_byte)), every_byte);
  const std::string with_nul("a\0b\0", 4);
  EXPECT_EQ(tok.Decode(tok.Encode(with_nul)), with_nul);
}

TEST(ByteTokenizerTest, RoundTripsMultilingualText) {
  ByteTokenizer tok;
  const std::string text = kMultilingual;
  ASSERT_TRUE(IsValidUtf8(text));
  EXPECT_EQ(tok.Decode(tok.Encode(text)), text);
  std::string appended = "prefix:";
  tok.DecodeTo(tok.Encode(text), &appended);
  EXPECT_EQ(appended, "prefix:" + text);
}

TEST(ByteTokenizerTest, SpecialAndOutOfVocabularyIdsDecodeToNothing) {
  ByteTokenizer tok;
  const std::vector<int32_t> ids = {
      tok.bos_token_id(), 'a', tok.eos_token_id(), 'b', tok.pad_token_id(), 259, -1, 1 << 20, 'c'};
  EXPECT_EQ(tok.Decode(ids), "abc");
  EXPECT_EQ(tok.Decode({tok.bos_token_id(), tok.eos_token_id(), tok.pad_token_id()}), "");
  for (int32_t id : {256, 257, 258}) EXPECT_TRUE(tok.IsSpecial(id));
  for (int32_t id : {0, 255, 259, -1}) EXPECT_FALSE(tok.IsSpecial(id));
}

TEST(Utf8StreamDecoderTest, HoldsBackAFourByteEmojiUntilComplete) {
  ByteTokenizer tok;
  const std::string emoji = "\xF0\x9F\x8E\x89";  // U+1F389
  const std::vector<int32_t> ids = tok.Encode("a" + emoji + "b");
  Utf8StreamDecoder decoder;
  std::vector<std::string> pieces;
  for (int32_t id : ids) pieces.push_back(decoder.Feed({id}));
  ASSERT_EQ(pieces.size(), 6u);
  EXPECT_EQ(pieces[0], "a");
  EXPECT_EQ(pieces[1], "");
  EXPECT_EQ(pieces[2], "");
  EXPECT_EQ(pieces[3], "");
  EXPECT_EQ(pieces[4], emoji);
  EXPECT_EQ(pieces[5], "b");
  EXPECT_EQ(decoder.Flush(), "");

  // Split 2 + 2 across steps, with an EOS in between that must not break the character.
  Utf8StreamDecoder split;
  EXPECT_EQ(split.Feed({'x', 0xF0, 0x9F}), "x");
  EXPECT_EQ(split.pending_bytes(), 2);
  EXPECT_EQ(split.Feed({tok.eos_token_id()}), "");
  EXPECT_EQ(split.pending_bytes(), 2);
  EXPECT_EQ(split.Feed({0x8E, 0x89, tok.eos_token_id()}), emoji);
  EXPECT_EQ(split.pending_bytes(), 0);
}

TEST(Utf8StreamDecoderTest, ValidTextInAnyChunkingEqualsDecode) {
  ByteTokenizer tok;
  std::mt19937 rng(99);
  for (bool pass_through : {false, true}) {
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<int32_t> ids = tok.Encode(kMultilingual, /*add_bos=*/true);
      ids.push_back(tok.eos_token_id());
      Utf8StreamDecoder decoder({.invalid = pass_through
                                                ? Utf8StreamDecoder::InvalidBytes::kPassThrough
                                                : Utf8StreamDecoder::InvalidBytes::kReplace});
      std::vector<std::string> pieces;
      EXPECT_EQ(FeedInRandomChunks(decoder, ids, rng, &pieces), tok.Decode(ids));
      // Every piece is itself valid: no character was split between two messages.
      for (const std::string& piece : pieces) EXPECT_TRUE(IsValidUtf8(piece)) << piece;
    }
  }
}

TEST(Utf8StreamDecoderTest, InvalidBytesAreReleasedAtOnce) {
  Utf8StreamDecoder decoder;
  // A stray continuation byte and impossible leads are replaced immediately.
  for (int b : {0x80, 0xBF, 0xC0, 0xC1, 0xF5, 0xFF}) {
    EXPECT_EQ(decoder.Feed({b}), kReplacement) << b;
    EXPECT_EQ(decoder.pending_bytes(), 0);
  }
  // A lead followed by something that cannot continue it: the lead is released as soon as the
  // next byte shows it invalid, and the next byte is decoded on its own.
  EXPECT_EQ(decoder.Feed({0xE2, 0x82}), "");
  EXPECT_EQ(decoder.Feed({'a'}), std::string(kReplacement) + "a");
  EXPECT_EQ(decoder.Feed({0xF0}), "");
  EXPECT_EQ(decoder.Feed({0xC3, 0xA9}), std::string(kReplacement) + "\xC3\xA9");
  // A truncated sequence at the end of the stream comes out on Flush.
  EXPECT_EQ(decoder.Feed({0xF0, 0x9F, 0x8E}), "");
  EXPECT_EQ(decoder.pending_bytes(), 3);
  EXPECT_EQ(decoder.Flush(), kReplacement);
  EXPECT_EQ(decoder.pending_bytes(), 0);
  EXPECT_EQ(decoder.Flush(), "");
}

TEST(Utf8StreamDecoderTest, ReplacesMaximalSubpartsLikeTheUnicodeStandard) {
  ByteTokenizer tok;
  const std::string r = kReplacement;
  // The example of Unicode 15, section 3.9, table 3-8 (U+FFFD substitution of maximal subparts).
  const std::string example =
      Bytes({0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64});
  // Overlong, surrogate, above U+10FFFF, overlong 2-byte, truncated 4-byte at the end.
  const std::pair<std::string, std::string> cases[] = {
      {example, "a" + r + r + r + "b" + r + "c" + r + r + "d"},
      {Bytes({0xE0, 0x80, 0x80}), r + r + r},
      {Bytes({0xED, 0xA0, 0x80}), r + r + r},
      {Bytes({0xF4, 0x90, 0x80, 0x80}), r + r + r + r},
      {Bytes({0xC0, 0xAF}), r + r},
      {Bytes({'z', 0xF0, 0x8F}), "z" + r + r},
      {Bytes({0xF0, 0x9F, 0x98}), r},
  };
  for (const auto& [bytes, expected] : cases) {
    Utf8StreamDecoder one_step;
    std::string whole = one_step.Feed(tok.Encode(bytes));
    whole += one_step.Flush();
    EXPECT_EQ(whole, expected);
    Utf8StreamDecoder byte_by_byte;
    std::string out;
    for (int32_t id : tok.Encode(bytes)) out += byte_by_byte.Feed({id});
    out += byte_by_byte.Flush();
    EXPECT_EQ(out, expected);
  }
}

TEST(Utf8StreamDecoderTest, RandomBytesNeverStayHeld) {
  ByteTokenizer tok;
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const std::vector<int32_t> ids = tok.Encode(RandomBytes(rng, 64));
    // Replace mode: always valid UTF-8 out, and one ASCII byte releases anything held.
    Utf8StreamDecoder replace;
    std::string out = FeedInRandomChunks(replace, ids, rng);
    EXPECT_TRUE(IsValidUtf8(out));
    Utf8StreamDecoder replace2;
    replace2.Feed(ids);
    const std::string released = replace2.Feed({'!'});
    EXPECT_EQ(replace2.pending_bytes(), 0);
    EXPECT_FALSE(released.empty());
    EXPECT_EQ(released.back(), '!');
    // Pass-through mode is lossless for any bytes.
    Utf8StreamDecoder pass({.invalid = Utf8StreamDecoder::InvalidBytes::kPassThrough});
    EXPECT_EQ(FeedInRandomChunks(pass, ids, rng), tok.Decode(ids));
  }
}

}  // namespace
}  // namespace kvserve
