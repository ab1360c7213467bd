// kvbench decode: batched decode throughput of the engine (ModelRunner over the paged cache), the
// figure to set beside llama.cpp's llama-batched-bench S_TG on the same shapes.
//
//   kvbench decode --batch 1,8,32,64 --context 512 --decode_new 128 --threads 2
//   kvbench decode --decode_model /tmp/realsize/smollm2-360m-bf16 --batch 1,16 --context 256 \
//       --decode_new 64          # a checkpoint, as llama-batched-bench -npp 256 -ntg 64 -npl 1,16
//
// For each batch size B: B sequences are prefilled with `context` tokens, then `decode_new` decode
// steps run with all B sequences in every step. Prints decode tokens/s (B × steps ÷ decode time),
// prefill tokens/s and the mean step time per batch size.
#include <chrono>
#include <memory>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "engine/serving/model_source.h"
#include "tests/bench/bench_common.h"
#include "tests/bench/engine_driver.h"

ABSL_FLAG(int32_t, decode_new, 128, "kvbench decode: new tokens per sequence");
ABSL_FLAG(std::string, decode_model, "tiny",
          "kvbench decode: embedded model preset or checkpoint directory (as kvserve --model)");
ABSL_FLAG(
    std::string, decode_weights_dtype, "auto",
    "kvbench decode: weight matrices' dtype, as kvserve --weights_dtype (auto, f32, bf16, f16)");
ABSL_FLAG(std::string, decode_kv_dtype, "f32",
          "kvbench decode: the KV cache's dtype, as kvserve --kv_cache_dtype (f32, bf16, f16)");
ABSL_FLAG(bool, decode_bf16, false, "kvbench decode: bfloat16 matmuls (ModelRunner bf16_matmul)");

namespace kvserve::bench {
namespace {

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

int RunDecode(int, char**) {
  ModelSourceOptions source;
  if (const std::string dtype = absl::GetFlag(FLAGS_decode_weights_dtype); dtype != "auto") {
    absl::StatusOr<FloatDtype> parsed = ParseFloatDtype(dtype);
    if (!parsed.ok()) return Fail(parsed.status());
    source.weights_dtype = *parsed;
  }
  auto model = LoadModel(absl::GetFlag(FLAGS_decode_model), source);
  if (!model.ok()) return Fail(model.status());
  const absl::StatusOr<FloatDtype> kv_dtype = ParseFloatDtype(absl::GetFlag(FLAGS_decode_kv_dtype));
  if (!kv_dtype.ok()) return Fail(kv_dtype.status());
  const std::shared_ptr<const ModelWeights> shared = model->weights;
  const int32_t context = absl::GetFlag(FLAGS_context);
  const int32_t steps = absl::GetFlag(FLAGS_decode_new);
  const int32_t page_size = absl::GetFlag(FLAGS_page_size);
  KeyValuePrinter out;
  out.Add("model", shared->config.name);
  out.Add("context", context);
  out.Add("new_tokens", steps);
  out.Add("threads", omp_get_max_threads());
  const bool bf16 = absl::GetFlag(FLAGS_decode_bf16);
  out.Add("weights", std::string(FloatDtypeName(shared->matrix_dtype())));
  out.Add("weights_mib", shared->num_bytes() >> 20);
  out.Add("kv_cache", std::string(FloatDtypeName(*kv_dtype)));
  out.Add("matmul", shared->matrix_dtype() != FloatDtype::kF32 ? "HalfLinear (16-bit weights)"
                    : bf16                                     ? "oneDNN bf16"
                                                               : "oneDNN f32");
  double b1_tok_s = 0;
  for (int32_t batch : absl::GetFlag(FLAGS_batch).sizes) {
    const int64_t pages_per_seq = (context + steps + page_size - 1) / page_size;
    auto driver = EngineDriver::Create(shared, std::max(512, batch), std::max(batch, 1), page_size,
                                       pages_per_seq * batch, bf16, *kv_dtype);
    if (!driver.ok()) return Fail(driver.status());
    std::vector<RequestId> ids(batch);
    std::vector<std::vector<int32_t>> prompts(batch);
    for (int32_t b = 0; b < batch; ++b) ids[b] = b, prompts[b] = BenchPrompt(context, b);
    auto t0 = std::chrono::steady_clock::now();
    auto next = driver->Feed(ids, prompts);
    auto t1 = std::chrono::steady_clock::now();
    if (!next.ok()) return Fail(next.status());
    std::vector<std::vector<int32_t>> feed(batch, std::vector<int32_t>(1));
    for (int32_t s = 0; s < steps; ++s) {
      for (int32_t b = 0; b < batch; ++b) feed[b][0] = (*next)[b];
      next = driver->Feed(ids, feed);
      if (!next.ok()) return Fail(next.status());
    }
    auto t2 = std::chrono::steady_clock::now();
    const std::string suffix = absl::StrCat("_b", batch);
    out.Add("prefill_tok_s" + suffix, batch * context / Seconds(t0, t1));
    out.Add("decode_tok_s" + suffix, batch * steps / Seconds(t1, t2));
    out.Add("decode_step_ms" + suffix, 1e3 * Seconds(t1, t2) / steps);
    if (batch == 1) b1_tok_s = steps / Seconds(t1, t2);
  }
  // Batch-1 decode reads every weight once per token (a tied embedding as the LM head; an untied
  // one only a row): its ceiling is the STREAM triad bandwidth ÷ those bytes.
  const int64_t bytes_per_token =
      shared->num_bytes() - (shared->config.tie_word_embeddings ? 0 : shared->embedding.bytes());
  const double stream = StreamTriadGbs();
  out.Add("stream_triad_gb_s", stream);
  out.Add("weight_bytes_per_token_mb", bytes_per_token / 1e6);
  if (b1_tok_s > 0 && stream > 0) {
    const double limit = stream * 1e9 / bytes_per_token;
    out.Add("b1_weight_bandwidth_limit_tok_s", limit);
    out.Add("b1_vs_bandwidth_limit", b1_tok_s / limit);
  }
  return FinishReport(out);
}

KVBENCH_SUBCOMMAND("decode", "batched decode tokens/s per batch size (--batch 1,8,32,64)",
                   RunDecode);

}  // namespace
}  // namespace kvserve::bench
