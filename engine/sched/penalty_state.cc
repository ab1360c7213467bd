#include "engine/sched/penalty_state.h"

namespace kvserve {

void PenaltyState::Configure(Track track, int64_t capacity) {
  track_ = track;
  capacity_ = track_ == Track::kNothing ? 0 : capacity;
  Clear();
}

void PenaltyState::Clear() {
  index_.clear();  // frees a large table (absl's clear keeps only small ones): reserve again
  entries_.clear();
  num_output_ = 0;
  if (capacity_ > 0) {
    index_.reserve(capacity_);
    entries_.reserve(capacity_);
  }
}

PenaltyState::Entry& PenaltyState::EntryFor(int32_t token) {
  auto [it, inserted] = index_.try_emplace(token, static_cast<int32_t>(entries_.size()));
  if (inserted) entries_.push_back({.token = token});
  return entries_[it->second];
}

void PenaltyState::Rebuild(absl::Span<const int32_t> prompt, absl::Span<const int32_t> output) {
  Clear();
  if (track_ == Track::kNothing) return;
  if (track_ == Track::kPromptAndOutput) {
    for (int32_t token : prompt) EntryFor(token).in_prompt = true;
  }
  for (int32_t token : output) Add(token);
}

void PenaltyState::Add(int32_t token) {
  if (track_ == Track::kNothing) return;
  ++EntryFor(token).output_count;
  ++num_output_;
}

const PenaltyState::Entry* PenaltyState::Find(int32_t token) const {
  auto it = index_.find(token);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

}  // namespace kvserve
