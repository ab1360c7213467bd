// Utf8StreamDecoder: turns the token ids of a streamed response into text, one step at a time,
// never splitting a UTF-8 character across two pieces.
//
// Two ways in: FeedBytes() takes the bytes of the step's tokens (Tokenizer::AppendTokenBytes, any
// vocabulary: a byte-level BPE token may end in the middle of a character); Feed() takes ids of the
// byte vocabulary, where ids 0..255 are bytes (see ByteTokenizer) and every other id produces no
// text and is transparent (a special token between two bytes of a character does not break it).
// What it promises:
//   * Feed() returns the text that is complete so far. It holds back only a trailing sequence that
//     is a valid, unfinished prefix of a UTF-8 character (at most 3 bytes). Any byte that cannot
//     continue it releases it at once, so an invalid lead or continuation is never held beyond the
//     Feed() call that shows it invalid; Flush() releases whatever is still held at the end.
//   * If the bytes fed are valid UTF-8, the concatenation of every Feed() and the final Flush() is
//     exactly ByteTokenizer::Decode(all ids).
//   * Invalid bytes (what Unicode calls ill-formed subsequences: stray continuations, C0/C1/F5..FF,
//     overlongs, surrogates, > U+10FFFF, truncated sequences), by Options::invalid:
//       - kReplace (the default): each maximal ill-formed subpart becomes one U+FFFD (the Unicode /
//         WHATWG "substitution of maximal subparts" practice). Output is then always valid UTF-8,
//         which the proto3 `string` field `GenerateResponse.text` requires.
//       - kPassThrough: the bytes are emitted unchanged, so the concatenation always equals
//         Decode(all ids), valid or not.
//
// Threads: one decoder per response stream; not thread-safe (use it from one thread at a time).
#ifndef KVSERVE_ENGINE_TOKENIZER_UTF8_STREAM_DECODER_H_
#define KVSERVE_ENGINE_TOKENIZER_UTF8_STREAM_DECODER_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace kvserve {

class Utf8StreamDecoder {
 public:
  enum class InvalidBytes : int8_t { kReplace, kPassThrough };
  struct Options {
    InvalidBytes invalid = InvalidBytes::kReplace;
  };
  // U+FFFD REPLACEMENT CHARACTER in UTF-8.
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";

  Utf8StreamDecoder() : Utf8StreamDecoder(Options{}) {}
  explicit Utf8StreamDecoder(Options options) : options_(options) {}

  // Feeds one step's ids; returns the text completed by them (possibly empty).
  std::string Feed(absl::Span<const int32_t> ids);
  // As Feed, appending to `*text`.
  void FeedTo(absl::Span<const int32_t> ids, std::string* text);
  // Feeds raw bytes (e.g. the bytes of a step's tokens); appends the text completed by them.
  void FeedBytesTo(absl::string_view bytes, std::string* text);
  // Ends the stream: returns the held-back bytes (treated as invalid: they never completed) and
  // resets the decoder for a new stream.
  std::string Flush();
  void FlushTo(std::string* text);

  // Bytes held back waiting for continuation bytes (0..3).
  int32_t pending_bytes() const { return pending_len_; }

 private:
  // Handles one byte; appends completed text to `*out`.
  void PushByte(uint8_t byte, std::string* out);
  // Emits `pending_` as one ill-formed subpart and clears it.
  void ReleasePendingAsInvalid(std::string* out);
  void EmitInvalid(const uint8_t* bytes, int32_t len, std::string* out) const;

  Options options_;
  uint8_t pending_[4] = {0, 0, 0, 0};
  int32_t pending_len_ = 0;   // bytes of the unfinished character held so far
  int32_t expected_len_ = 0;  // its full length (2..4) once a lead byte is held
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_TOKENIZER_UTF8_STREAM_DECODER_H_
