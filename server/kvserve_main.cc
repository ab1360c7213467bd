// kvserve: the gRPC daemon. Flags → model (LoadModel) → KvServer::Start (the EngineStack: runner
// and scheduler, with the metrics; then the gRPC server); then it waits for
// SIGTERM/SIGINT and shuts down gracefully (see kv_server.h), exiting 0. The flags live in this
// file, named after the binary, so that `kvserve --help` lists them.
#include <omp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "engine/sched/scheduler.h"
#include "engine/serving/engine_stack.h"
#include "engine/serving/model_source.h"
#include "security/bearer_token.h"
#include "server/kv_server.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/port_file.h"
#include "server/shutdown_signal.h"
#include "server/tls_server_credentials.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "Address to listen on.");
ABSL_FLAG(int32_t, port, 50051, "Port to listen on; 0 picks a free port (see --port_file).");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound port is written to this file (atomically) once the server is up.");
ABSL_FLAG(std::string, model, "tiny",
          "Model to serve: a Hugging Face Llama/Qwen2 checkpoint directory (config.json, "
          "*.safetensors, tokenizer.json), or an embedded preset (tiny, tiny-mha, micro) with "
          "synthetic weights and a byte-level vocabulary.");
ABSL_FLAG(int32_t, page_size, 16, "KV cache page size in tokens.");
ABSL_FLAG(int64_t, kv_cache_bytes, int64_t{1} << 30,
          "KV cache memory in bytes, allocated once at start-up.");
ABSL_FLAG(int64_t, num_pages, 0, "KV cache size in pages; overrides --kv_cache_bytes if > 0.");
ABSL_FLAG(int32_t, max_num_seqs, 64, "Most sequences in one batch step.");
ABSL_FLAG(int32_t, max_batched_tokens, 512,
          "Most tokens in one batch step (prefill chunks + decodes).");
ABSL_FLAG(int32_t, max_waiting, 1024,
          "Most queued requests; more are refused with RESOURCE_EXHAUSTED.");
ABSL_FLAG(bool, enable_prefix_caching, true,
          "Reuse the KV pages of prompts that share a prefix with earlier requests.");
ABSL_FLAG(std::string, chat_template, "",
          "A Jinja chat template file for chat prompts, replacing the model's own "
          "(chat_template.jinja or tokenizer_config.json; the presets use ChatML).");
ABSL_FLAG(int32_t, threads, 0, "OpenMP threads for the model step; 0 = all cores.");
ABSL_FLAG(std::string, matmul_dtype, "f32",
          "Data type of the linear layers' matmuls with f32 weights: f32, or bf16 (oneDNN with "
          "bfloat16 weights and inputs, fp32 accumulation: about twice as fast on CPUs with "
          "AVX512-BF16, ~3 significant digits). With bf16 weights (--weights_dtype) it moves "
          "prefill-sized matmuls onto oneDNN's bf16 matmul where the CPU has AVX512-BF16; f16 "
          "weights ignore it.");
ABSL_FLAG(std::string, weights_dtype, "auto",
          "Data type the weight matrices are kept in: auto (a checkpoint's own when every matrix "
          "is BF16 or every one F16, else f32; presets f32), f32, bf16 or f16. 16-bit weights "
          "stay 16-bit in memory and are widened in registers by the matmul kernel; an f32 "
          "checkpoint loaded as bf16/f16 is rounded to nearest even.");
ABSL_FLAG(std::string, kv_cache_dtype, "f32",
          "How the KV cache stores keys and values: f32, or bf16 / f16 (half the bytes per "
          "token, so twice the tokens in --kv_cache_bytes; attention widens them on load and "
          "accumulates in fp32).");
ABSL_FLAG(int32_t, drain_seconds, 30,
          "On SIGTERM/SIGINT, how long in-flight streams may take to finish.");
ABSL_FLAG(
    int32_t, metrics_port, -1,
    "Port for Prometheus metrics at http://<metrics_host>:<port>/metrics; 0 picks a free port "
    "(see --metrics_port_file); -1 (the default) turns metrics off.");
ABSL_FLAG(std::string, metrics_host, "",
          "IPv4 address for the metrics endpoint; empty means --host.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain (leaf first) to serve TLS with; needs --tls_key. Empty: "
          "plaintext.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert (unencrypted).");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificates; if set, every client must present a certificate signed by one "
          "of them (mutual TLS). Needs --tls_cert and --tls_key.");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding a bearer token; if set, every RPC except grpc.health.v1.Health must "
          "carry 'authorization: Bearer <token>' metadata, or it fails with UNAUTHENTICATED.");
ABSL_FLAG(int32_t, max_prompt_tokens, 0,
          "Longest prompt accepted, in tokens (INVALID_ARGUMENT beyond); 0 = the model's "
          "context.");
