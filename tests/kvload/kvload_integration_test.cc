// kvload against the real daemon: kvserve (micro model) on 127.0.0.1 with --port 0, the kvload
// binary run to completion with --json, and the JSON checked: every request OK with exactly the
// tokens it asked for (ignore_eos; n samples each with --n), stop strings sent (--stop) and
// chat prompts rendered (--chat), cancellations (--cancel_fraction) and aborts (--max_seconds)
// counted apart from errors, deadline errors counted by code, and the daemon's KV pages all free
// again afterwards.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "kvserve/v1/kvserve.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/integration/daemon_process.h"

namespace kvserve::load {
namespace {

using ::kvserve::testing::CommandResult;
using ::kvserve::testing::DaemonProcess;
using ::kvserve::testing::RunCommand;

class KvloadIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string http_port_file =
        ::testing::TempDir() + "/kvload_it_http_" + std::to_string(::getpid());
    absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon =
        DaemonProcess::Start(KVSERVE_BINARY,
                             {"--model=micro", "--drain_seconds=1", "--http_port=0",
                              "--http_port_file=" + http_port_file},
                             absl::Seconds(30));
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = daemon->release();
    std::ifstream in(http_port_file);
    int port = 0;
    in >> port;
    ASSERT_GT(port, 0);
    http_target_ = new std::string("127.0.0.1:" + std::to_string(port));
    std::remove(http_port_file.c_str());
  }
  static void TearDownTestSuite() {
    delete daemon_;  // SIGKILLs and reaps it if still running
    daemon_ = nullptr;
    delete http_target_;
    http_target_ = nullptr;
  }

  // Runs kvload with `flags` plus --json, expecting exit status `want_exit` (and, if not empty,
  // `want_err` in its stderr); the parsed JSON document.
  static nlohmann::json RunKvload(std::vector<std::string> flags, int want_exit = 0,
                                  const std::string& want_err = "") {
    const std::string json_path =
        ::testing::TempDir() + "/kvload_it_" + std::to_string(::getpid()) + ".json";
    flags.insert(flags.begin(), {"--target=" + daemon_->target(), "--json=" + json_path,
                                 "--max_seconds=40", "--progress=false"});
    const CommandResult run = RunCommand(KVLOAD_BINARY, flags, absl::Seconds(45));
    EXPECT_EQ(run.exit_code, want_exit) << run.err;
    EXPECT_NE(run.err.find(want_err), std::string::npos) << run.err;
    std::ifstream in(json_path);
    std::stringstream text;
    text << in.rdbuf();
    std::remove(json_path.c_str());
    std::cout << run.out;  // the summary, for the test log
    return nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  }

