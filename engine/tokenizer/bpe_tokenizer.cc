#include "engine/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <optional>
#include <queue>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/tokenizer/byte_level.h"
#include "nlohmann/json.hpp"

namespace kvserve {
namespace {

using Json = nlohmann::json;

// Ids at or above this are refused (they would only make the id table huge).
constexpr int64_t kMaxTokenId = int64_t{1} << 22;

// The bytes a vocabulary string stands for. Like HF's ByteLevel decoder, a string with a character
// outside the byte-level alphabet stands for its own UTF-8 bytes.
std::string RawBytes(const std::string& token) {
  std::optional<std::string> bytes = ByteLevelDecode(token);
  return bytes.has_value() ? *std::move(bytes) : token;
}

// Whether `byte` occurs in the UTF-8 of some assigned character: all bytes but 0xC0 and 0xC1
// (overlong leads), 0xF5..0xFF (leads past U+10FFFF), and 0xF1 and 0xF2, which lead only planes
// 4..11, where Unicode (16.0) has assigned nothing. A byte-level vocabulary must have a token for
// each of these; StarCoder's lacks 0xF1.
bool EncodesAssignedCharacters(int byte) {
  return byte < 0xC0 || (byte >= 0xC2 && byte <= 0xF0) || byte == 0xF3 || byte == 0xF4;
}

const Json* FindNonNull(const Json& object, const char* field) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(field);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

}  // namespace

// Reads tokenizer.json into a BpeTokenizer; every error names the file and the field.
class BpeTokenizer::Builder {
 public:
  Builder(absl::string_view file, BpeTokenizer* out) : file_(file), out_(out) {}

  absl::Status Build(const Json& json, SpecialIds special_ids) {
    if (!json.is_object()) return Error("", "the file is not a JSON object");
    const Json* model = FindNonNull(json, "model");
    if (model == nullptr || !model->is_object()) return Error("model", "is missing");
    if (absl::Status s = ReadModelOptions(*model); !s.ok()) return s;
    if (absl::Status s = ReadVocab(*model); !s.ok()) return s;
    if (!unk_token_.empty()) {
      const auto it = by_string_.find(unk_token_);
      if (it != by_string_.end()) out_->unk_id_ = it->second;  // else: unknown bytes are dropped
    }
    if (absl::Status s = ReadAddedTokens(json); !s.ok()) return s;
    if (absl::Status s = ReadMerges(*model); !s.ok()) return s;
    if (absl::Status s = ReadPreTokenizer(json); !s.ok()) return s;
    if (absl::Status s = CheckNormalizerAndDecoder(json); !s.ok()) return s;
    for (auto [id, what] : {std::pair{special_ids.bos_token_id, "bos_token_id"},
                            {special_ids.eos_token_id, "eos_token_id"}}) {
      if (id < 0) continue;
      if (id >= out_->vocab_size() || !out_->tokens_[id].assigned) {
        return Error("", absl::StrCat("has no token with id ", id, " (the model's ", what, ")"));
      }
      out_->tokens_[id].special = true;  // BOS/EOS are control tokens: they decode to nothing
    }
    out_->special_ids_ = special_ids;
    return absl::OkStatus();
  }

 private:
  absl::Status Error(absl::string_view field, absl::string_view what) const {
    if (field.empty()) return absl::InvalidArgumentError(absl::StrCat(file_, ": ", what));
    return absl::InvalidArgumentError(absl::StrCat(file_, ": ", field, " ", what));
  }

  absl::StatusOr<int32_t> TokenIdField(absl::string_view field, const Json& v) const {
    if (!v.is_number_unsigned() || v.get<uint64_t>() >= static_cast<uint64_t>(kMaxTokenId)) {
      return Error(field,
                   absl::StrCat("has id ", v.dump(), ", not an integer in [0, ", kMaxTokenId, ")"));
    }
    return static_cast<int32_t>(v.get<uint64_t>());
  }

