// The Tokenize and Detokenize methods of the Generation service, as pure functions of the model's
// tokenizer (the service does transport: auth, parsing, serializing).
//
//   Tokenize    text -> ids exactly as a Generate text prompt is encoded (EncodeTo without BOS),
//               or with BOS when add_special_tokens; `pieces` holds each id's text (its bytes,
//               U+FFFD for bytes that are not valid UTF-8 on their own).
//   Detokenize  ids -> text, the bytes of every id in order through a Utf8StreamDecoder (invalid
//               UTF-8 becomes U+FFFD, so the reply is a valid proto3 string); INVALID_ARGUMENT
//               "token_ids[i] is X, outside the vocabulary [0, V)" for an id outside the model's
//               vocabulary. Special tokens (BOS, EOS, control) have no text.
//
// Threads: pure functions over const values; any thread.
#ifndef KVSERVE_SERVER_TOKENIZE_HANDLERS_H_
#define KVSERVE_SERVER_TOKENIZE_HANDLERS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/sched/logprobs.h"
#include "engine/tokenizer/tokenizer.h"
#include "kvserve/v1/kvserve.pb.h"

namespace kvserve {

// The text of `bytes` with each ill-formed UTF-8 subsequence replaced by U+FFFD.
std::string ValidUtf8(absl::string_view bytes);

// `id`'s own text (its bytes as ValidUtf8).
std::string TokenText(const Tokenizer& tokenizer, int32_t id);

// `logprobs` as the proto's TokenLogprob, with each token's text.
void ToProto(const Tokenizer& tokenizer, const TokenLogprobs& logprobs, v1::TokenLogprob* out);

absl::Status Tokenize(const Tokenizer& tokenizer, const v1::TokenizeRequest& request,
                      v1::TokenizeResponse* response);

// `vocab_size` is the model's (it may exceed the tokenizer's: padded embeddings).
absl::Status Detokenize(const Tokenizer& tokenizer, int32_t vocab_size,
                        const v1::DetokenizeRequest& request, v1::DetokenizeResponse* response);

}  // namespace kvserve

#endif  // KVSERVE_SERVER_TOKENIZE_HANDLERS_H_