  // Polls GetServerInfo (bounded) until no page is in use; the last answer.
  static kvserve::v1::ServerInfo WaitForFreePages() {
    auto stub = kvserve::v1::Generation::NewStub(
        grpc::CreateChannel(daemon_->target(), grpc::InsecureChannelCredentials()));
    kvserve::v1::ServerInfo info;
    const absl::Time end = absl::Now() + absl::Seconds(5);
    while (absl::Now() < end) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      info.Clear();
      const grpc::Status status =
          stub->GetServerInfo(&context, kvserve::v1::GetServerInfoRequest(), &info);
      if (status.ok() && info.free_pages() == info.total_pages() && info.running() == 0 &&
          info.waiting() == 0) {
        break;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return info;
  }

  // `flags` for the OpenAI-compatible HTTP front end of the same daemon.
  static std::vector<std::string> OverHttp(std::vector<std::string> flags) {
    flags.push_back("--api=openai");
    flags.push_back("--http_target=" + *http_target_);
    return flags;
  }

  static DaemonProcess* daemon_;
  static std::string* http_target_;
};

DaemonProcess* KvloadIntegrationTest::daemon_ = nullptr;
std::string* KvloadIntegrationTest::http_target_ = nullptr;

const std::vector<std::string> kWorkload = {"--concurrency=16", "--num_requests=64",
                                            "--prompt_len=8:32", "--max_tokens=4:16", "--seed=1"};

TEST_F(KvloadIntegrationTest, AllRequestsOkWithRequestedTokens) {
  const nlohmann::json doc = RunKvload(kWorkload);
  ASSERT_FALSE(doc.is_discarded());
  ASSERT_EQ(doc["runs"].size(), 1u);
  const nlohmann::json& summary = doc["runs"][0]["summary"];
  EXPECT_EQ(summary["ok"], 64);
  EXPECT_EQ(summary["errors"], 0) << summary["errors_by_code"].dump();
  EXPECT_EQ(summary["cancelled"], 0);
  EXPECT_EQ(summary["aborted"], 0);
  EXPECT_EQ(summary["output_tokens"], summary["requested_tokens"]);

  const nlohmann::json& requests = doc["runs"][0]["requests"];
  ASSERT_EQ(requests.size(), 64u);
  int64_t tokens = 0, requested = 0;
  for (const nlohmann::json& r : requests) {
    EXPECT_EQ(r["status"], "OK");
    EXPECT_EQ(r["tokens"], r["max_tokens"]) << r.dump();
    EXPECT_EQ(r["usage"]["completion_tokens"], r["max_tokens"]);
    EXPECT_EQ(r["finish_reason"], 1);  // FINISH_REASON_LENGTH
    tokens += r["tokens"].get<int64_t>();
    requested += r["max_tokens"].get<int64_t>();
  }
  EXPECT_EQ(tokens, requested);
  EXPECT_GT(summary["ttft_ms"]["p50"].get<double>(), 0);
  EXPECT_GT(summary["output_throughput"].get<double>(), 0);
  EXPECT_EQ(doc["server"]["model_name"], "micro");

  const kvserve::v1::ServerInfo info = WaitForFreePages();
  EXPECT_EQ(info.free_pages(), info.total_pages());
}

TEST_F(KvloadIntegrationTest, NSamplesCountEverySamplesTokens) {
  std::vector<std::string> flags = {"--concurrency=8",  "--num_requests=16", "--prompt_len=8:16",
                                    "--max_tokens=4:8", "--seed=2",          "--n=3",
                                    "--temperature=0.8"};
  const nlohmann::json doc = RunKvload(flags);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["config"]["n"], 3);
  const nlohmann::json& summary = doc["runs"][0]["summary"];
  EXPECT_EQ(summary["ok"], 16);
  EXPECT_EQ(summary["errors"], 0) << summary["errors_by_code"].dump();
  EXPECT_EQ(summary["output_tokens"], summary["requested_tokens"]);
  for (const nlohmann::json& r : doc["runs"][0]["requests"]) {
    const int64_t max_tokens = r["max_tokens"].get<int64_t>();
    EXPECT_EQ(r["n"], 3);
    EXPECT_EQ(r["tokens"], 3 * max_tokens) << r.dump();
    EXPECT_EQ(r["sample_tokens"], nlohmann::json({max_tokens, max_tokens, max_tokens}));
    EXPECT_EQ(r["usage"]["completion_tokens"], 3 * max_tokens);
    // The prompt is counted once, whatever n.
    EXPECT_EQ(r["usage"]["prompt_tokens"], r["prompt_len"]);
  }
  const kvserve::v1::ServerInfo info = WaitForFreePages();
  EXPECT_EQ(info.free_pages(), info.total_pages());
}

TEST_F(KvloadIntegrationTest, StopStringsAreSentAndStreamsThatStopStillBalance) {
  // Text prompts; the stop strings are common bytes of the micro model's output ('\x20' is a
  // C escape that kvload decodes), so some streams end on them.
  const nlohmann::json doc =
      RunKvload({"--concurrency=8", "--num_requests=32", "--prompt_len=8:16", "--max_tokens=64",
                 "--prompt_text", "--stop=\\x20", "--stop=e", "--stop=t", "--seed=3"});
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["config"]["stop"], nlohmann::json({" ", "e", "t"}));
  const nlohmann::json& summary = doc["runs"][0]["summary"];
  EXPECT_EQ(summary["ok"], 32);
  EXPECT_EQ(summary["errors"], 0) << summary["errors_by_code"].dump();
  int stopped_early = 0;
  for (const nlohmann::json& r : doc["runs"][0]["requests"]) {
    EXPECT_EQ(r["usage"]["completion_tokens"], r["tokens"]) << r.dump();
    EXPECT_LE(r["tokens"].get<int64_t>(), 64);
    // Fewer than 64 only when a stop string ended it (STOP); a match on the last token is STOP too.
    if (r["tokens"].get<int64_t>() < 64) {
      EXPECT_EQ(r["finish_reason"], 2) << r.dump();
      ++stopped_early;
    }
  }
  EXPECT_GT(stopped_early, 0);  // the stop strings did reach the server
  const kvserve::v1::ServerInfo info = WaitForFreePages();
  EXPECT_EQ(info.free_pages(), info.total_pages());
}

