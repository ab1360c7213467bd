// The daemon's security flags end to end: TLS, mutual TLS and --auth_token_file through kvctl,
// kvload and plain gRPC channels (health exempt, reflection guarded); clear start-up errors for
// bad files and bounds; the warning for a non-loopback plaintext bind; the limit flags.
// Certificates are made by openssl at test time (tests/security/test_pki.h).
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "clients/client_channel.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "kvserve/v1/kvserve.grpc.pb.h"
#include "tests/integration/daemon_process.h"
#include "tests/integration/daemon_test.h"
#include "tests/integration/reflection_client.h"
#include "tests/security/test_pki.h"
#include "tests/server/generate_client.h"

namespace kvserve::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kToken[] = "integration-token-9f8e7d";

class SecurityIntegrationTest : public DaemonTest {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<TestPki> pki = MakeTestPki();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = new TestPki(*std::move(pki));
    token_file_ = new std::string(WriteTestFile(pki_->dir, "token", std::string(kToken) + "\n"));
  }
  static void TearDownTestSuite() {
    if (pki_ != nullptr) RemoveTestPki(*pki_);
    delete pki_;
    delete token_file_;
    pki_ = nullptr;
  }
  // The micro model, whatever the flags; stub_ is plaintext (useless against a TLS daemon).
  void StartMicroDaemon(const std::vector<std::string>& flags) {
    std::vector<std::string> all = {"--model=micro", "--num_pages=64"};
    all.insert(all.end(), flags.begin(), flags.end());
    StartDaemon(all);
  }

  std::vector<std::string> MutualTlsServerFlags() const {
    return {"--tls_cert=" + pki_->server_cert, "--tls_key=" + pki_->server_key,
            "--tls_client_ca=" + pki_->ca_cert};
  }
  std::vector<std::string> MutualTlsClientFlags() const {
    return {"--tls_ca=" + pki_->ca_cert, "--tls_cert=" + pki_->client_cert,
            "--tls_key=" + pki_->client_key};
  }

  std::shared_ptr<grpc::Channel> Channel(const ClientSecurityOptions& options) {
    absl::StatusOr<ClientChannelFactory> factory = ClientChannelFactory::Create(options);
    EXPECT_TRUE(factory.ok()) << factory.status();
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    return factory.ok() ? factory->NewChannel(daemon_->target(), args) : nullptr;
  }

  CommandResult Kvctl(std::vector<std::string> args) {
    args.push_back("--target=" + daemon_->target());
    args.push_back("--timeout_ms=10000");
    return RunCommand(KVCTL_BINARY, args, absl::Seconds(20));
  }

  static TestPki* pki_;
  static std::string* token_file_;
};
TestPki* SecurityIntegrationTest::pki_ = nullptr;
std::string* SecurityIntegrationTest::token_file_ = nullptr;

