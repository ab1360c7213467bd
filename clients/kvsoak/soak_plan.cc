#include "clients/kvsoak/soak_plan.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"

namespace kvserve::soak {

const char* SoakKindName(SoakKind kind) {
  switch (kind) {
    case SoakKind::kNormal:
      return "normal";
    case SoakKind::kCancel:
      return "cancel";
    case SoakKind::kDeadline:
      return "deadline";
    case SoakKind::kInvalid:
      return "invalid";
  }
  return "?";
}

const char* ExpectedField(InvalidWay way) {
  switch (way) {
    case InvalidWay::kZeroMaxTokens:
      return "max_tokens";
    case InvalidWay::kBeyondContext:
      return "max_tokens";
    case InvalidWay::kTokenBeyondVocab:
      return "prompt.token_ids[";
    case InvalidWay::kEmptyPrompt:
      return "prompt";
    case InvalidWay::kNanTemperature:
      return "sampling.temperature";
  }
  return "?";
}

absl::Status ValidateSoakMix(const SoakMix& mix, const ModelLimits& limits) {
  for (double f : {mix.cancel_fraction, mix.deadline_fraction, mix.invalid_fraction,
                   mix.long_fraction, mix.samples_fraction, mix.stop_string_fraction}) {
    if (!(f >= 0.0 && f <= 1.0)) {
      return absl::InvalidArgumentError(absl::StrCat("fraction ", f, " is not in [0, 1]"));
    }
  }
  if (mix.cancel_fraction + mix.deadline_fraction + mix.invalid_fraction > 1.0) {
    return absl::InvalidArgumentError("cancel + deadline + invalid fractions exceed 1");
  }
  if (limits.vocab_size <= 0 || limits.max_context < 2) {
    return absl::InvalidArgumentError(absl::StrCat("model limits vocab_size ", limits.vocab_size,
                                                   ", max_context ", limits.max_context,
                                                   " are unusable"));
  }
  for (const load::LengthRange& r : {mix.prompt_len, mix.max_tokens, mix.deadline_ms}) {
    if (r.lo <= 0 || r.lo > r.hi) {
      return absl::InvalidArgumentError(absl::StrCat("range ", r.ToString(), " is invalid"));
    }
  }
  if (int64_t{mix.prompt_len.hi} + mix.max_tokens.hi > limits.max_context) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt_len ", mix.prompt_len.ToString(), " plus max_tokens ", mix.max_tokens.ToString(),
        " can exceed the model's context of ", limits.max_context));
  }
  return absl::OkStatus();
}

