// LiveStreams: the server-wide bound on live Generate streams, and the watchdog that ends a
// stream whose client stopped reading.
//
// A stream is live from its handler until gRPC's OnDone, which is longer than its request lives
// in the scheduler: a client that never reads (its HTTP/2 flow-control window stays shut) keeps
// the last write in flight, and with it the call, forever. Two bounds close that:
//   * at most `max_live_streams` live streams, and at most `max_live_streams_per_peer` of them
//     from one client address (so one client cannot take every slot from the others): Add
//     refuses beyond, and the stream is refused with RESOURCE_EXHAUSTED before it reaches the
//     scheduler, whatever state the live ones are in;
//   * a write that has been in flight for `write_timeout` means the client stopped reading: the
//     watchdog cancels that call (ServerContext::TryCancel), which cancels its scheduler request
//     (its pages are freed at once) and ends the stream with CANCELLED.
//
// A stalled stream stops counting as live when the watchdog cancels it (its call ends moments
// later).
//
// Threads: Add and Remove from gRPC threads, any number at once. The watchdog is one thread of
// this object, waking every write_timeout / 4 (at least 10 ms, at most 1 s). It reads each
// stream's write_started() under this object's mutex (so that must not wait for anything that
// calls Add or Remove), and calls CancelStalled() with the mutex released, holding a strong
// reference to the stream: CancelStalled may run the stream's gRPC callbacks inline, OnDone and
// its Remove included.
#ifndef KVSERVE_SERVER_LIVE_STREAMS_H_
#define KVSERVE_SERVER_LIVE_STREAMS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace kvserve {

// The two bounds, as the daemon's flags set them.
struct StreamLimits {
  int32_t max_live_streams = 2048;                   // --max_live_streams
  int32_t max_live_streams_per_peer = 1024;          // --max_live_streams_per_peer
  absl::Duration write_timeout = absl::Seconds(30);  // --stream_write_timeout_seconds
};

// The client address of a gRPC peer string, without its port: "ipv4:10.0.0.7:53412" →
// "ipv4:10.0.0.7", "ipv6:[::1]:5000" → "ipv6:[::1]"; other forms (unix:...) as they are.
std::string PeerAddress(absl::string_view peer);

class LiveStreams {
 public:
  // What the watchdog needs of a stream.
  class Stream {
   public:
    virtual ~Stream() = default;
    // When the write now in flight started; absl::InfiniteFuture() if none is.
    virtual absl::Time write_started() const = 0;
    // Ends the stream: the client has not read for the write timeout.
    virtual void CancelStalled() = 0;
  };

  explicit LiveStreams(const StreamLimits& limits);
  LiveStreams(const LiveStreams&) = delete;
  LiveStreams& operator=(const LiveStreams&) = delete;
  ~LiveStreams();  // stops the watchdog; every stream must have been removed

  // Why Add refused a stream.
  enum class AddResult { kAdded, kServerFull, kPeerFull };

  // Counts `stream`, from client address `peer` (PeerAddress), as live and watches its writes
  // (holding only a weak reference). Refused (nothing changes) if max_live_streams are live, or
  // max_live_streams_per_peer from `peer`.
  AddResult Add(const std::shared_ptr<Stream>& stream, absl::string_view peer);
  // `stream` is no longer live; a no-op if it is not (never added, or cancelled as stalled).
  void Remove(const Stream* stream);

  int32_t size() const;
  const StreamLimits& limits() const { return limits_; }
  // Streams the watchdog has cancelled since start.
  int64_t stalled_cancelled() const;

 private:
  void WatchdogLoop();

  struct Entry {
    std::weak_ptr<Stream> stream;
    std::string peer;
  };
  // Drops `it`'s stream from streams_ and its peer's count.
  void EraseLocked(absl::flat_hash_map<const Stream*, Entry>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const StreamLimits limits_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<const Stream*, Entry> streams_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int32_t> per_peer_ ABSL_GUARDED_BY(mu_);
  int64_t stalled_cancelled_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread watchdog_;
};

}  // namespace kvserve

#endif  // KVSERVE_SERVER_LIVE_STREAMS_H_