ABSL_FLAG(int32_t, max_message_bytes, 4 << 20,
          "Largest request message accepted, in bytes (RESOURCE_EXHAUSTED beyond).");
ABSL_FLAG(int32_t, max_streams_per_connection, 100,
          "Concurrent streams per client HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS); "
          "clients queue further calls until a stream closes.");
ABSL_FLAG(int32_t, max_live_streams, 2048,
          "Live Generate streams server-wide, from the call's start until the client has its "
          "status (RESOURCE_EXHAUSTED beyond).");
ABSL_FLAG(int32_t, max_live_streams_per_peer, 1024,
          "Live Generate streams from one client IP address (RESOURCE_EXHAUSTED beyond), so "
          "that one client cannot take every --max_live_streams slot.");
ABSL_FLAG(double, stream_write_timeout_seconds, 30,
          "A Generate stream whose client reads nothing for this long (its write stays in "
          "flight) is cancelled and its KV pages freed.");
ABSL_FLAG(int32_t, max_other_streams, 128,
          "Live grpc.health.v1.Health/Watch and server-reflection calls server-wide "
          "(RESOURCE_EXHAUSTED beyond); health Check is never refused.");
ABSL_FLAG(
    int32_t, http_port, -1,
    "Port of the OpenAI-compatible HTTP front end (/v1/completions, /v1/chat/completions, "
    "/v1/models, /health, /tokenize, /detokenize) on the same scheduler; 0 picks a free port "
    "(see --http_port_file); -1 (the default) turns it off. HTTPS with the --tls_* files when "
    "they are set, with the same --auth_token_file.");
ABSL_FLAG(std::string, http_host, "", "Address of the HTTP front end; empty: --host.");
ABSL_FLAG(std::string, http_port_file, "",
          "If set, the bound HTTP port is written here (atomically) before --port_file.");
ABSL_FLAG(std::string, served_model_name, "",
          "The model name the HTTP front end serves and requests must name; empty: the last "
          "path component of --model.");
ABSL_FLAG(std::string, metrics_port_file, "",
          "If set, the bound metrics port is written to this file (atomically), before "
          "--port_file.");

