// BpeTokenizer on a small tokenizer.json made here: the 256 byte tokens (id = byte value), ten
// merges, and four added tokens. Every expected encoding below was worked out by hand from the
// merge ranks and the pre-tokenizer regexes (the derivations are in the comments), not copied from
// the implementation's output.
#include "engine/tokenizer/bpe_tokenizer.h"

#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_format.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/pretokenizer.h"
#include "engine/tokenizer/utf8_stream_decoder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace kvserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

// Ids: bytes 0..255, then the merges' results 256..265, then the added tokens 266..269.
constexpr int32_t kHe = 256, kLl = 257, kHell = 258, kHello = 259, kGw = 260, kOr = 261,
                  kGwor = 262, kGt = 263, kGthe = 264, kEr = 265;
constexpr int32_t kEndOfText = 266, kImStart = 267, kImEnd = 268, kNonSpecial = 269;

constexpr char kLlama3Pattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr char kQwen2Pattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// GPT-2's bytes_to_unicode, written out here independently of engine/tokenizer/byte_level.cc.
std::string ByteChar(int b) {
  const bool itself = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
  int cp = b;
  if (!itself) {
    cp = 256;
    for (int x = 0; x < b; ++x) {
      if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE))) ++cp;
    }
  }
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

struct Options {
  Json pre_tokenizer;
  bool merges_as_pairs = false;
  bool ignore_merges = false;
};

Json SplitThenByteLevel(const char* pattern) {
  return {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"},
             {"pattern", {{"Regex", pattern}}},
             {"behavior", "Isolated"},
             {"invert", false}},
            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
}

Json Gpt2ByteLevel() {
  return {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
}

Json MakeTokenizerJson(const Options& options) {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab[ByteChar(b)] = b;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"},   {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"},
      {"o", "r"}, {"Ġw", "or"}, {"Ġ", "t"},   {"Ġt", "he"},  {"e", "r"}};
  Json merge_list = Json::array();
  for (const auto& [a, b] : merges) {
    vocab[a + b] = static_cast<int>(vocab.size());
    if (options.merges_as_pairs) {
      merge_list.push_back(Json::array({a, b}));
    } else {
      merge_list.push_back(a + " " + b);
    }
  }
  if (options.ignore_merges) vocab["her"] = 270;  // reachable only as a whole piece
  Json added = Json::array();
  int id = kEndOfText;
  for (const auto& [content, special] :
       std::vector<std::pair<std::string, bool>>{{"<|endoftext|>", true},
                                                 {"<|im_start|>", true},
                                                 {"<|im_end|>", true},
                                                 {"[NS]", false}}) {
    added.push_back({{"id", id++},
                     {"content", content},
                     {"special", special},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false}});
  }
  return {{"version", "1.0"},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", options.pre_tokenizer},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model",
           {{"type", "BPE"},
            {"vocab", vocab},
            {"merges", merge_list},
            {"ignore_merges", options.ignore_merges}}}};
}

std::unique_ptr<BpeTokenizer> Make(const Options& options,
                                   BpeTokenizer::SpecialIds ids = {.eos_token_id = kEndOfText}) {
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> t =
      BpeTokenizer::Create(MakeTokenizerJson(options).dump(), "tokenizer.json", ids);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : nullptr;
}

std::unique_ptr<BpeTokenizer> Qwen2Style() { return Make({SplitThenByteLevel(kQwen2Pattern)}); }