  absl::Status ReadModelOptions(const Json& model) {
    if (const Json* type = FindNonNull(model, "type");
        type != nullptr && (!type->is_string() || type->get<std::string>() != "BPE")) {
      return Error("model.type", absl::StrCat("is ", type->dump(), "; only \"BPE\" is supported"));
    }
    for (const char* field : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const Json* v = FindNonNull(model, field);
      if (v != nullptr && !(v->is_string() && v->get<std::string>().empty())) {
        return Error(absl::StrCat("model.", field), "is set, which is not supported");
      }
    }
    if (const Json* v = FindNonNull(model, "ignore_merges"); v != nullptr) {
      if (!v->is_boolean()) return Error("model.ignore_merges", "must be true or false");
      out_->ignore_merges_ = v->get<bool>();
    }
    if (const Json* v = FindNonNull(model, "unk_token"); v != nullptr) {
      if (!v->is_string()) return Error("model.unk_token", "must be a string or null");
      unk_token_ = v->get<std::string>();
    }
    if (const Json* v = FindNonNull(model, "fuse_unk"); v != nullptr) {
      if (!v->is_boolean()) return Error("model.fuse_unk", "must be true or false");
      out_->fuse_unk_ = v->get<bool>();
    }
    return absl::OkStatus();
  }

  void Assign(int32_t id, std::string bytes, bool special) {
    if (id >= static_cast<int32_t>(out_->tokens_.size())) out_->tokens_.resize(id + 1);
    Token& t = out_->tokens_[id];
    t.bytes = std::move(bytes);
    t.special = special;
    t.assigned = true;
  }

  absl::Status ReadVocab(const Json& model) {
    const Json* vocab = FindNonNull(model, "vocab");
    if (vocab == nullptr || !vocab->is_object()) {
      return Error("model.vocab", "is missing or not an object");
    }
    for (const auto& [token, id_json] : vocab->items()) {
      absl::StatusOr<int32_t> id =
          TokenIdField(absl::StrCat("model.vocab[\"", token, "\"]"), id_json);
      if (!id.ok()) return id.status();
      by_string_.emplace(token, *id);
      // Only entries spelled in the byte-level alphabet are reachable by BPE over bytes; an entry
      // spelled as raw text ("\u200d") may stand for the same bytes as one spelled byte-level
      // ("âĢį") but is a different token, which byte-level BPE never produces (as in HF).
      if (std::optional<std::string> bytes = ByteLevelDecode(token); bytes.has_value()) {
        out_->by_bytes_.emplace(*bytes, *id);
      }
      Assign(*id, RawBytes(token), /*special=*/false);
    }
    for (int b = 0; b < 256; ++b) {
      const auto it = out_->by_bytes_.find(std::string(1, static_cast<char>(b)));
      if (it != out_->by_bytes_.end()) {
        out_->byte_ids_[b] = it->second;
      } else if (EncodesAssignedCharacters(b)) {
        return Error("model.vocab",
                     absl::StrFormat("has no entry for byte 0x%02X (U+%04X), which occurs in UTF-8 "
                                     "text: not a byte-level vocabulary",
                                     b, ByteLevelCodePoint(static_cast<uint8_t>(b))));
      } else {
        out_->byte_ids_[b] = -1;  // GPT-NeoX, StarCoder: bytes that (nearly) never occur in text
        ++out_->num_bytes_without_token_;
      }
    }
    return absl::OkStatus();
  }

  absl::Status ReadAddedTokens(const Json& json) {
    const Json* added = FindNonNull(json, "added_tokens");
    if (added == nullptr) return absl::OkStatus();
    if (!added->is_array()) return Error("added_tokens", "is not an array");
    for (size_t i = 0; i < added->size(); ++i) {
      const Json& entry = (*added)[i];
      const std::string field = absl::StrCat("added_tokens[", i, "]");
      const Json* id_json = FindNonNull(entry, "id");
      const Json* content = FindNonNull(entry, "content");
      if (id_json == nullptr || content == nullptr || !content->is_string() ||
          content->get<std::string>().empty()) {
        return Error(field, "needs an \"id\" and a non-empty \"content\" string");
      }
      absl::StatusOr<int32_t> id = TokenIdField(field, *id_json);
      if (!id.ok()) return id.status();
      bool special = false;
      if (const Json* v = FindNonNull(entry, "special"); v != nullptr) {
        if (!v->is_boolean()) return Error(field + ".special", "must be true or false");
        special = v->get<bool>();
      }
      const std::string text = content->get<std::string>();
      Assign(*id, text, special);
      auto& bucket = out_->added_by_first_byte_[static_cast<uint8_t>(text[0])];
      bucket.push_back(AddedToken{text, *id});
      std::stable_sort(bucket.begin(), bucket.end(), [](const AddedToken& a, const AddedToken& b) {
        return a.content.size() > b.content.size();
      });
      ++out_->num_added_;
    }
    return absl::OkStatus();
  }

