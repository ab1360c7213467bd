#include "clients/kvload/slo.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace kvserve::load {

absl::StatusOr<Slo> Slo::Parse(absl::string_view text) {
  Slo slo;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    const std::vector<absl::string_view> kv = absl::StrSplit(part, ':');
    double ms = 0;
    if (kv.size() != 2 || !absl::SimpleAtod(kv[1], &ms) || !(ms > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--goodput: \"", part, "\" is not KEY:MS with KEY ttft, tpot or e2e and MS > 0"));
    }
    std::optional<double>* slot = kv[0] == "ttft"   ? &slo.ttft_ms
                                  : kv[0] == "tpot" ? &slo.tpot_ms
                                  : kv[0] == "e2e"  ? &slo.e2e_ms
                                                    : nullptr;
    if (slot == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--goodput: unknown objective \"", kv[0], "\" (ttft, tpot or e2e)"));
    }
    if (slot->has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("--goodput: ", kv[0], " is given twice"));
    }
    *slot = ms;
  }
  return slo;
}

bool Slo::Met(const RequestRecord& r) const {
  if (r.outcome != Outcome::kOk) return false;
  if (ttft_ms && !(r.TtftSeconds() >= 0 && r.TtftSeconds() * 1e3 <= *ttft_ms)) return false;
  if (tpot_ms && r.TpotSeconds() >= 0 && r.TpotSeconds() * 1e3 > *tpot_ms) return false;
  if (e2e_ms && r.end_s * 1e3 > *e2e_ms) return false;
  return true;
}

std::string Slo::ToString() const {
  std::vector<std::string> parts;
  if (ttft_ms) parts.push_back(absl::StrCat("ttft:", *ttft_ms));
  if (tpot_ms) parts.push_back(absl::StrCat("tpot:", *tpot_ms));
  if (e2e_ms) parts.push_back(absl::StrCat("e2e:", *e2e_ms));
  return absl::StrJoin(parts, ",");
}

}  // namespace kvserve::load
