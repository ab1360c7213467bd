#include "clients/kvload/workload.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace kvserve::load {
namespace {

// Words for --prompt_text prompts; plain ASCII so one byte is one token on the byte models.
constexpr absl::string_view kWords[] = {
    "the",    "cache",  "page",  "token",  "model",  "server", "stream", "batch",
    "prefix", "decode", "layer", "head",   "query",  "value",  "key",    "time",
    "load",   "queue",  "step",  "sample", "prompt", "reply",  "north",  "river",
    "stone",  "light",  "green", "quiet",  "number", "window", "garden", "silver"};

// Appends random words (space-separated) until `out` holds exactly `len` bytes.
void AppendWords(Rng& rng, size_t len, std::string* out) {
  constexpr int64_t kNumWords = sizeof(kWords) / sizeof(kWords[0]);
  while (out->size() < len) {
    if (!out->empty()) out->push_back(' ');
    const absl::string_view word = kWords[rng.UniformInt(0, kNumWords - 1)];
    out->append(word.data(), word.size());
  }
  out->resize(len);
}

void AppendIds(Rng& rng, size_t len, std::vector<int32_t>* out) {
  while (out->size() < len) out->push_back(static_cast<int32_t>(rng.UniformInt(0, 255)));
}

// Request streams are numbered from 1; stream 0 of the run seed makes the shared prefix.
constexpr uint64_t kSharedPrefixStream = 0;
constexpr uint64_t kArrivalStream = 0x417272697661ULL;
constexpr uint64_t kCancelStream = 0x43616e63656cULL;

}  // namespace

absl::StatusOr<LengthRange> LengthRange::Parse(absl::string_view text) {
  const std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  LengthRange range;
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad length \"", text, "\": ", why, " (want N or LO:HI, e.g. 32:512)"));
  };
  if (parts.size() > 2) return bad("too many ':'");
  if (!absl::SimpleAtoi(parts[0], &range.lo)) return bad("not a number");
  range.hi = range.lo;
  if (parts.size() == 2 && !absl::SimpleAtoi(parts[1], &range.hi)) return bad("not a number");
  if (range.lo <= 0 || range.hi <= 0) return bad("lengths must be > 0");
  if (range.lo > range.hi) return bad("LO > HI");
  return range;
}

std::string LengthRange::ToString() const {
  return lo == hi ? absl::StrCat(lo) : absl::StrCat(lo, ":", hi);
}

Rng::Rng(uint64_t seed, uint64_t stream) : state_(seed) {
  state_ = Next() ^ (stream * 0xD1B54A32D192ED03ULL);
  Next();
}

uint64_t Rng::Next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double Rng::Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

int64_t Rng::UniformInt(int64_t lo, int64_t hi) {
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  // The modulo bias is below 2^-40 for the spans kvload uses.
  return lo + static_cast<int64_t>(span == 0 ? Next() : Next() % span);
}

double Rng::Exponential(double rate) { return -std::log1p(-Uniform()) / rate; }