TEST_F(KvloadIntegrationTest, ChatRequestsAreRenderedWithTheTemplate) {
  // Each text prompt as one user message; the preset's ChatML template adds its own tokens.
  const nlohmann::json doc = RunKvload({"--concurrency=4", "--num_requests=8", "--prompt_len=8:16",
                                        "--max_tokens=4", "--seed=4", "--chat", "--n=2"});
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["config"]["chat"], true);
  EXPECT_EQ(doc["config"]["prompt_text"], true);  // implied by --chat
  const nlohmann::json& summary = doc["runs"][0]["summary"];
  EXPECT_EQ(summary["ok"], 8);
  EXPECT_EQ(summary["errors"], 0) << summary["errors_by_code"].dump();
  for (const nlohmann::json& r : doc["runs"][0]["requests"]) {
    EXPECT_EQ(r["tokens"], 8) << r.dump();  // 2 samples of 4
    // "<|im_start|>user\n" + the message + "<|im_end|>\n<|im_start|>assistant\n", one token
    // per byte on micro: 17 + 11 + 22 bytes around the message's.
    EXPECT_EQ(r["usage"]["prompt_tokens"].get<int>(), r["prompt_len"].get<int>() + 50) << r.dump();
  }
}

TEST_F(KvloadIntegrationTest, CancelFractionCountsCancellationsNotErrors) {
  std::vector<std::string> flags = kWorkload;
  flags.push_back("--cancel_fraction=0.5");
  const nlohmann::json doc = RunKvload(flags);
  ASSERT_FALSE(doc.is_discarded());
  const nlohmann::json& summary = doc["runs"][0]["summary"];
  EXPECT_EQ(summary["errors"], 0) << summary["errors_by_code"].dump();
  EXPECT_EQ(summary["aborted"], 0);
  EXPECT_EQ(summary["ok"].get<int>() + summary["cancelled"].get<int>(), 64);
  // 32 are chosen. A chosen stream whose cancel point falls in its final message (tokens made
  // while a write was in flight are coalesced) has already ended and is not cancelled: OK.
  int chosen = 0;
  for (const nlohmann::json& r : doc["runs"][0]["requests"]) {
    if (r["cancel_after_tokens"].get<int>() >= 0) ++chosen;
  }
  EXPECT_EQ(chosen, 32);
  EXPECT_GE(summary["cancelled"].get<int>(), 8);
  EXPECT_LE(summary["cancelled"].get<int>(), chosen);
  for (const nlohmann::json& r : doc["runs"][0]["requests"]) {
    if (r["outcome"] == "cancelled") {
      EXPECT_GE(r["cancel_after_tokens"].get<int>(), 1);
      EXPECT_GE(r["tokens"], r["cancel_after_tokens"]);
      // <=, not <: the last tokens may come in a message of their own, before the one with the
      // finish reason, and the cancel can land in between (seen under TSan's slowdown).
      EXPECT_LE(r["tokens"], r["max_tokens"]);
      EXPECT_EQ(r["status"], "CANCELLED");
    } else {
      EXPECT_EQ(r["tokens"], r["max_tokens"]);
    }
  }

  const kvserve::v1::ServerInfo info = WaitForFreePages();
  EXPECT_EQ(info.free_pages(), info.total_pages());
  EXPECT_EQ(info.running(), 0);
  EXPECT_EQ(info.waiting(), 0);
}

TEST_F(KvloadIntegrationTest, DeadlinesAreErrorsByCodeAndTheRunBoundAborts) {
  // Every request needs far longer than its deadline: all DEADLINE_EXCEEDED.
  // Failed requests make kvload exit 1 and say why.
  nlohmann::json doc = RunKvload({"--concurrency=8", "--num_requests=16", "--prompt_len=8",
                                  "--max_tokens=400", "--deadline_ms=20"},
                                 1, "16 of 16 requests failed");
  ASSERT_FALSE(doc.is_discarded());
  nlohmann::json summary = doc["runs"][0]["summary"];
  EXPECT_EQ(summary["errors"], 16);
  EXPECT_EQ(summary["errors_by_code"]["DEADLINE_EXCEEDED"], 16) << summary.dump();

  // The run's hard bound cancels what is still in flight: aborted, not errors.
  // --max_failed_fraction=1 tolerates them.
  doc = RunKvload({"--concurrency=8", "--num_requests=64", "--prompt_len=8", "--max_tokens=400",
                   "--max_seconds=0.5", "--max_failed_fraction=1"});
  ASSERT_FALSE(doc.is_discarded());
  summary = doc["runs"][0]["summary"];
  EXPECT_GE(summary["aborted"].get<int>(), 1);
  EXPECT_EQ(summary["errors"], 0) << summary["errors_by_code"].dump();
  EXPECT_EQ(summary["ok"].get<int>() + summary["aborted"].get<int>(),
            summary["requests"].get<int>());

  const kvserve::v1::ServerInfo info = WaitForFreePages();
  EXPECT_EQ(info.free_pages(), info.total_pages());
  EXPECT_EQ(info.running(), 0);
  EXPECT_EQ(info.waiting(), 0);
}

