#include "engine/sched/output_text.h"

#include <algorithm>

namespace kvserve {

OutputText::OutputText(const Tokenizer* tokenizer, const std::vector<std::string>* stops,
                       bool include_stop)
    : tokenizer_(tokenizer), stops_(stops), include_stop_(include_stop) {}

int32_t OutputText::Add(int32_t token, bool check_stops, std::string* out) {
  if (tokenizer_ == nullptr) return -1;
  bytes_.clear();
  tokenizer_->AppendTokenBytes(token, &bytes_);
  decoder_.FeedBytesTo(bytes_, &held_);
  if (!check_stops || stops_ == nullptr || stops_->empty()) {
    out->append(held_);
    held_.clear();
    return -1;
  }
  size_t best = std::string::npos;
  int32_t which = -1;
  for (size_t i = 0; i < stops_->size(); ++i) {
    const size_t at = held_.find((*stops_)[i]);
    if (at < best) {
      best = at;
      which = static_cast<int32_t>(i);
    }
  }
  if (which >= 0) {
    out->append(held_, 0, best);
    if (include_stop_) out->append((*stops_)[which]);
    held_.clear();
    return which;
  }
  const size_t keep = PartialStopLength();
  out->append(held_, 0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return -1;
}

void OutputText::Finish(std::string* out) {
  decoder_.FlushTo(&held_);
  out->append(held_);
  held_.clear();
}

size_t OutputText::PartialStopLength() const {
  size_t longest = 0;
  for (const std::string& stop : *stops_) {
    for (size_t len = std::min(stop.size() - 1, held_.size()); len > longest; --len) {
      if (held_.compare(held_.size() - len, len, stop, 0, len) == 0) {
        longest = len;
        break;
      }
    }
  }
  return longest;
}

}  // namespace kvserve