TEST(ByteLevelTest, MapsBytesToGpt2Characters) {
  EXPECT_EQ(ByteLevelEncode(" "), "\u0120");     // Ġ
  EXPECT_EQ(ByteLevelEncode("\n"), "\u010A");    // Ċ
  EXPECT_EQ(ByteLevelEncode("\xAD"), "\u0143");  // Ń: the 68th and last remapped byte
  EXPECT_EQ(ByteLevelEncode("a~\xA1\xFF"), "a~\u00A1\u00FF");
  std::string all;
  for (int b = 0; b < 256; ++b) {
    all.push_back(static_cast<char>(b));
    EXPECT_EQ(ByteLevelEncode(std::string(1, static_cast<char>(b))), ByteChar(b)) << b;
  }
  EXPECT_EQ(ByteLevelDecode(ByteLevelEncode(all)), all);
  EXPECT_EQ(ByteLevelDecode("\u20AC"), std::nullopt);  // € is not in the alphabet
  EXPECT_EQ(ByteLevelDecode("\xC4"), std::nullopt);    // truncated UTF-8
}

TEST(PreTokenizerTest, Gpt2PatternSplitsLikeGpt2) {
  absl::StatusOr<PreTokenizer> gpt2 = PreTokenizer::Create({{kGpt2SplitPattern}});
  ASSERT_TRUE(gpt2.ok()) << gpt2.status();
  std::vector<absl::string_view> pieces;
  // "  here": \s+(?!\S) backs off to one space so the next piece is " here"; "\n\nOK" splits the
  // same way into "\n", "\n"; digits stay together after an optional space.
  gpt2->Split("I'm  here\n\nOK 12345", &pieces);
  EXPECT_THAT(pieces, ElementsAre("I", "'m", " ", " here", "\n", "\n", "OK", " 12345"));
  pieces.clear();
  gpt2->Split("I'M", &pieces);  // contractions are case-sensitive in GPT-2
  EXPECT_THAT(pieces, ElementsAre("I", "'", "M"));
  pieces.clear();
  gpt2->Split("naïve café 日本語", &pieces);  // \p{L} is Unicode-aware
  EXPECT_THAT(pieces, ElementsAre("naïve", " café", " 日本語"));
}

TEST(PreTokenizerTest, Llama3PatternSplitsDigitsInThreesAndKeepsNewlinesTogether) {
  absl::StatusOr<PreTokenizer> llama3 = PreTokenizer::Create({{kLlama3Pattern}});
  ASSERT_TRUE(llama3.ok()) << llama3.status();
  std::vector<absl::string_view> pieces;
  llama3->Split("I'm  here\n\nOK 12345", &pieces);
  EXPECT_THAT(pieces, ElementsAre("I", "'m", " ", " here", "\n\n", "OK", " ", "123", "45"));
  pieces.clear();
  llama3->Split("I'M", &pieces);  // (?i:...) contractions
  EXPECT_THAT(pieces, ElementsAre("I", "'M"));
}

TEST(PreTokenizerTest, InvalidUtf8IsKeptAsItsOwnPiece) {
  absl::StatusOr<PreTokenizer> gpt2 = PreTokenizer::Create({{kGpt2SplitPattern}});
  ASSERT_TRUE(gpt2.ok());
  std::vector<absl::string_view> pieces;
  gpt2->Split(
      "ab\xFF"
      "cd",
      &pieces);
  EXPECT_THAT(pieces, ElementsAre("ab", "\xFF", "cd"));
}