// --api openai: the same workloads as SSE streams through the HTTP front end, recorded the same
// way (one token per chunk, usage from the include_usage chunk, n samples by choice index).
TEST_F(KvloadIntegrationTest, OverHttpEveryRequestIsOkWithItsTokensAndUsage) {
  std::vector<std::string> flags = kWorkload;
  flags.push_back("--n=2");
  const nlohmann::json doc = RunKvload(OverHttp(flags));
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["config"]["api"], "openai");
  const nlohmann::json& summary = doc["runs"][0]["summary"];
  EXPECT_EQ(summary["ok"], 64);
  EXPECT_EQ(summary["errors"], 0) << summary["errors_by_code"].dump();
  EXPECT_EQ(summary["output_tokens"], summary["requested_tokens"]);
  for (const nlohmann::json& r : doc["runs"][0]["requests"]) {
    EXPECT_EQ(r["status"], "OK");
    EXPECT_EQ(r["tokens"], 2 * r["max_tokens"].get<int>()) << r.dump();
    EXPECT_EQ(r["usage"]["completion_tokens"], 2 * r["max_tokens"].get<int>());
    EXPECT_EQ(r["finish_reason"], 1);  // FINISH_REASON_LENGTH
  }
  EXPECT_GT(summary["ttft_ms"]["p50"].get<double>(), 0);
  const kvserve::v1::ServerInfo info = WaitForFreePages();
  EXPECT_EQ(info.free_pages(), info.total_pages());
}

TEST_F(KvloadIntegrationTest, OverHttpChatCancelsAndDeadlinesBalance) {
  std::vector<std::string> flags = kWorkload;
  flags.push_back("--chat");
  flags.push_back("--cancel_fraction=0.5");
  const nlohmann::json doc = RunKvload(OverHttp(flags));
  ASSERT_FALSE(doc.is_discarded());
  const nlohmann::json& summary = doc["runs"][0]["summary"];
  EXPECT_EQ(summary["errors"], 0) << summary["errors_by_code"].dump();
  EXPECT_EQ(summary["ok"].get<int>() + summary["cancelled"].get<int>(), 64);
  EXPECT_GE(summary["cancelled"].get<int>(), 8);
  // A deadline far below the run's length: errors by code, as over gRPC.
  const nlohmann::json late = RunKvload(
      OverHttp({"--concurrency=8", "--num_requests=16", "--prompt_len=8", "--max_tokens=400",
                "--deadline_ms=1", "--seed=5", "--max_failed_fraction=1"}));
  ASSERT_FALSE(late.is_discarded());
  const nlohmann::json& late_summary = late["runs"][0]["summary"];
  EXPECT_EQ(late_summary["ok"].get<int>() + late_summary["errors"].get<int>(), 16);
  EXPECT_GT(late_summary["errors_by_code"].value("DEADLINE_EXCEEDED", 0), 0) << late_summary.dump();
  const kvserve::v1::ServerInfo info = WaitForFreePages();
  EXPECT_EQ(info.free_pages(), info.total_pages());
  EXPECT_EQ(info.running(), 0);
}

