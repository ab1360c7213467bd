#include "server/live_streams.h"

#include <atomic>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

class FakeStream final : public LiveStreams::Stream {
 public:
  void set_write_started(absl::Time t) {
    absl::MutexLock lock(&mu_);
    write_started_ = t;
  }
  absl::Time write_started() const override {
    absl::MutexLock lock(&mu_);
    return write_started_;
  }
  void CancelStalled() override { cancels_.fetch_add(1); }
  int cancels() const { return cancels_.load(); }

 private:
  mutable absl::Mutex mu_;
  absl::Time write_started_ = absl::InfiniteFuture();
  std::atomic<int> cancels_{0};
};

// Waits up to `limit` for `done()`; the watchdog runs on its own thread.
template <typename F>
bool Eventually(F done, absl::Duration limit = absl::Seconds(5)) {
  const absl::Time give_up = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

TEST(LiveStreamsTest, RefusesBeyondTheCapAndFreesASlotOnRemove) {
  LiveStreams live({.max_live_streams = 2, .max_live_streams_per_peer = 2});
  auto a = std::make_shared<FakeStream>();
  auto b = std::make_shared<FakeStream>();
  auto c = std::make_shared<FakeStream>();
  EXPECT_EQ(live.Add(a, "p"), LiveStreams::AddResult::kAdded);
  EXPECT_EQ(live.Add(b, "q"), LiveStreams::AddResult::kAdded);
  EXPECT_EQ(live.Add(c, "r"), LiveStreams::AddResult::kServerFull);
  EXPECT_EQ(live.size(), 2);
  live.Remove(a.get());
  live.Remove(a.get());  // a second Remove is a no-op
  EXPECT_EQ(live.size(), 1);
  EXPECT_EQ(live.Add(c, "r"), LiveStreams::AddResult::kAdded);
  live.Remove(b.get());
  live.Remove(c.get());
  EXPECT_EQ(live.size(), 0);
}

TEST(LiveStreamsTest, OneAddressCannotTakeEverySlot) {
  LiveStreams live({.max_live_streams = 4, .max_live_streams_per_peer = 2});
  std::vector<std::shared_ptr<FakeStream>> s;
  for (int i = 0; i < 5; ++i) s.push_back(std::make_shared<FakeStream>());
  EXPECT_EQ(live.Add(s[0], "ipv4:10.0.0.1"), LiveStreams::AddResult::kAdded);
  EXPECT_EQ(live.Add(s[1], "ipv4:10.0.0.1"), LiveStreams::AddResult::kAdded);
  EXPECT_EQ(live.Add(s[2], "ipv4:10.0.0.1"), LiveStreams::AddResult::kPeerFull);
  EXPECT_EQ(live.Add(s[3], "ipv4:10.0.0.2"), LiveStreams::AddResult::kAdded);
  live.Remove(s[0].get());  // frees one of 10.0.0.1's slots
  EXPECT_EQ(live.Add(s[2], "ipv4:10.0.0.1"), LiveStreams::AddResult::kAdded);
  for (const auto& stream : s) live.Remove(stream.get());
  EXPECT_EQ(live.size(), 0);
}

TEST(LiveStreamsTest, PeerAddressDropsThePort) {
  EXPECT_EQ(PeerAddress("ipv4:10.0.0.7:53412"), "ipv4:10.0.0.7");
  EXPECT_EQ(PeerAddress("ipv6:[::1]:5000"), "ipv6:[::1]");
  EXPECT_EQ(PeerAddress("ipv6:%5B::1%5D:5000"), "ipv6:%5B::1%5D");
  EXPECT_EQ(PeerAddress("unix:/tmp/sock"), "unix:/tmp/sock");
}

TEST(LiveStreamsTest, CancelsOnlyAStreamWhoseWriteOutlivedTheTimeoutAndOnlyOnce) {
  LiveStreams live({.max_live_streams = 8, .write_timeout = absl::Milliseconds(500)});
  auto stalled = std::make_shared<FakeStream>();
  auto idle = std::make_shared<FakeStream>();     // no write in flight
  auto writing = std::make_shared<FakeStream>();  // a write that keeps making progress
  ASSERT_EQ(live.Add(stalled, "p"), LiveStreams::AddResult::kAdded);
  ASSERT_EQ(live.Add(idle, "p"), LiveStreams::AddResult::kAdded);
  ASSERT_EQ(live.Add(writing, "p"), LiveStreams::AddResult::kAdded);
  stalled->set_write_started(absl::Now());
  const absl::Time until = absl::Now() + absl::Seconds(1.5);
  while (absl::Now() < until) {  // each write completes within ~20 ms and a new one starts
    writing->set_write_started(absl::Now());
    absl::SleepFor(absl::Milliseconds(20));
  }
  writing->set_write_started(absl::InfiniteFuture());  // its last write completed
  ASSERT_TRUE(Eventually([&] { return stalled->cancels() > 0; }));
  absl::SleepFor(absl::Milliseconds(600));
  EXPECT_EQ(stalled->cancels(), 1);
  EXPECT_EQ(idle->cancels(), 0);
  EXPECT_EQ(writing->cancels(), 0);
  EXPECT_EQ(live.size(), 2);  // the cancelled stream no longer holds a slot
  EXPECT_EQ(live.stalled_cancelled(), 1);
  live.Remove(stalled.get());  // its OnDone: a no-op now
  live.Remove(idle.get());
  live.Remove(writing.get());
}

TEST(LiveStreamsTest, AStreamGoneWithoutRemoveIsDroppedNotCancelled) {
  LiveStreams live({.max_live_streams = 1, .write_timeout = absl::Milliseconds(40)});
  {
    auto gone = std::make_shared<FakeStream>();
    ASSERT_EQ(live.Add(gone, "p"), LiveStreams::AddResult::kAdded);
  }  // only a weak reference was held
  EXPECT_TRUE(Eventually([&] { return live.size() == 0; }));
  auto next = std::make_shared<FakeStream>();
  EXPECT_EQ(live.Add(next, "p"), LiveStreams::AddResult::kAdded);
  live.Remove(next.get());
}

}  // namespace
}  // namespace kvserve
