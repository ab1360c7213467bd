#include "clients/kvload/channel_pool.h"

#include <algorithm>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace kvserve::load {

int ChannelPool::ChannelsFor(int max_streams) {
  return std::clamp((max_streams + kStreamsPerChannel - 1) / kStreamsPerChannel, 1, 64);
}

ChannelPool::ChannelPool(const std::string& target, int num_channels,
                         const ClientChannelFactory& factory)
    : target_(target) {
  for (int i = 0; i < std::max(1, num_channels); ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("kvload.channel_index", i);  // distinct arguments: never one shared connection
    auto slot = std::make_unique<Slot>();
    slot->channel = factory.NewChannel(target, args);
    slot->stub = kvserve::v1::Generation::NewStub(slot->channel);
    slots_.push_back(std::move(slot));
  }
}

absl::Status ChannelPool::WaitForConnected(absl::Duration timeout) {
  const auto deadline = absl::ToChronoTime(absl::Now() + timeout);
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i]->channel->WaitForConnected(deadline)) {
      return absl::UnavailableError(absl::StrCat("cannot connect to ", target_, " (channel ", i,
                                                 ") within ", absl::FormatDuration(timeout)));
    }
  }
  return absl::OkStatus();
}

int ChannelPool::Acquire() {
  int best = 0;
  int best_load = slots_[0]->in_flight.load(std::memory_order_relaxed);
  for (int i = 1; i < size(); ++i) {
    const int load = slots_[i]->in_flight.load(std::memory_order_relaxed);
    if (load < best_load) {
      best = i;
      best_load = load;
    }
  }
  slots_[best]->in_flight.fetch_add(1, std::memory_order_relaxed);
  return best;
}

void ChannelPool::Release(int channel) {
  slots_[channel]->in_flight.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace kvserve::load
