// Workload: what kvload sends and when, decided up front from a seed.
//
// A WorkloadGenerator yields RequestPlans one by one: request i's arrival time, prompt, max_tokens,
// sampling seed and (for --cancel_fraction) the number of received tokens after which it is
// cancelled. What it promises:
//   * Repeatable: two generators built from equal WorkloadOptions yield equal plan sequences.
//   * Each request's prompt and lengths come from its own RNG stream (seed, index), so they do not
//     depend on how many arrivals were drawn before it or on timing.
//   * Arrivals are a Poisson process of rate `rate` (exponential gaps; all at 0 if rate is
//     infinite, which is the closed-loop case). With burstiness b != 1 the gaps are gamma
//     distributed with shape b and mean 1/rate, as vLLM's --burstiness (b < 1 burstier, b > 1
//     more even). With ramp_to_rate > 0 the rate rises (or falls) linearly from `rate` to
//     ramp_to_rate over ramp_seconds and then stays there (a non-homogeneous Poisson process,
//     drawn by thinning).
//   * With a dataset, request i takes entry i mod size (in file order): its text as the prompt
//     and, if the entry has one, its max_tokens; prompt_len is then the text's length in bytes.
//   * With a known request count, exactly round(cancel_fraction * num_requests) requests are
//     chosen for cancellation (selection sampling); with an unbounded count each request is chosen
//     independently with probability cancel_fraction.
//
// Threads: a generator is a plain value; use it from one thread at a time.
#ifndef KVSERVE_CLIENTS_KVLOAD_WORKLOAD_H_
#define KVSERVE_CLIENTS_KVLOAD_WORKLOAD_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvserve::load {

// An inclusive integer range [lo, hi]; a fixed length is lo == hi.
struct LengthRange {
  int32_t lo = 0;
  int32_t hi = 0;

  // "64" → [64, 64]; "32:512" → [32, 512]. Both ends must be positive and lo <= hi.
  static absl::StatusOr<LengthRange> Parse(absl::string_view text);
  std::string ToString() const;
  bool operator==(const LengthRange&) const = default;
};

// A small deterministic RNG (SplitMix64): the same numbers on every platform and library, unlike
// the std:: distributions.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  // Two seeds mixed into one stream (e.g. run seed and request index).
  Rng(uint64_t seed, uint64_t stream);

  uint64_t Next();
  // Uniform in [0, 1).
  double Uniform();
  // Uniform integer in [lo, hi]; requires lo <= hi.
  int64_t UniformInt(int64_t lo, int64_t hi);
  // Exponential with the given rate (> 0).
  double Exponential(double rate);
  // Standard normal (Box-Muller).
  double Normal();
  // Gamma with the given shape (> 0) and scale 1 (Marsaglia-Tsang).
  double Gamma(double shape);

 private:
  uint64_t state_;
};

// One prompt of a --dataset file.
struct DatasetEntry {
  std::string prompt;
  int32_t max_tokens = 0;  // 0 = the workload's max_tokens range
};

struct WorkloadOptions {
  // Requests to generate; 0 = unbounded (the run is bounded by time instead).
  int64_t num_requests = 0;
  // Mean arrivals per second; infinity = every request is due at once (closed loop).
  double rate = std::numeric_limits<double>::infinity();
  LengthRange prompt_len{32, 32};
  LengthRange max_tokens{16, 16};
  // The first `shared_prefix` prompt tokens are the same for every request (capped at each
  // request's prompt length).
  int32_t shared_prefix = 0;
  // Prompts as text (lowercase words, one token per byte on the byte-level models) instead of
  // random byte token ids 0..255.
  bool prompt_text = false;
  double cancel_fraction = 0.0;
  uint64_t seed = 0;
  // Gamma shape of the inter-arrival gaps (1 = Poisson).
  double burstiness = 1.0;
  // > 0: ramp the rate linearly to this over ramp_seconds (> 0), then hold it.
  double ramp_to_rate = 0.0;
  double ramp_seconds = 0.0;
  // Prompts from a file (dataset.h) instead of synthetic ones; implies text prompts.
  std::shared_ptr<const std::vector<DatasetEntry>> dataset;
};

struct RequestPlan {
  int64_t index = 0;
  // Due time, seconds after the run starts.
  double arrival_s = 0.0;
  // Exactly one of these is used, as WorkloadOptions::prompt_text says.
  std::vector<int32_t> prompt_ids;
  std::string prompt_text;
  int32_t prompt_len = 0;
  int32_t max_tokens = 0;
  // Non-zero, so the server never picks its own.
  uint64_t sampling_seed = 1;
  // Cancel after this many tokens have been received; -1 = never.
  int32_t cancel_after_tokens = -1;
};

// Checks the options (ranges, fraction in [0, 1], rate > 0, shared prefix >= 0, burstiness > 0,
// a ramp only with a finite rate, Poisson gaps and a positive length, a non-empty dataset).
absl::Status ValidateWorkload(const WorkloadOptions& options);

class WorkloadGenerator {
 public:
  // `options` must pass ValidateWorkload.
  explicit WorkloadGenerator(const WorkloadOptions& options);

  // False once num_requests plans have been produced (never, if num_requests is 0).
  bool HasNext() const;
  // The next plan; requires HasNext().
  RequestPlan Next();

  const WorkloadOptions& options() const { return options_; }

 private:
  bool ChooseCancel();
  double NextGap();

  WorkloadOptions options_;
  Rng arrivals_;
  Rng cancels_;
  int64_t next_index_ = 0;
  double next_arrival_s_ = 0.0;
  int64_t cancels_left_ = 0;
  std::vector<int32_t> shared_ids_;
  std::string shared_text_;
};

// The whole workload, for a bounded num_requests (tests and small runs).
std::vector<RequestPlan> GenerateWorkload(const WorkloadOptions& options);

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_WORKLOAD_H_
