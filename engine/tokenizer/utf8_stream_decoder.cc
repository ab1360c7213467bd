#include "engine/tokenizer/utf8_stream_decoder.h"

namespace kvserve {

namespace {

// Full length of the character a lead byte starts, or 0 if `b` cannot start one (continuation
// bytes 80..BF, overlong leads C0/C1, and F5..FF).
int32_t SequenceLength(uint8_t b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

// Whether `b` may follow `lead` as the second byte. The narrowed ranges exclude overlongs (E0, F0),
// UTF-16 surrogates (ED) and code points above U+10FFFF (F4).
bool ValidSecondByte(uint8_t lead, uint8_t b) {
  switch (lead) {
    case 0xE0:
      return b >= 0xA0 && b <= 0xBF;
    case 0xED:
      return b >= 0x80 && b <= 0x9F;
    case 0xF0:
      return b >= 0x90 && b <= 0xBF;
    case 0xF4:
      return b >= 0x80 && b <= 0x8F;
    default:
      return b >= 0x80 && b <= 0xBF;
  }
}

bool IsContinuation(uint8_t b) { return b >= 0x80 && b <= 0xBF; }

}  // namespace

std::string Utf8StreamDecoder::Feed(absl::Span<const int32_t> ids) {
  std::string text;
  FeedTo(ids, &text);
  return text;
}

void Utf8StreamDecoder::FeedTo(absl::Span<const int32_t> ids, std::string* text) {
  for (int32_t id : ids) {
    if (id >= 0 && id < 256) PushByte(static_cast<uint8_t>(id), text);
  }
}

void Utf8StreamDecoder::FeedBytesTo(absl::string_view bytes, std::string* text) {
  for (char c : bytes) PushByte(static_cast<uint8_t>(c), text);
}

std::string Utf8StreamDecoder::Flush() {
  std::string text;
  FlushTo(&text);
  return text;
}

void Utf8StreamDecoder::FlushTo(std::string* text) {
  if (pending_len_ > 0) ReleasePendingAsInvalid(text);
}

void Utf8StreamDecoder::PushByte(uint8_t byte, std::string* out) {
  if (pending_len_ > 0) {
    const bool continues =
        pending_len_ == 1 ? ValidSecondByte(pending_[0], byte) : IsContinuation(byte);
    if (continues) {
      pending_[pending_len_++] = byte;
      if (pending_len_ == expected_len_) {
        out->append(reinterpret_cast<const char*>(pending_), pending_len_);
        pending_len_ = 0;
        expected_len_ = 0;
      }
      return;
    }
    // `byte` cannot continue the held prefix: the prefix is a maximal ill-formed subpart on its
    // own, and `byte` starts afresh below.
    ReleasePendingAsInvalid(out);
  }
  const int32_t len = SequenceLength(byte);
  if (len == 1) {
    out->push_back(static_cast<char>(byte));
  } else if (len == 0) {
    EmitInvalid(&byte, 1, out);
  } else {
    pending_[0] = byte;
    pending_len_ = 1;
    expected_len_ = len;
  }
}

void Utf8StreamDecoder::ReleasePendingAsInvalid(std::string* out) {
  EmitInvalid(pending_, pending_len_, out);
  pending_len_ = 0;
  expected_len_ = 0;
}

void Utf8StreamDecoder::EmitInvalid(const uint8_t* bytes, int32_t len, std::string* out) const {
  if (options_.invalid == InvalidBytes::kPassThrough) {
    out->append(reinterpret_cast<const char*>(bytes), len);
  } else {
    out->append(kReplacement, sizeof(kReplacement) - 1);
  }
}

}  // namespace kvserve