TEST_F(SecurityIntegrationTest, MutualTlsAndTokenThroughKvctlAndKvload) {
  std::vector<std::string> flags = MutualTlsServerFlags();
  flags.push_back("--auth_token_file=" + *token_file_);
  ASSERT_NO_FATAL_FAILURE(StartMicroDaemon(flags));
  std::vector<std::string> client = MutualTlsClientFlags();
  client.push_back("--auth_token_file=" + *token_file_);

  std::vector<std::string> generate = {"generate", "Hello", "--max_tokens=6", "--ignore_eos"};
  generate.insert(generate.end(), client.begin(), client.end());
  const CommandResult ok = Kvctl(generate);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.err, HasSubstr("prompt_tokens=5 completion_tokens=6"));

  const CommandResult plaintext = Kvctl({"info", "--auth_token_file=" + *token_file_});
  EXPECT_EQ(plaintext.exit_code, 1);
  EXPECT_THAT(plaintext.err, HasSubstr("UNAVAILABLE"));
  const CommandResult no_client_cert =
      Kvctl({"info", "--tls_ca=" + pki_->ca_cert, "--auth_token_file=" + *token_file_});
  EXPECT_EQ(no_client_cert.exit_code, 1);
  EXPECT_THAT(no_client_cert.err, HasSubstr("UNAVAILABLE"));
  std::vector<std::string> no_token = {"info"};
  no_token.insert(no_token.end(), client.begin(), client.end() - 1);
  const CommandResult unauthenticated = Kvctl(no_token);
  EXPECT_EQ(unauthenticated.exit_code, 1);
  EXPECT_THAT(unauthenticated.err, HasSubstr("UNAUTHENTICATED: missing credentials"));
  const std::string wrong_token = WriteTestFile(pki_->dir, "wrong", "integration-token-9f8e7e");
  no_token.push_back("--auth_token_file=" + wrong_token);
  const CommandResult wrong = Kvctl(no_token);
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.err, HasSubstr("UNAUTHENTICATED: invalid bearer token"));

  std::vector<std::string> load = {"--target=" + daemon_->target(),
                                   "--concurrency=2",
                                   "--num_requests=4",
                                   "--max_tokens=4",
                                   "--prompt_len=8",
                                   "--progress=false",
                                   "--max_seconds=20"};
  load.insert(load.end(), client.begin(), client.end());
  const CommandResult kvload = RunCommand(KVLOAD_BINARY, load, absl::Seconds(30));
  EXPECT_EQ(kvload.exit_code, 0) << kvload.err;

  // The daemon said what it runs with, and never wrote the token anywhere.
  const std::string log = daemon_->Stderr();
  EXPECT_THAT(log, HasSubstr("security: mutual TLS; bearer token required"));
  EXPECT_THAT(log, Not(HasSubstr(kToken)));
  EXPECT_THAT(log, Not(HasSubstr("warning")));
}

TEST_F(SecurityIntegrationTest, TokenGuardsReflectionButNotHealthOnPlaintext) {
  ASSERT_NO_FATAL_FAILURE(StartMicroDaemon({"--auth_token_file=" + *token_file_}));
  auto anonymous = Channel({});
  {
    auto health = grpc::health::v1::Health::NewStub(anonymous);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status s =
        health->Check(&context, grpc::health::v1::HealthCheckRequest(), &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  // Reflection (grpc++'s implementation, guarded by the interceptor only): nothing comes back.
  std::vector<std::string> services;
  const grpc::Status refused = ListServices(anonymous, &services);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED) << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr("missing credentials"));
  EXPECT_TRUE(services.empty());
  const grpc::Status allowed = ListServices(Channel({.auth_token_file = *token_file_}), &services);
  EXPECT_TRUE(allowed.ok()) << allowed.error_message();
  EXPECT_GE(services.size(), 2u);

  auto stub = v1::Generation::NewStub(anonymous);
  const StreamResult generate = RunGenerate(*stub, TextRequest("no token", 4), absl::Seconds(10));
  EXPECT_EQ(generate.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto authorized = v1::Generation::NewStub(Channel({.auth_token_file = *token_file_}));
  EXPECT_TRUE(RunGenerate(*authorized, TextRequest("token", 4), absl::Seconds(10)).status.ok());
  EXPECT_EQ(GetInfo(*authorized).requests_finished(), 1);
}

TEST_F(SecurityIntegrationTest, BadSecurityFilesAndBoundsFailStartUpClearly) {
  const std::string empty_token = WriteTestFile(pki_->dir, "empty_token", "\n");
  const std::string garbage = WriteTestFile(pki_->dir, "garbage.pem", "not pem\n");
  const std::string missing = pki_->dir + "/missing.pem";
  struct Case {
    std::vector<std::string> flags;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"--tls_cert=" + missing, "--tls_key=" + pki_->server_key},
       "--tls_cert '" + missing + "': cannot be opened"},
      {{"--tls_cert=" + garbage, "--tls_key=" + pki_->server_key},
       "--tls_cert '" + garbage + "': no PEM certificate"},
      {{"--tls_cert=" + pki_->server_cert, "--tls_key=" + pki_->client_key},
       "is not the private key of the certificate"},
      {{"--tls_cert=" + pki_->server_cert}, "TLS needs both --tls_cert and --tls_key"},
      {{"--tls_client_ca=" + pki_->ca_cert}, "TLS needs both --tls_cert and --tls_key"},
      {{"--tls_cert=" + pki_->server_cert, "--tls_key=" + pki_->server_key,
        "--tls_client_ca=" + garbage},
       "--tls_client_ca '" + garbage + "'"},
      {{"--auth_token_file=" + empty_token}, "the bearer token is empty"},
      {{"--auth_token_file=" + missing}, "auth token file '" + missing + "': cannot be opened"},
      {{"--max_prompt_tokens=513"}, "max_prompt_tokens 513 is more than the model's context"},
      {{"--max_prompt_tokens=-1"}, "max_prompt_tokens must be >= 0"},
      {{"--max_message_bytes=0"}, "max_message_bytes must be > 0"},
      {{"--max_streams_per_connection=0"}, "max_streams_per_connection must be > 0"},
      {{"--weights_dtype=fp8"}, "--weights_dtype must be auto, f32, bf16 or f16, got 'fp8'"},
      {{"--kv_cache_dtype=f8"}, "--kv_cache_dtype must be f32, bf16 or f16, got 'f8'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expected);
    std::vector<std::string> args = {"--model=micro", "--num_pages=16", "--port=0"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    const CommandResult r = RunCommand(KVSERVE_BINARY, args, absl::Seconds(30));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("error: "));
    EXPECT_THAT(r.err, HasSubstr(c.expected));
  }
  // Clients check their files the same way before connecting.
  const CommandResult kvctl =
      RunCommand(KVCTL_BINARY, {"info", "--tls_ca=" + garbage}, absl::Seconds(20));
  EXPECT_EQ(kvctl.exit_code, 2);
  EXPECT_THAT(kvctl.err, HasSubstr("--tls_ca '" + garbage + "': no PEM certificate"));
  const CommandResult kvload = RunCommand(
      KVLOAD_BINARY, {"--auth_token_file=" + empty_token, "--concurrency=1", "--num_requests=1"},
      absl::Seconds(20));
  EXPECT_EQ(kvload.exit_code, 1);
  EXPECT_THAT(kvload.err, HasSubstr("the bearer token is empty"));
}

