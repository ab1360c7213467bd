// ChannelPool: a few gRPC channels to one target, each its own HTTP/2 connection.
//
// Servers commonly cap concurrent streams per HTTP/2 connection (often at 100), and channels with
// equal arguments share one connection through gRPC's global subchannel pool. So each channel
// here gets GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL plus an argument naming its index, which gives it
// a connection of its own. Streams are spread by Acquire/Release: Acquire picks the channel with
// the fewest streams in flight.
//
// Threads: Acquire and Release are safe from any thread (atomics); the pool must outlive every
// call started on its stubs.
#ifndef KVSERVE_CLIENTS_KVLOAD_CHANNEL_POOL_H_
#define KVSERVE_CLIENTS_KVLOAD_CHANNEL_POOL_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "clients/client_channel.h"
#include "kvserve/v1/kvserve.grpc.pb.h"

namespace kvserve::load {

class ChannelPool {
 public:
  // Streams one connection is meant to carry; `ChannelsFor` sizes a pool with it.
  static constexpr int kStreamsPerChannel = 64;
  static int ChannelsFor(int max_streams);

  // The channels come from `factory` (TLS, bearer token: see clients/client_channel.h).
  ChannelPool(const std::string& target, int num_channels,
              const ClientChannelFactory& factory = ClientChannelFactory());

  // Waits until every channel is connected; UNAVAILABLE naming the target if one is not by
  // `timeout`.
  absl::Status WaitForConnected(absl::Duration timeout);

  // The least-loaded channel's index (its in-flight count incremented) and its stub.
  int Acquire();
  void Release(int channel);
  kvserve::v1::Generation::Stub* stub(int channel) { return slots_[channel]->stub.get(); }

  int size() const { return static_cast<int>(slots_.size()); }
  const std::string& target() const { return target_; }

 private:
  struct Slot {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<kvserve::v1::Generation::Stub> stub;
    std::atomic<int> in_flight{0};
  };

  std::string target_;
  std::vector<std::unique_ptr<Slot>> slots_;
};

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_CHANNEL_POOL_H_