TEST(PreTokenizerTest, BadPatternIsRefused) {
  absl::StatusOr<PreTokenizer> bad = PreTokenizer::Create({{"(unclosed"}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("(unclosed"));
}

TEST(BpeTokenizerTest, EncodesWithMergesInRankOrder) {
  std::unique_ptr<BpeTokenizer> t = Qwen2Style();
  ASSERT_NE(t, nullptr);
  // "hello": h·e (rank 0), l·l (1), he·ll (2), hell·o (3) → one token.
  // " world": Ġ·w (4), o·r (5), Ġw·or (6); "l" and "d" stay bytes.
  EXPECT_THAT(t->Encode("hello world"), ElementsAre(kHello, kGwor, 'l', 'd'));
  // " the": h·e (0) before Ġ·t (7), then Ġt·he (8).
  EXPECT_THAT(t->Encode(" the"), ElementsAre(kGthe));
  // "her": h·e (0) wins over e·r (9), and "he r" is no merge.
  EXPECT_THAT(t->Encode("her"), ElementsAre(kHe, 'r'));
  EXPECT_THAT(t->Encode("er"), ElementsAre(kEr));
  // "the other" → "the", " other": no "t he" or "Ġ o" merge.
  EXPECT_THAT(t->Encode("the other"), ElementsAre('t', kHe, ' ', 'o', 't', kHe, 'r'));
  // é is two bytes that no merge joins; l·l merges inside the same piece.
  EXPECT_THAT(t->Encode("héllo"), ElementsAre('h', 0xC3, 0xA9, kLl, 'o'));
  // Qwen2's pattern puts every digit in its own piece.
  EXPECT_THAT(t->Encode("42"), ElementsAre('4', '2'));
}

TEST(BpeTokenizerTest, MergesWrittenAsPairsMeanTheSame) {
  std::unique_ptr<BpeTokenizer> pairs =
      Make({SplitThenByteLevel(kQwen2Pattern), /*merges_as_pairs=*/true});
  ASSERT_NE(pairs, nullptr);
  EXPECT_EQ(pairs->num_merges(), 10);
  EXPECT_THAT(pairs->Encode("hello world the"), ElementsAre(kHello, kGwor, 'l', 'd', kGthe));
}

TEST(BpeTokenizerTest, AddedTokensAreMatchedBeforePreTokenization) {
  std::unique_ptr<BpeTokenizer> t = Qwen2Style();
  ASSERT_NE(t, nullptr);
  EXPECT_THAT(t->Encode("<|im_start|>the<|im_end|>"), ElementsAre(kImStart, 't', kHe, kImEnd));
  // Inside a word, too (pre-tokenization would have split "<|" from "endoftext").
  EXPECT_THAT(t->Encode("hello<|endoftext|>hello"), ElementsAre(kHello, kEndOfText, kHello));
  // A partial marker is plain text.
  EXPECT_EQ(t->Encode("<|im_").size(), 5u);
  EXPECT_THAT(t->Encode("[NS]"), ElementsAre(kNonSpecial));
}

TEST(BpeTokenizerTest, DecodeSkipsSpecialTokensAndKeepsOtherAddedTokens) {
  std::unique_ptr<BpeTokenizer> t = Qwen2Style();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Decode({kImStart, kHello, kGwor, 'l', 'd', kEndOfText}), "hello world");
  EXPECT_EQ(t->Decode({kNonSpecial, kGt}), "[NS] t");
  EXPECT_TRUE(t->IsSpecial(kEndOfText));
  EXPECT_FALSE(t->IsSpecial(kNonSpecial));
  EXPECT_FALSE(t->IsSpecial(kHello));
  EXPECT_EQ(t->Decode({-1, 270, 1 << 30}), "");  // outside the vocabulary
  EXPECT_EQ(t->Decode({0xC3}), "\xC3");          // half a character: bytes, not text
  EXPECT_EQ(t->vocab_size(), 270);
  EXPECT_EQ(t->eos_token_id(), kEndOfText);
  EXPECT_EQ(t->bos_token_id(), -1);
}

TEST(BpeTokenizerTest, Gpt2ByteLevelWithPrefixSpace) {
  std::unique_ptr<BpeTokenizer> t = Make({Gpt2ByteLevel()});
  ASSERT_NE(t, nullptr);
  // add_prefix_space: " hello world" → " hello" (Ġ stays alone: no "Ġ he" merge), " world".
  EXPECT_THAT(t->Encode("hello world"), ElementsAre(' ', kHello, kGwor, 'l', 'd'));
  EXPECT_THAT(t->PreTokenize("hello world"), ElementsAre(" hello", " world"));
}