  absl::Status ReadMerges(const Json& model) {
    const Json* merges = FindNonNull(model, "merges");
    if (merges == nullptr) return absl::OkStatus();
    if (!merges->is_array()) return Error("model.merges", "is not an array");
    for (size_t rank = 0; rank < merges->size(); ++rank) {
      const Json& m = (*merges)[rank];
      const std::string field = absl::StrCat("model.merges[", rank, "]");
      std::string left, right;
      if (m.is_string()) {
        const std::string line = m.get<std::string>();
        const size_t space = line.find(' ');
        if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
          return Error(field, absl::StrCat("is \"", line, "\", not two tokens \"a b\""));
        }
        left = line.substr(0, space);
        right = line.substr(space + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        left = m[0].get<std::string>();
        right = m[1].get<std::string>();
      } else {
        return Error(field, "is neither \"a b\" nor [\"a\", \"b\"]");
      }
      // Each side and their concatenation must be vocabulary entries, looked up by their
      // strings as HF does: merging "a" and "b" gives vocab["ab"], even where another entry
      // spelled differently stands for the same bytes.
      const std::string parts[3] = {left, right, left + right};
      int32_t ids[3];
      for (int k = 0; k < 3; ++k) {
        const auto it = by_string_.find(parts[k]);
        if (it == by_string_.end()) {
          return Error(field, absl::StrCat("(\"", left, "\", \"", right, "\") uses \"", parts[k],
                                           "\", which is not in model.vocab"));
        }
        ids[k] = it->second;
      }
      // The first (lowest-rank) occurrence of a pair wins, as in HF.
      out_->merges_.emplace(PairKey(ids[0], ids[1]), Merge{static_cast<int32_t>(rank), ids[2]});
    }
    return absl::OkStatus();
  }

