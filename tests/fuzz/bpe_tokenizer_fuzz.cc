// bpe_tokenizer_fuzz: BpeTokenizer (engine/tokenizer/bpe_tokenizer.h) on arbitrary tokenizer.json
// files and on arbitrary text.
//
// Input, by its first byte:
//   * '{': the whole input is a tokenizer.json. Refused → INVALID_ARGUMENT naming the file.
//     Accepted → encoding a few fixed texts (ASCII, multi-byte UTF-8, invalid UTF-8) gives ids
//     inside the vocabulary, and decoding them does not crash.
//   * anything else: the input is text, encoded by three fixed tokenizers made here (the 256 byte
//     tokens, a few merges, added tokens "<|endoftext|>" (special) and "[NS]" (not special)):
//     Llama-3's and Qwen2's Split regexes (PCRE2, with invalid UTF-8 in the text) and GPT-2's
//     ByteLevel with add_prefix_space. Properties: every id is inside the vocabulary; encoding is
//     deterministic; with BOS asked for, the same ids follow the BOS; for the two Split tokenizers
//     decoding gives back the text with the special token removed (special tokens decode to
//     nothing; every other token to its bytes); for GPT-2 it gives back the text, with a space
//     in front where add_prefix_space put one.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "engine/tokenizer/byte_level.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_check.h"

namespace kvserve {
namespace {

using Json = nlohmann::json;

constexpr absl::string_view kFileName = "fuzz/tokenizer.json";
constexpr char kLlama3Pattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr char kQwen2Pattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr char kSpecial[] = "<|endoftext|>";

Json SplitThenByteLevel(const char* pattern) {
  return {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}},
            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
}

std::unique_ptr<BpeTokenizer> MakeFixed(const Json& pre_tokenizer, bool ignore_merges) {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab[ByteLevelEncode(std::string(1, static_cast<char>(b)))] = b;
  Json merges = Json::array();
  for (const char* pair : {"h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġ t", "Ġt he",
                           "e r", "1 2", "12 3", "Ã ©"}) {
    const std::string s(pair);
    const size_t space = s.find(' ');
    vocab[s.substr(0, space) + s.substr(space + 1)] = static_cast<int>(vocab.size());
    merges.push_back(s);
  }
  if (ignore_merges) vocab["Ġhello"] = static_cast<int>(vocab.size());
  const int n = static_cast<int>(vocab.size());
  const Json added = Json::array({{{"id", n}, {"content", kSpecial}, {"special", true}},
                                  {{"id", n + 1}, {"content", "[NS]"}, {"special", false}}});
  const Json json = {
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", pre_tokenizer},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"ignore_merges", ignore_merges}}}};
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> t =
      BpeTokenizer::Create(json.dump(), "fixed/tokenizer.json", {.bos_token_id = n});
  FUZZ_CHECK(t.ok(), "the fixed tokenizer was refused: ", t.status().ToString());
  return *std::move(t);
}

std::string DecodeAll(const Tokenizer& t, const std::vector<int32_t>& ids) {
  std::string bytes;
  for (int32_t id : ids) t.AppendTokenBytes(id, &bytes);
  return bytes;
}

// The checks every tokenizer must pass on any text; returns the ids.
std::vector<int32_t> EncodeChecked(const Tokenizer& t, absl::string_view text) {
  std::vector<int32_t> ids;
  t.EncodeTo(text, /*add_bos=*/false, &ids);
  for (int32_t id : ids) {
    FUZZ_CHECK(id >= 0 && id < t.vocab_size(), "id ", id, " outside the vocabulary of ",
               t.vocab_size(), " for \"", absl::CHexEscape(text), "\"");
  }
  std::vector<int32_t> again;
  t.EncodeTo(text, /*add_bos=*/false, &again);
  FUZZ_CHECK(again == ids, "encoding \"", absl::CHexEscape(text), "\" is not deterministic");
  if (t.bos_token_id() >= 0) {
    std::vector<int32_t> with_bos;
    t.EncodeTo(text, /*add_bos=*/true, &with_bos);
    FUZZ_CHECK(!with_bos.empty() && with_bos[0] == t.bos_token_id() &&
                   std::vector<int32_t>(with_bos.begin() + 1, with_bos.end()) == ids,
               "add_bos did not put exactly BOS in front");
  }
  return ids;
}

void FuzzFixedTokenizers(absl::string_view text) {
  static const BpeTokenizer& llama3 =
      *MakeFixed(SplitThenByteLevel(kLlama3Pattern), true).release();
  static const BpeTokenizer& qwen2 = *MakeFixed(SplitThenByteLevel(kQwen2Pattern), false).release();
  static const BpeTokenizer& gpt2 =
      *MakeFixed({{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}, false)
           .release();
  const std::string without_special = absl::StrReplaceAll(text, {{kSpecial, ""}});
  for (const BpeTokenizer* t : {&llama3, &qwen2}) {
    const std::string decoded = DecodeAll(*t, EncodeChecked(*t, text));
    FUZZ_CHECK(decoded == without_special, t->Describe(), ": \"", absl::CHexEscape(text),
               "\" decoded to \"", absl::CHexEscape(decoded), "\"");
  }
  const std::string decoded = DecodeAll(gpt2, EncodeChecked(gpt2, text));
  FUZZ_CHECK(decoded == without_special || decoded == " " + without_special ||
                 absl::StrReplaceAll(decoded, {{" ", ""}}) ==
                     absl::StrReplaceAll(without_special, {{" ", ""}}),
             "GPT-2 style: \"", absl::CHexEscape(text), "\" decoded to \"",
             absl::CHexEscape(decoded), "\"");
}

void FuzzTokenizerJson(absl::string_view json) {
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> t =
      BpeTokenizer::Create(json, kFileName, BpeTokenizer::SpecialIds{});
  if (!t.ok()) {
    FUZZ_CHECK(t.status().code() == absl::StatusCode::kInvalidArgument, "refused with ",
               t.status().ToString());
    FUZZ_CHECK(absl::StrContains(t.status().message(), kFileName),
               "the error does not name the file: ", t.status().ToString());
    return;
  }
  for (absl::string_view text :
       {absl::string_view("hello world, 12345 <|endoftext|> [NS]\n\n"),
        absl::string_view("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
        absl::string_view("\xFF\xC3 \xED\xA0\x80 x\0y", 10), absl::string_view("")}) {
    DecodeAll(**t, EncodeChecked(**t, text));
  }
}

}  // namespace
}  // namespace kvserve

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  if (!input.empty() && input[0] == '{') {
    kvserve::FuzzTokenizerJson(input);
  } else {
    kvserve::FuzzFixedTokenizers(input);
  }
  return 0;
}