namespace kvserve {
namespace {

absl::Status Run() {
  // Before any thread exists, so that every thread inherits the blocked mask.
  if (absl::Status s = BlockShutdownSignals(); !s.ok()) return s;

  const int32_t threads = absl::GetFlag(FLAGS_threads);
  if (threads < 0) return absl::InvalidArgumentError("--threads must be >= 0");
  if (threads > 0) omp_set_num_threads(threads);  // this thread; the engine applies it on its own
  if (absl::GetFlag(FLAGS_drain_seconds) < 0) {
    return absl::InvalidArgumentError("--drain_seconds must be >= 0");
  }
  const std::string matmul_dtype = absl::GetFlag(FLAGS_matmul_dtype);
  if (matmul_dtype != "f32" && matmul_dtype != "bf16") {
    return absl::InvalidArgumentError(
        absl::StrCat("--matmul_dtype must be f32 or bf16, got '", matmul_dtype, "'"));
  }
  absl::StatusOr<FloatDtype> kv_cache_dtype = ParseFloatDtype(absl::GetFlag(FLAGS_kv_cache_dtype));
  if (!kv_cache_dtype.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--kv_cache_dtype must be f32, bf16 or f16, got '",
                     absl::GetFlag(FLAGS_kv_cache_dtype), "'"));
  }
  std::optional<FloatDtype> weights_dtype;
  if (const std::string name = absl::GetFlag(FLAGS_weights_dtype); name != "auto") {
    absl::StatusOr<FloatDtype> parsed = ParseFloatDtype(name);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--weights_dtype must be auto, f32, bf16 or f16, got '", name, "'"));
    }
    weights_dtype = *parsed;
  }

  // Security first: a bad certificate or token file should fail before the model loads.
  const ServerTlsFiles tls{.cert_file = absl::GetFlag(FLAGS_tls_cert),
                           .key_file = absl::GetFlag(FLAGS_tls_key),
                           .client_ca_file = absl::GetFlag(FLAGS_tls_client_ca)};
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = MakeServerCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  std::shared_ptr<const BearerTokenVerifier> auth;
  if (const std::string path = absl::GetFlag(FLAGS_auth_token_file); !path.empty()) {
    absl::StatusOr<std::string> token = ReadBearerTokenFile(path);
    if (!token.ok()) return token.status();
    absl::StatusOr<BearerTokenVerifier> verifier = BearerTokenVerifier::Create(*token);
    if (!verifier.ok()) return verifier.status();
    auth = std::make_shared<const BearerTokenVerifier>(*std::move(verifier));
  }

  const std::string model = absl::GetFlag(FLAGS_model);
  absl::StatusOr<LoadedModel> loaded = LoadModel(
      model,
      {.chat_template_file = absl::GetFlag(FLAGS_chat_template), .weights_dtype = weights_dtype});
  if (!loaded.ok()) return loaded.status();
  Log("model: %s", loaded->description);
  Log("chat template: %s", loaded->chat == nullptr
                               ? "none (chat requests are refused; give --chat_template FILE)"
                               : loaded->chat->origin().c_str());

  EngineStackOptions engine;
  engine.threads = threads;
  engine.bf16_matmul = matmul_dtype == "bf16";
  engine.kv_cache_dtype = *kv_cache_dtype;
  SchedulerOptions& options = engine.scheduler;
  options.page_size = absl::GetFlag(FLAGS_page_size);
  options.kv_cache_bytes = absl::GetFlag(FLAGS_kv_cache_bytes);
  options.num_pages = absl::GetFlag(FLAGS_num_pages);
  options.max_num_seqs = absl::GetFlag(FLAGS_max_num_seqs);
  options.max_batched_tokens = absl::GetFlag(FLAGS_max_batched_tokens);
  options.max_waiting = absl::GetFlag(FLAGS_max_waiting);
  options.enable_prefix_caching = absl::GetFlag(FLAGS_enable_prefix_caching);
  options.max_prompt_tokens = absl::GetFlag(FLAGS_max_prompt_tokens);
  if (options.num_pages < 0) return absl::InvalidArgumentError("--num_pages must be >= 0");
  const int32_t metrics_port = absl::GetFlag(FLAGS_metrics_port);
  if (metrics_port < -1) return absl::InvalidArgumentError("--metrics_port must be >= -1");
  if (metrics_port < 0 && !absl::GetFlag(FLAGS_metrics_port_file).empty()) {
    return absl::InvalidArgumentError("--metrics_port_file needs --metrics_port >= 0");
  }
  if (absl::Status s = options.Validate(); !s.ok()) return s;

  KvServerOptions server_options;
  server_options.host = absl::GetFlag(FLAGS_host);
  server_options.port = absl::GetFlag(FLAGS_port);
  if (metrics_port >= 0) server_options.metrics = std::make_shared<Metrics>();
  server_options.metrics_port = metrics_port;
  server_options.metrics_host = absl::GetFlag(FLAGS_metrics_host);
  if (server_options.metrics_host.empty()) server_options.metrics_host = server_options.host;
  server_options.credentials = *std::move(credentials);
  server_options.auth = auth;
  server_options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  server_options.max_streams_per_connection = absl::GetFlag(FLAGS_max_streams_per_connection);
  server_options.stream_limits.max_live_streams = absl::GetFlag(FLAGS_max_live_streams);
  server_options.stream_limits.max_live_streams_per_peer =
      absl::GetFlag(FLAGS_max_live_streams_per_peer);
  const double write_timeout = absl::GetFlag(FLAGS_stream_write_timeout_seconds);
  if (!(write_timeout > 0)) {
    return absl::InvalidArgumentError("--stream_write_timeout_seconds must be > 0");
  }
  server_options.stream_limits.write_timeout = absl::Seconds(write_timeout);
  server_options.max_other_streams = absl::GetFlag(FLAGS_max_other_streams);
  server_options.http_port = absl::GetFlag(FLAGS_http_port);
  server_options.http_host = absl::GetFlag(FLAGS_http_host);
  server_options.tls_files = tls;
  if (server_options.http_port < -1) return absl::InvalidArgumentError("--http_port must be >= -1");
  if (server_options.http_port < 0 && !absl::GetFlag(FLAGS_http_port_file).empty()) {
    return absl::InvalidArgumentError("--http_port_file needs --http_port >= 0");
  }
  server_options.served_model_name = absl::GetFlag(FLAGS_served_model_name);
  if (server_options.served_model_name.empty()) {
    absl::string_view name = absl::StripSuffix(model, "/");
    if (const size_t slash = name.rfind('/'); slash != absl::string_view::npos) {
      name.remove_prefix(slash + 1);
    }
    server_options.served_model_name = name.empty() ? "kvserve" : std::string(name);
  }
  absl::StatusOr<std::unique_ptr<KvServer>> server =
      KvServer::Start(*std::move(loaded), engine, server_options);
  if (!server.ok()) return server.status();
  const SchedulerOptions& actual = (*server)->scheduler().options();
  const int64_t pages = (*server)->engine().total_pages();
  const ModelConfig& config = (*server)->engine().config();

  Log("listening on %s; model %s (%d layers, hidden %d, vocab %d, context %d); KV cache %d pages "
      "x %d tokens = %.1f MiB (%s); prefix caching %s; max_num_seqs %d, max_batched_tokens %d, "
      "max_waiting %d, threads %d, matmul %s",
      (*server)->address(), config.name, config.num_layers, config.hidden_size, config.vocab_size,
      config.max_context, pages, actual.page_size,
      static_cast<double>((*server)->engine().kv_cache_bytes()) / (1 << 20),
      std::string(FloatDtypeName(*kv_cache_dtype)), actual.enable_prefix_caching ? "on" : "off",
      actual.max_num_seqs, actual.max_batched_tokens, actual.max_waiting,
      threads > 0 ? threads : omp_get_max_threads(), matmul_dtype);

  const char* transport = "plaintext (no TLS)";
  if (tls.tls()) transport = tls.mutual() ? "mutual TLS" : "TLS";
  Log("security: %s; %s; limits: prompt %d tokens, message %d bytes, %d streams per connection, "
      "%d live streams (%d per client address; +%d health Watch/reflection), write timeout %s",
      transport, auth != nullptr ? "bearer token required" : "no auth token",
      actual.max_prompt_tokens, server_options.max_message_bytes,
      server_options.max_streams_per_connection, server_options.stream_limits.max_live_streams,
      server_options.stream_limits.max_live_streams_per_peer, server_options.max_other_streams,
      absl::FormatDuration(server_options.stream_limits.write_timeout));
  if (!tls.tls() && !IsLoopbackHost(server_options.host)) {
    Log("warning: listening on non-loopback address %s without TLS: prompts, generated text and "
        "any bearer token cross the network in plaintext (set --tls_cert/--tls_key)",
        server_options.host);
  }
  if ((*server)->metrics_port() >= 0) {
    Log("metrics at http://%s/metrics",
        JoinHostPort(server_options.metrics_host, (*server)->metrics_port()));
  }
  if ((*server)->http_port() >= 0) {
    Log("OpenAI-compatible HTTP at %s://%s/v1 (model \"%s\")", tls.tls() ? "https" : "http",
        JoinHostPort(
            server_options.http_host.empty() ? server_options.host : server_options.http_host,
            (*server)->http_port()),
        server_options.served_model_name);
  }
  // The metrics and HTTP port files first: a fixture that waits for --port_file then finds all.
  if (const std::string http_port_file = absl::GetFlag(FLAGS_http_port_file);
      !http_port_file.empty()) {
    if (absl::Status s =
            WriteFileAtomically(http_port_file, absl::StrCat((*server)->http_port(), "\n"));
        !s.ok()) {
      (*server)->Shutdown(absl::ZeroDuration());
      return s;
    }
  }
  const std::string metrics_port_file = absl::GetFlag(FLAGS_metrics_port_file);
  if (!metrics_port_file.empty()) {
    if (absl::Status s =
            WriteFileAtomically(metrics_port_file, absl::StrCat((*server)->metrics_port(), "\n"));
        !s.ok()) {
      (*server)->Shutdown(absl::ZeroDuration());
      return s;
    }
  }
  if (const std::string port_file = absl::GetFlag(FLAGS_port_file); !port_file.empty()) {
    if (absl::Status s = WriteFileAtomically(port_file, absl::StrCat((*server)->port(), "\n"));
        !s.ok()) {
      (*server)->Shutdown(absl::ZeroDuration());
      return s;
    }
  }

  const int signal_number = WaitForShutdownSignal();
  const absl::Duration drain = absl::Seconds(absl::GetFlag(FLAGS_drain_seconds));
  Log("%s: draining (up to %s), refusing new requests", ShutdownSignalName(signal_number),
      absl::FormatDuration(drain));
  // A second signal during the drain means "now": exit without waiting for the streams.
  std::thread([] {
    const int second = WaitForShutdownSignal();
    Log("%s again: exiting without draining", ShutdownSignalName(second));
    std::_Exit(1);
  }).detach();
  (*server)->Shutdown(drain);
  const SchedulerStats stats = (*server)->scheduler().stats();
  Log("stopped: %d requests finished, %d failed, %d steps, %d preemptions", stats.requests_finished,
      stats.requests_failed, stats.steps, stats.preemptions);
  return absl::OkStatus();
}

}  // namespace
}  // namespace kvserve

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "serves streaming token generation over gRPC (kvserve.v1.Generation).\n"
      "Usage: kvserve [--host 127.0.0.1] [--port 50051] [--model tiny|DIR] [--kv_cache_bytes N | "
      "--num_pages N] [--metrics_port -1|0|N] [--tls_cert F --tls_key F [--tls_client_ca F]] "
      "[--auth_token_file F] ...\nStops gracefully on SIGTERM/SIGINT; SIGHUP is logged and "
      "ignored.");
  absl::ParseCommandLine(argc, argv);
  if (absl::Status s = kvserve::Run(); !s.ok()) {
    kvserve::Log("error: %s", s.ToString());
    return 1;
  }
  return 0;
}
