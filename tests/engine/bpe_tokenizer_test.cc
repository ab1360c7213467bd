// BpeTokenizer on a small tokenizer.json made here: the 256 byte tokens (id = byte value), ten
// merges, and four added tokens. Every expected encoding below was worked out by hand from the
// merge ranks and the pre-tokenizer regexes (the derivations are in the comments), not copied from
// the implementation's output.
#include "engine/tokenizer/bpe_tokenizer.h"

#include <random>
#include <string>
#include <vector>

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

// GPT-2's bytes_to_unicode, written out here independently of engine/byte_level.cc.
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
  for (const auto& [content, special] : std::vector<std::pair<std::string, bool>>{
           {"<|endoftext|>", true}, {"<|im_start|>", true}, {"<|im_end|>", true}, {"[NS]", false}}) {
    added.push_back({{"id", id++}, {"content", content}, {"special", special},
                     {"lstrip", false}, {"rstrip", false}, {"normalized", false}});
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
  gpt2->Split("ab\xFF" "cd", &pieces);
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
  EXPECT_EQ(t->Decode({0xC3}), "\xC3");           // half a character: bytes, not text
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
  for (const std::string& s : std::vector<std::string>{"", " ", "hello world", "Grüße, 世界! 🎉\n\n  tabs\tand 12345",
                              "I'M  here", "\xFF\xFE invalid \xC3(", std::string("nul\0byte", 8)}) {
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

}  // namespace
}  // namespace kvserve
