// generate_request_fuzz: untrusted bytes → kvserve.v1.GenerateRequest (ParseRequest, as the
// server's raw Generate method parses them) → GenerationParams
// (ToGenerationParams, byte tokenizer) → ValidateGenerationParams, as the server does before
// Submit, against the "tiny" and "micro" presets. No scheduler is involved.
//
// Properties checked for every input that parses as a GenerateRequest (abort on violation):
//   * conversion: a text prompt gives one id per byte, token ids are copied as given, and
//     ToGenerationParams(ToGenerateRequest(params)) gives the same params back;
//   * validation agrees with an independent reading of request_validation.h (ExpectedRefusal
//     below): OK exactly when every documented promise holds, otherwise INVALID_ARGUMENT whose
//     message starts with the field path of the first bad field, in the documented order;
//   * a validated request cannot break what runs after it: sampling with its parameters over a
//     few hostile logits rows (ties, -inf, NaN, +inf, huge values) gives a token inside the
//     vocabulary (the argmax when greedy), and its stop rule (MakeStopCriteria + CheckStop) stops
//     on its stop ids and at max_tokens.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/model/model_config.h"
#include "engine/sched/request_validation.h"
#include "engine/sched/sampler.h"
#include "engine/sched/stop_rules.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "kvserve/v1/kvserve.pb.h"
#include "server/proto_convert.h"
#include "server/request_parser.h"
#include "tests/fuzz/fuzz_check.h"

