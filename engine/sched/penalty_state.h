// PenaltyState: what the repetition, presence and frequency penalties of one request need to know
// about its tokens — for every distinct token seen, how often it was generated and whether it is
// in the prompt — kept incrementally (one Add per generated token).
//
// Invariants:
//   * the state is a function of (what it tracks, prompt, output so far) only: Rebuild(prompt,
//     output) gives exactly the state that Rebuild(prompt, {}) followed by Add(t) for each output
//     token gives, entries in the same (first-seen) order. So a scheduler that keeps the tokens
//     never needs to save it: after a preemption it is still valid (the tokens did not change), and
//     a rebuild from prompt + output is exact if it was dropped.
//   * tracking nothing (no penalty on), Add and Rebuild do nothing and entries() stays empty; with
//     Track::kOutput the prompt is not looked at (presence and frequency count output only).
//   * no allocation in Add while the distinct tokens fit the capacity given to Configure
//     (prompt + max_tokens, capped at the vocabulary, is always enough); Rebuild may allocate.
//
// Threads: a plain value owned by the request's owner (the scheduler thread); copyable, so a fork
// (n > 1) can start from its parent's state.
#ifndef KVSERVE_ENGINE_SCHED_PENALTY_STATE_H_
#define KVSERVE_ENGINE_SCHED_PENALTY_STATE_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"

namespace kvserve {

class PenaltyState {
 public:
  enum class Track {
    kNothing,          // no penalty on
    kOutput,           // presence / frequency only
    kPromptAndOutput,  // repetition (over prompt + output), maybe presence / frequency too
  };
  struct Entry {
    int32_t token = 0;
    int32_t output_count = 0;  // times generated
    bool in_prompt = false;    // only tracked with kPromptAndOutput

    bool operator==(const Entry&) const = default;
  };

  // What to track, and room for `capacity` distinct tokens. Forgets every token.
  void Configure(Track track, int64_t capacity);
  // Forgets every token, then records `prompt` (if tracked) and each of `output` in order.
  void Rebuild(absl::Span<const int32_t> prompt, absl::Span<const int32_t> output);
  // One more generated token.
  void Add(int32_t token);

  Track track() const { return track_; }
  // Every distinct token seen, in first-seen order (prompt first).
  absl::Span<const Entry> entries() const { return entries_; }
  int64_t num_output() const { return num_output_; }
  // The entry of `token`, or nullptr if it was not seen.
  const Entry* Find(int32_t token) const;

 private:
  Entry& EntryFor(int32_t token);
  void Clear();  // forgets every token, keeps (re-reserves) the capacity

  Track track_ = Track::kNothing;
  int64_t capacity_ = 0;
  absl::flat_hash_map<int32_t, int32_t> index_;  // token -> its position in entries_
  std::vector<Entry> entries_;
  int64_t num_output_ = 0;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_SCHED_PENALTY_STATE_H_
