// Slo: service-level objectives for goodput (--goodput ttft:MS,tpot:MS,e2e:MS), as vLLM's
// benchmark_serving defines them: a request is *good* when it ended OK and every objective that is
// set holds (TTFT <= ttft, TPOT <= tpot, e2e <= e2e, all in milliseconds, inclusive). A request
// with fewer than two tokens has no TPOT and meets a TPOT objective (vLLM counts its TPOT as 0).
// Goodput is the good requests (and their output tokens) per second of the run.
//
// Threads: a plain value.
#ifndef KVSERVE_CLIENTS_KVLOAD_SLO_H_
#define KVSERVE_CLIENTS_KVLOAD_SLO_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "clients/kvload/run_result.h"

namespace kvserve::load {

struct Slo {
  std::optional<double> ttft_ms;
  std::optional<double> tpot_ms;
  std::optional<double> e2e_ms;

  // "ttft:2000,tpot:200" → those two objectives. Keys ttft, tpot, e2e, each at most once, with a
  // positive number of milliseconds; "" → no objective (empty()).
  static absl::StatusOr<Slo> Parse(absl::string_view text);

  bool empty() const { return !ttft_ms && !tpot_ms && !e2e_ms; }
  // True if `r` ended OK and meets every objective that is set.
  bool Met(const RequestRecord& r) const;
  // The canonical text ("ttft:2000,tpot:200"), "" if empty.
  std::string ToString() const;
};

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_SLO_H_