namespace kvserve {
namespace {

bool InVocab(int32_t id, const ModelConfig& config) { return id >= 0 && id < config.vocab_size; }

// The refusal request_validation.h documents for `params`: "" if it must be accepted, else the
// field path its message must start with (followed by " " or, for indexed paths, the index).
std::string ExpectedRefusal(const GenerationParams& params, const ModelConfig& config) {
  if (!params.has_prompt || params.prompt_ids.empty()) return "prompt ";
  for (size_t i = 0; i < params.prompt_ids.size(); ++i) {
    if (!InVocab(params.prompt_ids[i], config)) return absl::StrCat("prompt.token_ids[", i, "] ");
  }
  const int64_t prompt_len = static_cast<int64_t>(params.prompt_ids.size());
  if (prompt_len > config.max_context) return "prompt ";
  if (params.max_tokens <= 0 || prompt_len + params.max_tokens > config.max_context) {
    return "max_tokens ";
  }
  const SamplingParams& s = params.sampling;
  if (!(s.temperature >= 0.0f && s.temperature <= std::numeric_limits<float>::max())) {
    return "sampling.temperature ";
  }
  if (!(s.top_p >= 0.0f && s.top_p <= 1.0f)) return "sampling.top_p ";
  if (s.top_k < 0) return "sampling.top_k ";
  if (!(s.min_p >= 0.0f && s.min_p <= 1.0f)) return "sampling.min_p ";
  if (!(s.repetition_penalty >= 0.0f &&
        s.repetition_penalty <= std::numeric_limits<float>::max())) {
    return "sampling.repetition_penalty ";
  }
  if (!(std::abs(s.presence_penalty) <= 2.0f)) return "sampling.presence_penalty ";
  if (!(std::abs(s.frequency_penalty) <= 2.0f)) return "sampling.frequency_penalty ";
  if (s.logit_bias.size() > 1024) return "sampling.logit_bias ";
  for (const LogitBias& b : s.logit_bias) {  // the proto map arrives sorted by id, each once
    if (!InVocab(b.token, config) || !(std::abs(b.bias) <= 100.0f)) {
      return absl::StrCat("sampling.logit_bias[", b.token, "]");
    }
  }
  if (params.stop_token_ids.size() > 1024) return "stop_token_ids ";
  for (size_t i = 0; i < params.stop_token_ids.size(); ++i) {
    if (!InVocab(params.stop_token_ids[i], config)) return absl::StrCat("stop_token_ids[", i, "] ");
  }
  if (params.stop_strings.size() > 16) return "stop ";
  for (size_t i = 0; i < params.stop_strings.size(); ++i) {
    if (params.stop_strings[i].empty() || params.stop_strings[i].size() > 256) {
      return absl::StrCat("stop[", i, "] ");
    }
  }
  if (params.n < 0 || params.n > 16) return "n ";
  if (params.min_tokens < 0 || params.min_tokens > params.max_tokens) return "min_tokens ";
  auto bad_count = [](const std::optional<int32_t>& v) {
    return v.has_value() && (*v < 0 || *v > 20);
  };
  if (bad_count(params.logprobs)) return "logprobs ";
  if (bad_count(params.prompt_logprobs)) return "prompt_logprobs ";
  return "";
}

bool SameParams(const GenerationParams& a, const GenerationParams& b) {
  // NaN parameters count as equal to NaN; -0 and +0 are the same parameter (proto3 drops both).
  auto same_float = [](float x, float y) { return std::isnan(x) ? std::isnan(y) : x == y; };
  return a.has_prompt == b.has_prompt && a.prompt_ids == b.prompt_ids &&
         a.max_tokens == b.max_tokens &&
         same_float(a.sampling.temperature, b.sampling.temperature) &&
         a.sampling.top_k == b.sampling.top_k && same_float(a.sampling.top_p, b.sampling.top_p) &&
         a.sampling.seed == b.sampling.seed && same_float(a.sampling.min_p, b.sampling.min_p) &&
         same_float(a.sampling.repetition_penalty, b.sampling.repetition_penalty) &&
         same_float(a.sampling.presence_penalty, b.sampling.presence_penalty) &&
         same_float(a.sampling.frequency_penalty, b.sampling.frequency_penalty) &&
         std::equal(a.sampling.logit_bias.begin(), a.sampling.logit_bias.end(),
                    b.sampling.logit_bias.begin(), b.sampling.logit_bias.end(),
                    [&](const LogitBias& x, const LogitBias& y) {
                      return x.token == y.token && same_float(x.bias, y.bias);
                    }) &&
         a.stop_token_ids == b.stop_token_ids && a.ignore_eos == b.ignore_eos &&
         a.stop_strings == b.stop_strings &&
         a.include_stop_str_in_output == b.include_stop_str_in_output &&
         std::max(a.n, 1) == std::max(b.n, 1) && a.min_tokens == b.min_tokens &&
         a.logprobs == b.logprobs && a.prompt_logprobs == b.prompt_logprobs;
}

// Logits rows a model could plausibly (or pathologically) produce, each `vocab` wide.
std::vector<std::vector<float>> HostileLogitsRows(int32_t vocab) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float big = std::numeric_limits<float>::max();
  std::vector<std::vector<float>> rows;
  std::vector<float> row(vocab);
  for (int32_t v = 0; v < vocab; ++v) row[v] = static_cast<float>((v * 37) % 11) - 5.0f;
  rows.push_back(row);                        // ordinary, with ties
  rows.push_back(std::vector<float>(vocab));  // all equal
  row.assign(vocab, -inf);
  row[vocab / 3] = 0.0f;
  rows.push_back(row);  // one finite logit
  row.assign(vocab, -inf);
  rows.push_back(row);  // everything masked
  row.assign(vocab, nan);
  row[vocab - 1] = -1.0f;
  rows.push_back(row);  // NaN almost everywhere
  for (int32_t v = 0; v < vocab; ++v) row[v] = (v % 2 == 0) ? big : -big;
  rows.push_back(row);  // extremes: differences overflow to inf
  row.assign(vocab, 1.0f);
  row[7] = inf;
  rows.push_back(row);  // +inf logit
  return rows;
}

void CheckSamplingAndStop(const GenerationParams& params, const ModelConfig& config) {
  SamplerScratch scratch;
  const int64_t last_index = params.max_tokens - 1;
  for (const std::vector<float>& row : HostileLogitsRows(config.vocab_size)) {
    float max_logit = -std::numeric_limits<float>::infinity();
    for (float l : row) max_logit = l > max_logit ? l : max_logit;  // NaN never wins
    for (int64_t index : {int64_t{0}, last_index}) {
      const int32_t token = SampleToken(row, params.sampling, index, &scratch);
      FUZZ_CHECK(InVocab(token, config), "sampled token ", token, " outside [0, ",
                 config.vocab_size, ")");
      if (params.sampling.greedy() || !std::isfinite(max_logit)) {
        FUZZ_CHECK(token == GreedyToken(row), "sampling gave ", token, " where the argmax ",
                   GreedyToken(row), " is due");
      } else {
        FUZZ_CHECK(std::isfinite(row[token]), "sampled token ", token, " has logit ", row[token],
                   " while finite ones are left");
      }
    }
  }

  const StopCriteria criteria = MakeStopCriteria(params, config);
  for (int32_t stop : params.stop_token_ids) {
    FUZZ_CHECK(CheckStop(stop, 1, criteria) == FinishReason::kStop, "stop id ", stop,
               " does not stop");
  }
  const int32_t byte_a = 'a';
  if (std::find(params.stop_token_ids.begin(), params.stop_token_ids.end(), byte_a) ==
      params.stop_token_ids.end()) {
    FUZZ_CHECK(CheckStop(byte_a, params.max_tokens, criteria) == FinishReason::kLength,
               "no length stop at max_tokens ", params.max_tokens);
    if (params.max_tokens > 1) {
      FUZZ_CHECK(CheckStop(byte_a, params.max_tokens - 1, criteria) == FinishReason::kNone,
                 "stopped before max_tokens ", params.max_tokens);
    }
  }
}

void CheckAgainst(const GenerationParams& params, const ModelConfig& config) {
  const absl::Status status = ValidateGenerationParams(params, config);
  const std::string expected = ExpectedRefusal(params, config);
  if (expected.empty()) {
    FUZZ_CHECK(status.ok(), config.name,
               ": a request within every documented limit was refused: ", status.ToString());
    CheckSamplingAndStop(params, config);
    return;
  }
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument, config.name,
             ": expected INVALID_ARGUMENT naming '", expected, "', got ", status.ToString());
  FUZZ_CHECK(absl::StartsWith(status.message(), expected), config.name,
             ": the refusal should start with '", expected, "': ", status.message());
}

