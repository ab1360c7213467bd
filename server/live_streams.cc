#include "server/live_streams.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"

namespace kvserve {

std::string PeerAddress(absl::string_view peer) {
  if (!absl::StartsWith(peer, "ipv4:") && !absl::StartsWith(peer, "ipv6:")) {
    return std::string(peer);
  }
  const size_t colon = peer.rfind(':');
  return std::string(colon > 4 ? peer.substr(0, colon) : peer);
}

LiveStreams::LiveStreams(const StreamLimits& limits) : limits_(limits) {
  watchdog_ = std::thread([this] { WatchdogLoop(); });
}

LiveStreams::~LiveStreams() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  watchdog_.join();
}

LiveStreams::AddResult LiveStreams::Add(const std::shared_ptr<Stream>& stream,
                                        absl::string_view peer) {
  absl::MutexLock lock(&mu_);
  if (static_cast<int64_t>(streams_.size()) >= limits_.max_live_streams) {
    return AddResult::kServerFull;
  }
  int32_t& from_peer = per_peer_[peer];
  if (from_peer >= limits_.max_live_streams_per_peer) return AddResult::kPeerFull;
  ++from_peer;
  streams_.emplace(stream.get(), Entry{stream, std::string(peer)});
  return AddResult::kAdded;
}

void LiveStreams::EraseLocked(absl::flat_hash_map<const Stream*, Entry>::iterator it) {
  const auto peer = per_peer_.find(it->second.peer);
  if (--peer->second == 0) per_peer_.erase(peer);
  streams_.erase(it);
}

void LiveStreams::Remove(const Stream* stream) {
  absl::MutexLock lock(&mu_);
  if (const auto it = streams_.find(stream); it != streams_.end()) EraseLocked(it);
}

int32_t LiveStreams::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int32_t>(streams_.size());
}

int64_t LiveStreams::stalled_cancelled() const {
  absl::MutexLock lock(&mu_);
  return stalled_cancelled_;
}

void LiveStreams::WatchdogLoop() {
  const absl::Duration period =
      std::clamp(limits_.write_timeout / 4, absl::Milliseconds(10), absl::Seconds(1));
  std::vector<std::shared_ptr<Stream>> stalled;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      const auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), period);
      if (stopping_) return;
      const absl::Time stalled_before = absl::Now() - limits_.write_timeout;
      for (auto it = streams_.begin(); it != streams_.end();) {
        std::shared_ptr<Stream> stream = it->second.stream.lock();
        if (stream == nullptr || stream->write_started() <= stalled_before) {
          // Leaves the set now, so it is cancelled once (its OnDone's Remove is then a no-op).
          if (stream != nullptr) stalled.push_back(std::move(stream));
          EraseLocked(it++);
        } else {
          ++it;
        }
      }
      stalled_cancelled_ += static_cast<int64_t>(stalled.size());
    }
    for (const std::shared_ptr<Stream>& stream : stalled) stream->CancelStalled();
    stalled.clear();  // may destroy streams whose call ended meanwhile
  }
}

}  // namespace kvserve