TEST(BpeTokenizerTest, IgnoreMergesTakesWholePiecesFromTheVocabulary) {
  std::unique_ptr<BpeTokenizer> with =
      Make({SplitThenByteLevel(kLlama3Pattern), false, /*ignore_merges=*/true});
  ASSERT_NE(with, nullptr);
  EXPECT_THAT(with->Encode("her"), ElementsAre(270));
  EXPECT_THAT(with->Encode("hers"), ElementsAre(kHe, 'r', 's'));  // not in the vocabulary: BPE
}

TEST(BpeTokenizerTest, RoundTripsArbitraryBytesAndText) {
  std::unique_ptr<BpeTokenizer> t = Qwen2Style();
  ASSERT_NE(t, nullptr);
  for (const std::string& s : std::vector<std::string>{
           "", " ", "hello world", "Grüße, 世界! 🎉\n\n  tabs\tand 12345", "I'M  here",
           "\xFF\xFE invalid \xC3(", std::string("nul\0byte", 8)}) {
    EXPECT_EQ(t->Decode(t->Encode(s)), s);
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string s(rng() % 40, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 256);
    const std::vector<int32_t> ids = t->Encode(s);
    for (int32_t id : ids) EXPECT_FALSE(t->IsSpecial(id));
    EXPECT_EQ(t->Decode(ids), s);
  }
}

TEST(BpeTokenizerTest, StreamingHoldsBackCharactersSplitAcrossTokens) {
  std::unique_ptr<BpeTokenizer> t = Qwen2Style();
  ASSERT_NE(t, nullptr);
  const std::string text = "héllo 🎉";
  const std::vector<int32_t> ids = t->Encode(text);
  Utf8StreamDecoder decoder;
  std::string streamed, bytes;
  for (int32_t id : ids) {
    bytes.clear();
    t->AppendTokenBytes(id, &bytes);
    const size_t before = streamed.size();
    decoder.FeedBytesTo(bytes, &streamed);
    if (id == 0xC3 || id == 0xF0) {
      EXPECT_EQ(streamed.size(), before) << "lead byte held back";
    }
  }
  decoder.FlushTo(&streamed);
  EXPECT_EQ(streamed, text);
}