void CheckConversion(const v1::GenerateRequest& request, const GenerationParams& params) {
  switch (request.prompt_case()) {
    case v1::GenerateRequest::kText: {
      const std::string& text = request.text();
      FUZZ_CHECK(params.has_prompt && params.prompt_ids.size() == text.size(), "text of ",
                 text.size(), " bytes gave ", params.prompt_ids.size(), " ids");
      for (size_t i = 0; i < text.size(); ++i) {
        FUZZ_CHECK(params.prompt_ids[i] == static_cast<unsigned char>(text[i]), "byte ", i,
                   " encoded as ", params.prompt_ids[i]);
      }
      break;
    }
    case v1::GenerateRequest::kTokenIds: {
      const auto& ids = request.token_ids().ids();
      FUZZ_CHECK(
          params.has_prompt && std::vector<int32_t>(ids.begin(), ids.end()) == params.prompt_ids,
          "token ids not copied as given");
      break;
    }
    case v1::GenerateRequest::kChat:  // the service renders chat prompts before conversion
    case v1::GenerateRequest::PROMPT_NOT_SET:
      FUZZ_CHECK(!params.has_prompt && params.prompt_ids.empty(), "prompt without a prompt");
      break;
  }
  // Back to a request (prompts come back as token ids) and forward again: nothing is lost.
  static const ByteTokenizer& tokenizer = *new ByteTokenizer();
  const GenerationParams again = ToGenerationParams(ToGenerateRequest(params), tokenizer);
  FUZZ_CHECK(SameParams(params, again), "ToGenerateRequest does not round-trip: ",
             ToGenerateRequest(params).ShortDebugString());
}

}  // namespace
}  // namespace kvserve

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvserve;
  static const ByteTokenizer& tokenizer = *new ByteTokenizer();
  static const ModelConfig& tiny = *new ModelConfig(*PresetConfig("tiny"));
  static const ModelConfig& micro = *new ModelConfig(*PresetConfig("micro"));

  // The server's parser (the Generate method is raw): it accepts exactly what protobuf accepts,
  // and refuses the rest with INVALID_ARGUMENT saying which kind of problem it is.
  v1::GenerateRequest request;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  const absl::Status parsed = ParseRequest(bytes, &request);
  const bool protobuf_accepts = v1::GenerateRequest().ParseFromArray(data, static_cast<int>(size));
  FUZZ_CHECK(parsed.ok() == protobuf_accepts, "parser says ", parsed.ToString(), ", protobuf says ",
             protobuf_accepts);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.code() == absl::StatusCode::kInvalidArgument, parsed.ToString());
    // Any string field (request_id, prompt.text, stop, chat messages): "<field> is not valid
    // UTF-8 (byte N of M)...", or the wire format itself.
    FUZZ_CHECK(absl::StrContains(parsed.message(), " is not valid UTF-8 (byte ") ||
                   absl::StartsWith(parsed.message(),
                                    "the request is not a valid kvserve.v1.GenerateRequest: "),
               "unexplained refusal: ", parsed.ToString());
    return 0;
  }
  const GenerationParams params = ToGenerationParams(request, tokenizer);
  CheckConversion(request, params);
  CheckAgainst(params, tiny);
  CheckAgainst(params, micro);
  return 0;
}