namespace {

void FillPrompt(load::Rng& rng, const ModelLimits& limits, int32_t len,
                kvserve::v1::GenerateRequest& request) {
  // Byte ids (valid for every model here) unless the vocabulary is smaller.
  const int64_t id_hi = std::min<int64_t>(limits.vocab_size, 256) - 1;
  auto* ids = request.mutable_token_ids()->mutable_ids();
  ids->Reserve(len);
  for (int32_t i = 0; i < len; ++i) ids->Add(static_cast<int32_t>(rng.UniformInt(0, id_hi)));
}

// A valid request: lengths, sampling and ignore_eos all vary.
void FillValid(const SoakMix& mix, const ModelLimits& limits, load::Rng& rng, SoakPlan& plan) {
  int32_t prompt_len, max_tokens;
  if (rng.Uniform() < mix.long_fraction) {
    // Long: together they fill 75–100% of the context.
    const int32_t total =
        static_cast<int32_t>(rng.UniformInt(limits.max_context * 3 / 4, limits.max_context));
    prompt_len = static_cast<int32_t>(rng.UniformInt(1, total - 1));
    max_tokens = total - prompt_len;
  } else {
    prompt_len = static_cast<int32_t>(rng.UniformInt(mix.prompt_len.lo, mix.prompt_len.hi));
    max_tokens = static_cast<int32_t>(rng.UniformInt(mix.max_tokens.lo, mix.max_tokens.hi));
  }
  plan.prompt_len = prompt_len;
  FillPrompt(rng, limits, prompt_len, plan.request);
  plan.request.set_max_tokens(max_tokens);
  plan.request.set_ignore_eos(rng.Uniform() < 0.75);
  if (rng.Uniform() < 0.5) {
    plan.request.mutable_sampling()->set_temperature(0.8f);
    plan.request.mutable_sampling()->set_top_k(static_cast<int32_t>(rng.UniformInt(0, 40)));
    plan.request.mutable_sampling()->set_seed(rng.Next() | 1);
  }
  // Some requests sample n > 1 (forked pages), some stop at a short text.
  if (rng.Uniform() < mix.samples_fraction) {
    plan.request.set_n(static_cast<int32_t>(rng.UniformInt(2, 3)));
  }
  if (rng.Uniform() < mix.stop_string_fraction) {
    std::string stop(static_cast<size_t>(rng.UniformInt(1, 2)), ' ');
    for (char& c : stop) c = static_cast<char>(rng.UniformInt('a', 'z'));
    plan.request.add_stop(stop);
  }
}

void FillInvalid(const ModelLimits& limits, load::Rng& rng, SoakPlan& plan) {
  plan.invalid = static_cast<InvalidWay>(rng.UniformInt(0, kNumInvalidWays - 1));
  kvserve::v1::GenerateRequest& request = plan.request;
  const int32_t prompt_len =
      static_cast<int32_t>(rng.UniformInt(1, std::min(limits.max_context - 1, 32)));
  switch (plan.invalid) {
    case InvalidWay::kZeroMaxTokens:
      FillPrompt(rng, limits, prompt_len, request);
      request.set_max_tokens(0);
      break;
    case InvalidWay::kBeyondContext:
      FillPrompt(rng, limits, prompt_len, request);
      request.set_max_tokens(limits.max_context - prompt_len + 1 +
                             static_cast<int32_t>(rng.UniformInt(0, 100)));
      break;
    case InvalidWay::kTokenBeyondVocab: {
      FillPrompt(rng, limits, prompt_len, request);
      const int pos = static_cast<int>(rng.UniformInt(0, prompt_len - 1));
      request.mutable_token_ids()->set_ids(pos, limits.vocab_size);
      request.set_max_tokens(1);
      break;
    }
    case InvalidWay::kEmptyPrompt:
      request.mutable_token_ids();  // the oneof is set, with no ids
      request.set_max_tokens(4);
      break;
    case InvalidWay::kNanTemperature:
      FillPrompt(rng, limits, prompt_len, request);
      request.set_max_tokens(4);
      request.mutable_sampling()->set_temperature(std::numeric_limits<float>::quiet_NaN());
      break;
  }
  plan.prompt_len = request.token_ids().ids_size();
}

}  // namespace

SoakPlan MakeSoakPlan(const SoakMix& mix, const ModelLimits& limits, uint64_t seed, int64_t index) {
  load::Rng rng(seed, static_cast<uint64_t>(index));
  SoakPlan plan;
  plan.index = index;
  plan.request.set_request_id(absl::StrCat("soak-", index));
  const double u = rng.Uniform();
  if (u < mix.cancel_fraction) {
    plan.kind = SoakKind::kCancel;
  } else if (u < mix.cancel_fraction + mix.deadline_fraction) {
    plan.kind = SoakKind::kDeadline;
  } else if (u < mix.cancel_fraction + mix.deadline_fraction + mix.invalid_fraction) {
    plan.kind = SoakKind::kInvalid;
  }
  if (plan.kind == SoakKind::kInvalid) {
    FillInvalid(limits, rng, plan);
    return plan;
  }
  FillValid(mix, limits, rng, plan);
  if (plan.kind == SoakKind::kCancel) {
    plan.cancel_after_tokens = static_cast<int32_t>(rng.UniformInt(1, plan.request.max_tokens()));
  } else if (plan.kind == SoakKind::kDeadline) {
    plan.deadline_ms = static_cast<int32_t>(rng.UniformInt(mix.deadline_ms.lo, mix.deadline_ms.hi));
  }
  return plan;
}

}  // namespace kvserve::soak
