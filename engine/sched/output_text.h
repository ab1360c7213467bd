// OutputText: the text of one sample's output, streamed token by token, with the request's stop
// strings applied.
//
// Add(token) decodes the token's bytes (Tokenizer::AppendTokenBytes) through a Utf8StreamDecoder
// (a character split across tokens is held back until complete; invalid bytes become U+FFFD) and
// releases the text that is decided:
//   * without stop strings (or with check_stops false), all complete text at once;
//   * with them, the text up to the longest suffix that is a proper prefix of some stop string
//     (it may yet become one) is released, the rest held. When the held text contains a stop
//     string, the earliest match wins (the first listed on a tie): the text before it is released
//     (with the stop string itself if include_stop), everything after it is dropped, and Add
//     returns the stop's index. Only generated text is searched, never the prompt.
// Finish() releases what is still held (no stop string can complete any more), an unfinished
// UTF-8 tail as U+FFFD. The concatenation of everything released is therefore the decoded output
// cut before the first stop string (or whole when none matched).
//
// Threads: one per sample, used by the scheduler thread only. The tokenizer must outlive it.
#ifndef KVSERVE_ENGINE_SCHED_OUTPUT_TEXT_H_
#define KVSERVE_ENGINE_SCHED_OUTPUT_TEXT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/utf8_stream_decoder.h"

namespace kvserve {

class OutputText {
 public:
  // `tokenizer` may be null: then no text is produced at all (and no stop string can match).
  OutputText(const Tokenizer* tokenizer, const std::vector<std::string>* stops, bool include_stop);

  // Adds `token`'s text and appends what is decided to `*out`. Returns the index of the stop
  // string that completed, or -1. With check_stops false (before min_tokens) stop strings are not
  // looked for and nothing is held back for them.
  int32_t Add(int32_t token, bool check_stops, std::string* out);
  // Appends everything still held back.
  void Finish(std::string* out);

 private:
  // The longest suffix of held_ that is a proper prefix of a stop string.
  size_t PartialStopLength() const;

  const Tokenizer* tokenizer_;
  const std::vector<std::string>* stops_;  // the request's, outliving this
  const bool include_stop_;
  Utf8StreamDecoder decoder_;
  std::string held_;   // decoded text not yet released
  std::string bytes_;  // scratch: one token's bytes
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_SCHED_OUTPUT_TEXT_H_