// The capacity-question flags together: a rate sweep over two Poisson rates with goodput against
// objectives, chosen percentiles, a JSONL dataset, warm-up requests left out, and the results kept
// with --save_result (JSON with metadata and two CSVs).
TEST_F(KvloadIntegrationTest, RateSweepWithGoodputDatasetWarmupAndSavedResults) {
  const std::string dir = ::testing::TempDir() + "/kvload_it_saved_" + std::to_string(::getpid());
  const std::string dataset = dir + ".jsonl";
  {
    std::ofstream out(dataset);
    out << "{\"prompt\": \"the cache page\", \"max_tokens\": 5}\n"
        << "{\"prompt\": \"a stream of tokens, batched\"}\n";
  }
  const nlohmann::json doc =
      RunKvload({"--rate=20,40", "--num_requests=12", "--max_tokens=3", "--dataset=" + dataset,
                 "--warmup_requests=3", "--goodput=ttft:60000,tpot:60000", "--percentiles=50,99.9",
                 "--save_result=" + dir, "--seed=2"});
  ASSERT_FALSE(doc.is_discarded());
  ASSERT_EQ(doc["runs"].size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const nlohmann::json& run = doc["runs"][i];
    EXPECT_EQ(run["rate"], i == 0 ? 20.0 : 40.0);
    const nlohmann::json& summary = run["summary"];
    EXPECT_EQ(summary["requests"], 12);  // the warm-up requests are not in the figures
    EXPECT_EQ(summary["ok"], 12) << summary.dump();
    // Entry 0 asks for 5 tokens, entry 1 takes --max_tokens 3: 6 × 5 + 6 × 3.
    EXPECT_EQ(summary["output_tokens"], 48);
    EXPECT_EQ(summary["goodput"]["good"], 12);  // generous objectives: all met
    EXPECT_DOUBLE_EQ(summary["goodput"]["fraction"].get<double>(), 1.0);
    EXPECT_GT(summary["goodput"]["request_goodput"].get<double>(), 0);
    EXPECT_TRUE(summary["ttft_ms"].contains("p99.9")) << summary["ttft_ms"].dump();
    EXPECT_TRUE(summary["ttft_ms"].contains("std"));
    EXPECT_GT(summary["input_throughput"].get<double>(), 0);
    for (const nlohmann::json& r : run["requests"]) {
      EXPECT_EQ(r["prompt_len"], r["index"].get<int>() % 2 == 0 ? 14 : 27) << r.dump();
      EXPECT_GE(r["usage"]["prompt_tokens"].get<int>(), r["prompt_len"].get<int>());
    }
  }
  // The saved files: the same document plus metadata, and CSVs with a row per run / request.
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    files.push_back(entry.path().string());
  }
  ASSERT_EQ(files.size(), 3u);
  std::sort(files.begin(), files.end());  // -requests.csv, -summary.csv, .json
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  const std::string json_path = files[2];
  ASSERT_EQ(json_path.substr(json_path.size() - 5), ".json");
  const nlohmann::json saved = nlohmann::json::parse(read(json_path), nullptr, false);
  ASSERT_FALSE(saved.is_discarded());
  EXPECT_EQ(saved["metadata"]["kvload_version"], "kvload 0.1.0");
  EXPECT_FALSE(saved["metadata"]["started_utc"].get<std::string>().empty());
  EXPECT_EQ(saved["runs"].size(), 2u);
  EXPECT_EQ(saved["server"]["model_name"], doc["server"]["model_name"]);
  const std::string requests_csv = read(files[0]);
  const std::string summary_csv = read(files[1]);
  EXPECT_EQ(std::count(requests_csv.begin(), requests_csv.end(), '\n'), 1 + 24);
  EXPECT_EQ(std::count(summary_csv.begin(), summary_csv.end(), '\n'), 1 + 2);
  EXPECT_NE(summary_csv.find("ttft_ms_p99.9"), std::string::npos);
  std::filesystem::remove_all(dir);
  std::remove(dataset.c_str());
}

// Bad flags are INVALID_ARGUMENT before anything is sent.
TEST_F(KvloadIntegrationTest, BadCapacityFlagsAreRejectedWithTheReason) {
  for (const auto& [flag, want] : std::vector<std::pair<std::string, std::string>>{
           {"--goodput=ttft:abc", "--goodput: \"ttft:abc\""},
           {"--percentiles=50,200", "--percentiles: \"200\""},
           {"--rate=2,x", "--rate: \"x\""},
           {"--dataset=/nonexistent.jsonl", "cannot read /nonexistent.jsonl"},
           {"--max_failed_fraction=2", "--max_failed_fraction must be in [0, 1]"}}) {
    const CommandResult run = RunCommand(KVLOAD_BINARY,
                                         {"--target=" + daemon_->target(), "--concurrency=1",
                                          "--num_requests=1", "--progress=false", flag},
                                         absl::Seconds(20));
    EXPECT_EQ(run.exit_code, 1) << flag;
    EXPECT_NE(run.err.find(want), std::string::npos) << flag << ": " << run.err;
  }
}

}  // namespace
}  // namespace kvserve::load