TEST(BpeTokenizerTest, RefusesWhatItCannotDo) {
  auto error = [](const Json& json) {
    absl::StatusOr<std::unique_ptr<BpeTokenizer>> t =
        BpeTokenizer::Create(json.dump(), "dir/tokenizer.json", {});
    EXPECT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(t.status().message()), HasSubstr("dir/tokenizer.json"));
    return std::string(t.status().message());
  };
  const Json good = MakeTokenizerJson({SplitThenByteLevel(kQwen2Pattern)});
  EXPECT_TRUE(BpeTokenizer::Create(good.dump(), "t", {}).ok());
  EXPECT_THAT(error(Json::array()), HasSubstr("not a JSON object"));

  Json wordpiece = good;
  wordpiece["model"]["type"] = "WordPiece";
  EXPECT_THAT(error(wordpiece), HasSubstr("model.type"));

  Json no_byte = good;
  no_byte["model"]["vocab"].erase("A");
  EXPECT_THAT(error(no_byte), HasSubstr("0x41"));

  Json bad_merge = good;
  bad_merge["model"]["merges"][3] = "hell x";  // "hellx" is not in the vocabulary
  EXPECT_THAT(error(bad_merge), HasSubstr("model.merges[3]"));
  bad_merge["model"]["merges"][3] = "nospace";
  EXPECT_THAT(error(bad_merge), HasSubstr("model.merges[3]"));

  Json metaspace = good;
  metaspace["pre_tokenizer"] = {{"type", "Metaspace"}};
  EXPECT_THAT(error(metaspace), HasSubstr("Metaspace"));

  Json no_byte_level = good;
  no_byte_level["pre_tokenizer"]["pretokenizers"].erase(1);
  EXPECT_THAT(error(no_byte_level), HasSubstr("ByteLevel"));

  Json removed = good;
  removed["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed";
  EXPECT_THAT(error(removed), HasSubstr("behavior"));

  Json bad_regex = good;
  bad_regex["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "[unclosed";
  EXPECT_THAT(error(bad_regex), HasSubstr("[unclosed"));

  Json nfkc = good;
  nfkc["normalizer"] = {{"type", "NFKC"}};
  EXPECT_THAT(error(nfkc), HasSubstr("normalizer"));

  Json added_without_id = good;
  added_without_id["added_tokens"][0].erase("id");
  EXPECT_THAT(error(added_without_id), HasSubstr("added_tokens[0]"));

  absl::StatusOr<std::unique_ptr<BpeTokenizer>> bad_eos =
      BpeTokenizer::Create(good.dump(), "tokenizer.json", {.eos_token_id = 5000});
  EXPECT_THAT(std::string(bad_eos.status().message()), HasSubstr("5000"));
  EXPECT_EQ(BpeTokenizer::Create("{not json", "tokenizer.json", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// One piece per input: BPE over the whole text, so that dropped bytes show their neighbours
// merging.
Json WholeTextByteLevel() {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
}

absl::StatusOr<std::unique_ptr<BpeTokenizer>> Create(const Json& json) {
  return BpeTokenizer::Create(json.dump(), "tokenizer.json", {});
}

// GPT-NeoX's vocabulary has no tokens for the bytes that never occur in UTF-8; StarCoder's lacks
// 0xF1 too. Hugging Face loads both; its BPE drops a character without an entry (the neighbours
// then merge) or, with unk_token, emits unk_token (fused with fuse_unk). Checked against HF
// tokenizers 0.23 on the same vocabulary with "x" missing: "hxe" → [he]; with unk_token "hxxe" →
// [h, unk, unk, e], with fuse_unk [h, unk, e].
TEST(BpeTokenizerTest, VocabularyWithoutNonUtf8BytesLoadsAndDropsThem) {
  Json json = MakeTokenizerJson({WholeTextByteLevel()});
  std::vector<int> missing = {0xC0, 0xC1, 0xF1, 0xF2};
  for (int b = 0xF5; b <= 0xFF; ++b) missing.push_back(b);
  for (int b : missing) ASSERT_EQ(json["model"]["vocab"].erase(ByteChar(b)), 1u) << b;
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> t = Create(json);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT((*t)->Describe(), HasSubstr("15 bytes without a token"));
  // Valid UTF-8 (every byte of it has a token) encodes and round-trips as before.
  const std::string text = "h\xC3\xA9llo w\xC3\xB6rld \xF0\x9F\x8E\x89 \xF3\xA0\x80\x81";
  EXPECT_EQ((*t)->Decode((*t)->Encode(text)), text);
  // h, [0xFF dropped], e: h·e merges across the dropped byte.
  EXPECT_THAT((*t)->Encode("h\xFF"
                           "e"),
              ElementsAre(kHe));
  EXPECT_THAT((*t)->Encode("h\xF5\xC0"
                           "ello"),
              ElementsAre(kHello));
  EXPECT_THAT((*t)->Encode("\xFF\xFE"), ElementsAre());
  EXPECT_THAT((*t)->Encode("\xFF"), ElementsAre());  // the one-byte shortcut drops it too
  EXPECT_EQ((*t)->TokenId("\xFF"), -1);
  // Bytes that have tokens are unaffected even where invalid (a lone continuation byte).
  EXPECT_THAT((*t)->Encode("\x80"), ElementsAre(0x80));

  constexpr int32_t kUnk = 271;
  json["model"]["vocab"]["<unk>"] = kUnk;
  json["model"]["unk_token"] = "<unk>";
  t = Create(json);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT((*t)->Encode("h\xFF"
                           "e"),
              ElementsAre('h', kUnk, 'e'));
  EXPECT_THAT((*t)->Encode("h\xFF\xFE"
                           "e"),
              ElementsAre('h', kUnk, kUnk, 'e'));
  EXPECT_THAT((*t)->Encode("\xFF"), ElementsAre(kUnk));
  json["model"]["fuse_unk"] = true;
  t = Create(json);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT((*t)->Encode("h\xFF\xFE"
                           "e"),
              ElementsAre('h', kUnk, 'e'));
  EXPECT_THAT((*t)->Encode("\xFF\xF5h\xF5"), ElementsAre(kUnk, 'h', kUnk));

  // An unk_token that is not in model.vocab: the bytes are dropped, as with none.
  json["model"]["unk_token"] = "<absent>";
  t = Create(json);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT((*t)->Encode("h\xFF"
                           "e"),
              ElementsAre(kHe));
}

TEST(BpeTokenizerTest, VocabularyWithoutBytesOfUtf8TextIsRefused) {
  // 0x80 continues every multi-byte character; 0xF3 leads plane 14 (tags, variation selectors)
  // and 0xF4 plane 16 (private use); 0xF0 the emoji; 0x0A is a newline.
  for (int b : {0x0A, 0x80, 0xBF, 0xC2, 0xF0, 0xF3, 0xF4}) {
    Json json = MakeTokenizerJson({WholeTextByteLevel()});
    json["model"]["vocab"].erase(ByteChar(b));
    absl::StatusOr<std::unique_ptr<BpeTokenizer>> t = Create(json);
    ASSERT_FALSE(t.ok()) << b;
    EXPECT_THAT(std::string(t.status().message()), HasSubstr(absl::StrFormat("byte 0x%02X", b)));
    EXPECT_THAT(std::string(t.status().message()), HasSubstr("not a byte-level vocabulary"));
  }
}

// Command-R's vocabulary spells U+200D both as raw text (id 264) and byte-level ("âĢį", 35927);
// both stand for the bytes E2 80 8D. HF merges by string, so BPE reaches the byte-level entry
// only; the raw-text one is never produced.
TEST(BpeTokenizerTest, MergesAndWholePiecesResolveByTheVocabularyString) {
  constexpr int32_t kRawZwj = 272, kHalf = 273, kByteLevelZwj = 274;
  const std::string half = ByteChar(0xE2) + ByteChar(0x80);
  for (const bool ignore_merges : {false, true}) {
    Json json = MakeTokenizerJson({SplitThenByteLevel(kLlama3Pattern), false, ignore_merges});
    json["model"]["vocab"]["\u200D"] = kRawZwj;  // lower id than the byte-level spelling
    json["model"]["vocab"][half] = kHalf;
    json["model"]["vocab"][half + ByteChar(0x8D)] = kByteLevelZwj;
    json["model"]["merges"].push_back(ByteChar(0xE2) + " " + ByteChar(0x80));
    json["model"]["merges"].push_back(half + " " + ByteChar(0x8D));
    absl::StatusOr<std::unique_ptr<BpeTokenizer>> t = Create(json);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_THAT((*t)->Encode("\u200D"), ElementsAre(kByteLevelZwj)) << ignore_merges;
    EXPECT_THAT((*t)->Encode("\xE2\x80"), ElementsAre(kHalf)) << ignore_merges;
    EXPECT_EQ((*t)->TokenId("\xE2\x80\x8D"), kByteLevelZwj);
    // Both decode to the same bytes.
    EXPECT_EQ((*t)->Decode({kRawZwj}), "\u200D");
    EXPECT_EQ((*t)->Decode({kByteLevelZwj}), "\u200D");
  }
  // A merge naming the raw-text spelling is resolved by that string, not by its bytes: "\u200D"
  // is an entry, but "\u200Dh" is not (only the byte-level "âĢįh" would be).
  Json json = MakeTokenizerJson({WholeTextByteLevel()});
  json["model"]["vocab"]["\u200D"] = kRawZwj;
  json["model"]["vocab"][half + ByteChar(0x8D) + "h"] = 275;
  json["model"]["merges"].push_back("\u200D h");
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> t = Create(json);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("model.merges[10]"));
}

// HF's Digits pre-tokenizer, checked against HF tokenizers 0.23 on this vocabulary: with
// individual_digits every character of Unicode category N is a piece of its own; without, each run
// of them is one piece (here "٣½4": U+0663 Nd, U+00BD No, '4').
TEST(BpeTokenizerTest, DigitsPreTokenizerBothWays) {
  constexpr int32_t k12 = 280, k123 = 281, kHalf4 = 282, kA1 = 283;
  auto make = [&](const Json& digits) {
    Json json = MakeTokenizerJson(
        {{{"type", "Sequence"}, {"pretokenizers", {digits, WholeTextByteLevel()}}}});
    for (const auto& [left, right, id] : std::vector<std::tuple<std::string, std::string, int>>{
             {"1", "2", k12}, {"12", "3", k123}, {ByteChar(0xBD), "4", kHalf4}, {"a", "1", kA1}}) {
      json["model"]["vocab"][left + right] = id;
      json["model"]["merges"].push_back(left + " " + right);
    }
    return Create(json);
  };
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> individual =
      make({{"type", "Digits"}, {"individual_digits", true}});
  ASSERT_TRUE(individual.ok()) << individual.status();
  EXPECT_THAT((*individual)->PreTokenize("a123"), ElementsAre("a", "1", "2", "3"));
  EXPECT_THAT((*individual)->Encode("a123"), ElementsAre('a', '1', '2', '3'));
  EXPECT_THAT((*individual)
                  ->Encode("\u0663\u00BD"
                           "4"),
              ElementsAre(0xD9, 0xA3, 0xC2, 0xBD, '4'));
  EXPECT_THAT((*individual)->Encode("x12 3"), ElementsAre('x', '1', '2', ' ', '3'));

  for (const Json& runs : {Json{{"type", "Digits"}, {"individual_digits", false}},
                           Json{{"type", "Digits"}}}) {  // HF's default is false
    absl::StatusOr<std::unique_ptr<BpeTokenizer>> t = make(runs);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_THAT((*t)->PreTokenize("a123 45"), ElementsAre("a", "123", " ", "45"));
    EXPECT_THAT((*t)->Encode("a123"), ElementsAre('a', k123));  // no a·1: different pieces
    EXPECT_THAT((*t)->Encode("\u0663\u00BD"
                             "4"),
                ElementsAre(0xD9, 0xA3, 0xC2, kHalf4));
    EXPECT_THAT((*t)->Encode("x12 3"), ElementsAre('x', k12, ' ', '3'));
  }

  absl::StatusOr<std::unique_ptr<BpeTokenizer>> not_bool =
      make({{"type", "Digits"}, {"individual_digits", "yes"}});
  EXPECT_THAT(std::string(not_bool.status().message()), HasSubstr("individual_digits"));
  // After ByteLevel, HF would look for digits in the byte-level spelling: refused.
  Json after = MakeTokenizerJson(
      {{{"type", "Sequence"}, {"pretokenizers", {WholeTextByteLevel(), {{"type", "Digits"}}}}}});
  EXPECT_THAT(std::string(Create(after).status().message()), HasSubstr("Digits after ByteLevel"));
}

TEST(BpeTokenizerTest, NormalizerSequencesOfNfcAreAccepted) {
  Json json = MakeTokenizerJson({WholeTextByteLevel()});
  json["normalizer"] = {{"type", "Sequence"}, {"normalizers", Json::array()}};  // DeepSeek's
  EXPECT_TRUE(Create(json).ok());
  json["normalizer"]["normalizers"].push_back({{"type", "NFC"}});
  EXPECT_TRUE(Create(json).ok());
  json["normalizer"]["normalizers"].push_back({{"type", "Lowercase"}});
  EXPECT_THAT(std::string(Create(json).status().message()), HasSubstr("normalizer"));
}

}  // namespace
}  // namespace kvserve
