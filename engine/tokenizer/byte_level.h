// The byte-level alphabet of GPT-2-style BPE vocabularies (GPT-2, Llama-3, Qwen2 tokenizer.json):
// every byte 0x00..0xFF is written as one printable Unicode character, so that vocabulary entries
// are readable strings. Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
// themselves; the other 68 bytes, in increasing order, become U+0100, U+0101, ... (so ' ' is 'Ġ'
// U+0120 and '\n' is 'Ċ' U+010A). This is GPT-2's `bytes_to_unicode`.
//
// Threads: pure functions over constant tables; call them from any thread.
#ifndef KVSERVE_ENGINE_TOKENIZER_BYTE_LEVEL_H_
#define KVSERVE_ENGINE_TOKENIZER_BYTE_LEVEL_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace kvserve {

// The code point standing for `byte`.
uint32_t ByteLevelCodePoint(uint8_t byte);

// `bytes` in the byte-level alphabet, as UTF-8 (one character per byte).
std::string ByteLevelEncode(absl::string_view bytes);

// The bytes a byte-level string stands for; nullopt if `text` is not valid UTF-8 or has a
// character outside the alphabet.
std::optional<std::string> ByteLevelDecode(absl::string_view text);

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_TOKENIZER_BYTE_LEVEL_H_