  // Collects Split patterns and ByteLevel stages, depth first.
  absl::Status CollectPreTokenizer(const Json& spec, const std::string& field, bool* byte_level,
                                   std::vector<PreTokenizer::Pattern>* patterns) {
    const Json* type = FindNonNull(spec, "type");
    if (type == nullptr || !type->is_string()) return Error(field, "has no \"type\"");
    const std::string t = type->get<std::string>();
    if (t == "Sequence") {
      const Json* list = FindNonNull(spec, "pretokenizers");
      if (list == nullptr || !list->is_array()) return Error(field, "has no \"pretokenizers\"");
      for (size_t i = 0; i < list->size(); ++i) {
        if (absl::Status s = CollectPreTokenizer(
                (*list)[i], absl::StrCat(field, ".pretokenizers[", i, "]"), byte_level, patterns);
            !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
    }
    if (t == "ByteLevel") {
      const Json* prefix = FindNonNull(spec, "add_prefix_space");
      const Json* regex = FindNonNull(spec, "use_regex");
      const bool add_prefix = prefix == nullptr || (prefix->is_boolean() && prefix->get<bool>());
      if (add_prefix && !patterns->empty()) {
        return Error(field, "add_prefix_space after a Split is not supported");
      }
      out_->add_prefix_space_ = out_->add_prefix_space_ || add_prefix;
      if (regex == nullptr || (regex->is_boolean() && regex->get<bool>())) {
        patterns->push_back({kGpt2SplitPattern, false});
      }
      *byte_level = true;
      return absl::OkStatus();
    }
    if (t == "Digits") {
      // After a ByteLevel step HF would look for digits in the byte-level spelling, where the
      // bytes 0xB2, 0xB3, 0xB9 and 0xBC..0xBE are characters of Unicode category N.
      if (*byte_level) return Error(field, "Digits after ByteLevel is not supported");
      bool individual = false;
      if (const Json* v = FindNonNull(spec, "individual_digits"); v != nullptr) {
        if (!v->is_boolean()) return Error(field + ".individual_digits", "must be true or false");
        individual = v->get<bool>();
      }
      patterns->push_back({individual ? kDigitPattern : kDigitRunPattern, false});
      return absl::OkStatus();
    }
    if (t == "Split") {
      const Json* behavior = FindNonNull(spec, "behavior");
      if (behavior == nullptr || *behavior != "Isolated") {
        return Error(field + ".behavior", "must be \"Isolated\"");
      }
      if (const Json* invert = FindNonNull(spec, "invert"); invert != nullptr && *invert != false) {
        return Error(field + ".invert", "must be false");
      }
      const Json* pattern = FindNonNull(spec, "pattern");
      const Json* regex = pattern ? FindNonNull(*pattern, "Regex") : nullptr;
      const Json* string = pattern ? FindNonNull(*pattern, "String") : nullptr;
      if (regex != nullptr && regex->is_string()) {
        patterns->push_back({regex->get<std::string>(), false});
      } else if (string != nullptr && string->is_string()) {
        patterns->push_back({string->get<std::string>(), true});
      } else {
        return Error(field + ".pattern", "must be {\"Regex\": ...} or {\"String\": ...}");
      }
      return absl::OkStatus();
    }
    return Error(
        field, absl::StrCat("has type \"", t, "\"; supported: ByteLevel, Split, Digits, Sequence"));
  }

  absl::Status ReadPreTokenizer(const Json& json) {
    const Json* spec = FindNonNull(json, "pre_tokenizer");
    if (spec == nullptr) return Error("pre_tokenizer", "is missing: not a byte-level tokenizer");
    bool byte_level = false;
    std::vector<PreTokenizer::Pattern> patterns;
    if (absl::Status s = CollectPreTokenizer(*spec, "pre_tokenizer", &byte_level, &patterns);
        !s.ok()) {
      return s;
    }
    if (!byte_level) return Error("pre_tokenizer", "has no ByteLevel step: not byte-level BPE");
    absl::StatusOr<PreTokenizer> pre = PreTokenizer::Create(patterns);
    if (!pre.ok()) return Error("pre_tokenizer", pre.status().message());
    out_->pre_tokenizer_ = *std::move(pre);
    return absl::OkStatus();
  }

  // NFC, or a Sequence of NFCs (DeepSeek ships an empty Sequence).
  static bool IsAcceptedNormalizer(const Json& n) {
    const Json* type = FindNonNull(n, "type");
    if (type != nullptr && *type == "NFC") return true;
    const Json* list =
        type != nullptr && *type == "Sequence" ? FindNonNull(n, "normalizers") : nullptr;
    if (list == nullptr || !list->is_array()) return false;
    for (const Json& member : *list) {
      if (!IsAcceptedNormalizer(member)) return false;
    }
    return true;
  }

  absl::Status CheckNormalizerAndDecoder(const Json& json) {
    if (const Json* n = FindNonNull(json, "normalizer");
        n != nullptr && !IsAcceptedNormalizer(*n)) {
      return Error("normalizer", absl::StrCat("is ", n->dump(), "; only null or NFC is supported"));
    }
    if (const Json* d = FindNonNull(json, "decoder"); d != nullptr) {
      const Json* type = FindNonNull(*d, "type");
      if (type == nullptr || *type != "ByteLevel") {
        return Error("decoder",
                     absl::StrCat("is ", d->dump(), "; only null or ByteLevel is supported"));
      }
    }
    return absl::OkStatus();
  }

  const absl::string_view file_;
  BpeTokenizer* const out_;
  // model.vocab as written (byte-level or raw-text spelling → id), for merges and unk_token.
  absl::flat_hash_map<std::string, int32_t> by_string_;
  std::string unk_token_;
};

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::Create(absl::string_view json_text,
                                                                   absl::string_view file_name,
                                                                   SpecialIds special_ids) {
  const Json json =
      Json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(file_name, ": not valid JSON"));
  }
  std::unique_ptr<BpeTokenizer> tokenizer(new BpeTokenizer());
  if (absl::Status s = Builder(file_name, tokenizer.get()).Build(json, special_ids); !s.ok()) {
    return s;
  }
  return tokenizer;
}

void BpeTokenizer::EncodeTo(absl::string_view text, bool add_bos, std::vector<int32_t>* ids) const {
  if (add_bos && special_ids_.bos_token_id >= 0) ids->push_back(special_ids_.bos_token_id);
  size_t start = 0;  // text[start, pos) is ordinary text not yet encoded
  for (size_t pos = 0; pos < text.size();) {
    const AddedToken* added = num_added_ > 0 ? AddedTokenAt(text, pos) : nullptr;
    if (added == nullptr) {
      ++pos;
      continue;
    }
    EncodeOrdinary(text.substr(start, pos - start), ids);
    ids->push_back(added->id);
    pos += added->content.size();
    start = pos;
  }
  EncodeOrdinary(text.substr(start), ids);
}

const BpeTokenizer::AddedToken* BpeTokenizer::AddedTokenAt(absl::string_view text,
                                                           size_t pos) const {
  for (const AddedToken& t : added_by_first_byte_[static_cast<uint8_t>(text[pos])]) {
    if (text.substr(pos, t.content.size()) == t.content) return &t;  // longest first
  }
  return nullptr;
}

void BpeTokenizer::SplitPieces(absl::string_view text, std::string* storage,
                               std::vector<absl::string_view>* pieces) const {
  if (text.empty()) return;
  if (add_prefix_space_ && text.front() != ' ') {
    *storage = absl::StrCat(" ", text);
    text = *storage;
  }
  pre_tokenizer_.Split(text, pieces);
}

void BpeTokenizer::EncodeOrdinary(absl::string_view text, std::vector<int32_t>* ids) const {
  std::string storage;
  std::vector<absl::string_view> pieces;
  SplitPieces(text, &storage, &pieces);
  for (absl::string_view piece : pieces) EncodePiece(piece, ids);
}

void BpeTokenizer::EncodePiece(absl::string_view piece, std::vector<int32_t>* ids) const {
  if (piece.empty()) return;
  if (ignore_merges_ || piece.size() == 1) {
    if (const auto it = by_bytes_.find(piece); it != by_bytes_.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  // A doubly linked list of symbols (initially the bytes) and a min-heap of candidate merges
  // ordered by (rank, position); stale candidates are skipped when popped.
  struct Symbol {
    int32_t id, prev, next;
    bool alive;
  };
  struct Candidate {
    int32_t rank, pos, merged_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  // A byte without a token (only bytes outside the UTF-8 of assigned characters may lack one)
  // becomes unk_token, consecutive ones a single unk_token with fuse_unk; without an unk_token in
  // the vocabulary it is dropped, and its neighbours become adjacent (HF's BPE).
  std::vector<Symbol> symbols;
  symbols.reserve(piece.size());
  bool after_unknown = false;
  for (char c : piece) {
    int32_t id = byte_ids_[static_cast<uint8_t>(c)];
    if (id < 0) {
      if (unk_id_ < 0 || (fuse_unk_ && after_unknown)) continue;
      id = unk_id_;
      after_unknown = true;
    } else {
      after_unknown = false;
    }
    symbols.push_back({id, 0, 0, true});
  }
  const int32_t n = static_cast<int32_t>(symbols.size());
  if (n == 0) return;
  for (int32_t i = 0; i < n; ++i) {
    symbols[i].prev = i - 1;
    symbols[i].next = i + 1 < n ? i + 1 : -1;
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto consider = [&](int32_t pos) {
    const int32_t next = symbols[pos].next;
    if (next < 0) return;
    const auto it = merges_.find(PairKey(symbols[pos].id, symbols[next].id));
    if (it != merges_.end()) heap.push({it->second.rank, pos, it->second.merged_id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& left = symbols[c.pos];
    if (!left.alive || left.next < 0) continue;
    const auto it = merges_.find(PairKey(left.id, symbols[left.next].id));
    if (it == merges_.end() || it->second.rank != c.rank) continue;  // stale
    Symbol& right = symbols[left.next];
    right.alive = false;
    left.id = c.merged_id;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids->push_back(symbols[i].id);
}

void BpeTokenizer::AppendTokenBytes(int32_t id, std::string* bytes) const {
  if (id < 0 || id >= vocab_size()) return;
  const Token& t = tokens_[id];
  if (!t.special) bytes->append(t.bytes);
}

bool BpeTokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && id < vocab_size() && tokens_[id].special;
}

std::string BpeTokenizer::Describe() const {
  std::string description = absl::StrCat("byte-level BPE, ", vocab_size(), " ids, ", merges_.size(),
                                         " merges, ", num_added_, " added tokens");
  if (num_bytes_without_token_ > 0) {
    absl::StrAppend(&description, ", ", num_bytes_without_token_, " bytes without a token");
  }
  return description;
}

std::vector<std::string> BpeTokenizer::PreTokenize(absl::string_view text) const {
  std::string storage;
  std::vector<absl::string_view> pieces;
  SplitPieces(text, &storage, &pieces);
  return std::vector<std::string>(pieces.begin(), pieces.end());
}

int32_t BpeTokenizer::TokenId(absl::string_view bytes) const {
  const auto it = by_bytes_.find(bytes);
  return it == by_bytes_.end() ? -1 : it->second;
}

}  // namespace kvserve