double Rng::Normal() {
  const double u1 = 1.0 - Uniform();  // (0, 1]
  const double u2 = Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

double Rng::Gamma(double shape) {
  if (shape < 1.0) {
    // Gamma(a) = Gamma(a + 1) * U^(1/a).
    const double u = 1.0 - Uniform();
    return Gamma(shape + 1.0) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = 0;
    double v = 0;
    do {
      x = Normal();
      v = 1.0 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = 1.0 - Uniform();
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}

absl::Status ValidateWorkload(const WorkloadOptions& o) {
  if (o.num_requests < 0) return absl::InvalidArgumentError("num_requests must be >= 0");
  if (!(o.rate > 0)) return absl::InvalidArgumentError("rate must be > 0");
  for (const LengthRange& r : {o.prompt_len, o.max_tokens}) {
    if (r.lo <= 0 || r.lo > r.hi) {
      return absl::InvalidArgumentError(absl::StrCat("bad length range ", r.ToString()));
    }
  }
  if (o.shared_prefix < 0) return absl::InvalidArgumentError("shared_prefix must be >= 0");
  if (!(o.cancel_fraction >= 0 && o.cancel_fraction <= 1)) {
    return absl::InvalidArgumentError("cancel_fraction must be in [0, 1]");
  }
  if (!(o.burstiness > 0 && std::isfinite(o.burstiness))) {
    return absl::InvalidArgumentError("burstiness must be a positive number");
  }
  if (o.ramp_to_rate < 0) return absl::InvalidArgumentError("ramp_to_rate must be >= 0");
  if (o.ramp_to_rate > 0) {
    if (!std::isfinite(o.rate)) {
      return absl::InvalidArgumentError("a rate ramp needs an open-loop starting rate");
    }
    if (!(o.ramp_seconds > 0)) return absl::InvalidArgumentError("ramp_seconds must be > 0");
    if (o.burstiness != 1.0) {
      return absl::InvalidArgumentError("a rate ramp draws Poisson arrivals; drop burstiness");
    }
  }
  if (o.dataset != nullptr && o.dataset->empty()) {
    return absl::InvalidArgumentError("the dataset holds no prompt");
  }
  return absl::OkStatus();
}

WorkloadGenerator::WorkloadGenerator(const WorkloadOptions& options)
    : options_(options),
      arrivals_(options.seed, kArrivalStream),
      cancels_(options.seed, kCancelStream) {
  if (options_.num_requests > 0) {
    cancels_left_ = std::llround(options_.cancel_fraction * options_.num_requests);
  }
  Rng shared(options_.seed, kSharedPrefixStream);
  const size_t prefix = std::min(options_.shared_prefix, options_.prompt_len.hi);
  if (options_.prompt_text) {
    AppendWords(shared, prefix, &shared_text_);
  } else {
    AppendIds(shared, prefix, &shared_ids_);
  }
}

bool WorkloadGenerator::HasNext() const {
  return options_.num_requests == 0 || next_index_ < options_.num_requests;
}

bool WorkloadGenerator::ChooseCancel() {
  if (options_.cancel_fraction <= 0) return false;
  if (options_.num_requests == 0) return cancels_.Uniform() < options_.cancel_fraction;
  // Selection sampling (Knuth's algorithm S): exactly cancels_left_ of the remaining requests.
  const int64_t remaining = options_.num_requests - next_index_;
  if (cancels_left_ <= 0) return false;
  if (cancels_.Uniform() * static_cast<double>(remaining) < static_cast<double>(cancels_left_)) {
    --cancels_left_;
    return true;
  }
  return false;
}

double WorkloadGenerator::NextGap() {
  const WorkloadOptions& o = options_;
  if (o.ramp_to_rate > 0) {
    // Thinning: candidates at the highest rate, each kept with probability rate(t) / highest.
    const double top = std::max(o.rate, o.ramp_to_rate);
    double t = next_arrival_s_;
    for (;;) {
      t += arrivals_.Exponential(top);
      const double f = std::min(1.0, t / o.ramp_seconds);
      const double rate_t = o.rate + (o.ramp_to_rate - o.rate) * f;
      if (arrivals_.Uniform() * top < rate_t) return t - next_arrival_s_;
    }
  }
  if (o.burstiness == 1.0) return arrivals_.Exponential(o.rate);
  // Gamma gaps with shape b and scale 1 / (rate * b): mean 1 / rate.
  return arrivals_.Gamma(o.burstiness) / (o.rate * o.burstiness);
}

RequestPlan WorkloadGenerator::Next() {
  RequestPlan plan;
  plan.index = next_index_;
  if (std::isfinite(options_.rate)) next_arrival_s_ += NextGap();
  plan.arrival_s = next_arrival_s_;
  const bool cancel = ChooseCancel();
  ++next_index_;

  Rng rng(options_.seed, static_cast<uint64_t>(plan.index) + 1);
  plan.prompt_len =
      static_cast<int32_t>(rng.UniformInt(options_.prompt_len.lo, options_.prompt_len.hi));
  plan.max_tokens =
      static_cast<int32_t>(rng.UniformInt(options_.max_tokens.lo, options_.max_tokens.hi));
  plan.sampling_seed = rng.Next() | 1;  // never 0, which asks the server to pick one
  const size_t len = static_cast<size_t>(plan.prompt_len);
  if (options_.dataset != nullptr) {
    const DatasetEntry& entry =
        (*options_.dataset)[static_cast<size_t>(plan.index) % options_.dataset->size()];
    plan.prompt_text = entry.prompt;
    plan.prompt_len = static_cast<int32_t>(entry.prompt.size());
    if (entry.max_tokens > 0) plan.max_tokens = entry.max_tokens;
  } else if (options_.prompt_text) {
    plan.prompt_text = shared_text_.substr(0, len);
    AppendWords(rng, len, &plan.prompt_text);
  } else {
    plan.prompt_ids.assign(shared_ids_.begin(),
                           shared_ids_.begin() + std::min(len, shared_ids_.size()));
    plan.prompt_ids.reserve(len);
    AppendIds(rng, len, &plan.prompt_ids);
  }
  if (cancel) {
    // Mid-way: after at least one token and, when there is room, before the last.
    plan.cancel_after_tokens =
        static_cast<int32_t>(rng.UniformInt(1, std::max(1, plan.max_tokens - 1)));
  }
  return plan;
}

std::vector<RequestPlan> GenerateWorkload(const WorkloadOptions& options) {
  std::vector<RequestPlan> plans;
  WorkloadGenerator generator(options);
  // Bounded by num_requests; an unbounded workload yields nothing here.
  while (options.num_requests > 0 && generator.HasNext()) plans.push_back(generator.Next());
  return plans;
}

}  // namespace kvserve::load