TEST_F(SecurityIntegrationTest, PlaintextOnANonLoopbackAddressLogsAWarning) {
  // The token keeps this briefly exposed daemon closed to others.
  ASSERT_NO_FATAL_FAILURE(
      StartMicroDaemon({"--host=0.0.0.0", "--auth_token_file=" + *token_file_}));
  EXPECT_THAT(daemon_->Stderr(),
              HasSubstr("warning: listening on non-loopback address 0.0.0.0 without TLS"));
  daemon_.reset();
  ASSERT_NO_FATAL_FAILURE(
      StartMicroDaemon({"--host=0.0.0.0", "--auth_token_file=" + *token_file_,
                        "--tls_cert=" + pki_->server_cert, "--tls_key=" + pki_->server_key}));
  EXPECT_THAT(daemon_->Stderr(), Not(HasSubstr("warning")));
  daemon_.reset();
  ASSERT_NO_FATAL_FAILURE(StartMicroDaemon({}));  // the default bind, 127.0.0.1
  EXPECT_THAT(daemon_->Stderr(), Not(HasSubstr("warning")));
}

TEST_F(SecurityIntegrationTest, LimitFlagsReachTheServer) {
  ASSERT_NO_FATAL_FAILURE(StartMicroDaemon(
      {"--max_prompt_tokens=16", "--max_message_bytes=2048", "--max_streams_per_connection=4"}));
  EXPECT_THAT(daemon_->Stderr(),
              HasSubstr("limits: prompt 16 tokens, message 2048 bytes, 4 streams per connection"));
  const StreamResult long_prompt =
      RunGenerate(*stub_, TextRequest(std::string(17, 'p'), 4), absl::Seconds(10));
  EXPECT_EQ(long_prompt.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(long_prompt.status.error_message(), StartsWith("prompt has 17 tokens"));
  const StreamResult big =
      RunGenerate(*stub_, TextRequest(std::string(4096, 'p'), 4), absl::Seconds(10));
  EXPECT_EQ(big.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const StreamResult fits =
      RunGenerate(*stub_, TextRequest(std::string(16, 'p'), 4), absl::Seconds(10));
  EXPECT_TRUE(fits.status.ok()) << fits.status.error_message();
}

}  // namespace
}  // namespace kvserve::testing
