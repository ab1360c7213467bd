// TLS, mutual TLS and bearer-token auth on an in-process KvServer (micro model), with the clients'
// ClientChannelFactory, against certificates made by openssl at test time.
#include <memory>
#include <string>

#include "clients/client_channel.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "security/bearer_token.h"
#include "server/kv_server.h"
#include "server/tls_server_credentials.h"
#include "tests/security/test_pki.h"
#include "tests/server/generate_client.h"
#include "tests/server/in_process_server.h"

namespace kvserve {
namespace {

using ::kvserve::testing::GetInfo;
using ::kvserve::testing::RunGenerate;
using ::kvserve::testing::StartInProcessServer;
using ::kvserve::testing::StreamResult;
using ::kvserve::testing::TestPki;
using ::kvserve::testing::TextRequest;
using ::kvserve::testing::WriteTestFile;
using ::testing::HasSubstr;

constexpr char kToken[] = "test-token-0123456789";

class SecureServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<TestPki> pki = kvserve::testing::MakeTestPki();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = new TestPki(*std::move(pki));
    token_file_ = new std::string(WriteTestFile(pki_->dir, "token", std::string(kToken) + "\n"));
    wrong_token_file_ = new std::string(WriteTestFile(pki_->dir, "wrong_token", "nope\n"));
  }
  static void TearDownTestSuite() {
    if (pki_ != nullptr) kvserve::testing::RemoveTestPki(*pki_);
    delete pki_;
    delete token_file_;
    delete wrong_token_file_;
    pki_ = nullptr;
  }

  // Starts the server with TLS files (none: plaintext) and, if `auth`, the bearer token.
  void Start(const ServerTlsFiles& tls, bool auth) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
        MakeServerCredentials(tls);
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    KvServerOptions options{.credentials = *credentials};
    if (auth) {
      absl::StatusOr<BearerTokenVerifier> verifier = BearerTokenVerifier::Create(kToken);
      ASSERT_TRUE(verifier.ok());
      options.auth = std::make_shared<const BearerTokenVerifier>(*std::move(verifier));
    }
    SchedulerOptions scheduler;
    scheduler.num_pages = 128;
    server_ = StartInProcessServer("micro", scheduler, options);
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(2), absl::Seconds(2));
  }

  // A stub over a channel from the client factory for `options`; each gets its own connection.
  std::unique_ptr<v1::Generation::Stub> Client(const ClientSecurityOptions& options) {
    absl::StatusOr<ClientChannelFactory> factory = ClientChannelFactory::Create(options);
    EXPECT_TRUE(factory.ok()) << factory.status();
    if (!factory.ok()) return nullptr;
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channel_ = factory->NewChannel(server_->address(), args);
    return v1::Generation::NewStub(channel_);
  }

  // The status of a short Generate through `stub`; on OK, checks it streamed in full.
  static grpc::Status Generate(v1::Generation::Stub& stub) {
    const StreamResult r = RunGenerate(stub, TextRequest("secure", 6), absl::Seconds(10));
    if (r.status.ok()) {
      EXPECT_EQ(r.tokens.size(), 6u);
    }
    return r.status;
  }

  static TestPki* pki_;
  static std::string* token_file_;
  static std::string* wrong_token_file_;
  std::unique_ptr<KvServer> server_;
  std::shared_ptr<grpc::Channel> channel_;  // the last Client()'s
};
TestPki* SecureServerTest::pki_ = nullptr;
std::string* SecureServerTest::token_file_ = nullptr;
std::string* SecureServerTest::wrong_token_file_ = nullptr;

TEST_F(SecureServerTest, TlsServesClientsThatVerifyItAndNothingElse) {
  Start({.cert_file = pki_->server_cert, .key_file = pki_->server_key}, /*auth=*/false);
  auto verified = Client({.tls_ca_file = pki_->ca_cert});
  EXPECT_TRUE(Generate(*verified).ok());
  // No client certificate was asked for, so presenting one is fine too.
  auto with_cert = Client({.tls_ca_file = pki_->ca_cert,
                           .tls_cert_file = pki_->client_cert,
                           .tls_key_file = pki_->client_key});
  EXPECT_TRUE(Generate(*with_cert).ok());

  auto plaintext = Client({});
  EXPECT_EQ(Generate(*plaintext).error_code(), grpc::StatusCode::UNAVAILABLE);
  auto wrong_ca = Client({.tls_ca_file = pki_->other_ca_cert});
  EXPECT_EQ(Generate(*wrong_ca).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GetInfo(*verified).requests_finished(), 2);
}

TEST_F(SecureServerTest, MutualTlsRequiresAClientCertificateFromTheClientCa) {
  Start({.cert_file = pki_->server_cert,
         .key_file = pki_->server_key,
         .client_ca_file = pki_->ca_cert},
        /*auth=*/false);
  auto good = Client({.tls_ca_file = pki_->ca_cert,
                      .tls_cert_file = pki_->client_cert,
                      .tls_key_file = pki_->client_key});
  EXPECT_TRUE(Generate(*good).ok());

  auto no_cert = Client({.tls_ca_file = pki_->ca_cert});
  EXPECT_EQ(Generate(*no_cert).error_code(), grpc::StatusCode::UNAVAILABLE);
  auto stranger = Client({.tls_ca_file = pki_->ca_cert,
                          .tls_cert_file = pki_->other_client_cert,
                          .tls_key_file = pki_->other_client_key});
  EXPECT_EQ(Generate(*stranger).error_code(), grpc::StatusCode::UNAVAILABLE);
  auto plaintext = Client({});
  EXPECT_EQ(Generate(*plaintext).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GetInfo(*good).requests_finished(), 1);
}

// Every RPC but health needs the token, on a plaintext port (where gRPC's AuthMetadataProcessor
// would not run).
TEST_F(SecureServerTest, BearerTokenGuardsEveryRpcButHealthWithoutTls) {
  Start({}, /*auth=*/true);
  auto anonymous = Client({});
  const grpc::Status generate = Generate(*anonymous);
  EXPECT_EQ(generate.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(generate.error_message(), HasSubstr("missing credentials"));
  {
    grpc::ClientContext context;
    v1::ServerInfo info;
    const grpc::Status s = anonymous->GetServerInfo(&context, v1::GetServerInfoRequest(), &info);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(info.model_name(), "");  // nothing leaked
  }
  // Health (exempt) and server reflection (guarded by the interceptor alone) are checked against
  // the daemon in tests/integration/security_integration_test.cc: this binary links the server's
  // reflection protos, which clash with a generated reflection client.

  auto wrong = Client({.auth_token_file = *wrong_token_file_});
  const grpc::Status wrong_status = Generate(*wrong);
  EXPECT_EQ(wrong_status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(wrong_status.error_message(), HasSubstr("invalid bearer token"));

  auto authorized = Client({.auth_token_file = *token_file_});
  EXPECT_TRUE(Generate(*authorized).ok());
  // The refused streams never reached the scheduler.
  const v1::ServerInfo info = GetInfo(*authorized);
  EXPECT_EQ(info.requests_finished(), 1);
  EXPECT_EQ(server_->scheduler().stats().requests_failed, 0);
}

TEST_F(SecureServerTest, BearerTokenAndMutualTlsTogether) {
  Start({.cert_file = pki_->server_cert,
         .key_file = pki_->server_key,
         .client_ca_file = pki_->ca_cert},
        /*auth=*/true);
  const ClientSecurityOptions mtls{.tls_ca_file = pki_->ca_cert,
                                   .tls_cert_file = pki_->client_cert,
                                   .tls_key_file = pki_->client_key};
  auto cert_only = Client(mtls);
  EXPECT_EQ(Generate(*cert_only).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ClientSecurityOptions both = mtls;
  both.auth_token_file = *token_file_;
  auto full = Client(both);
  EXPECT_TRUE(Generate(*full).ok());
}

TEST_F(SecureServerTest, HalfConfiguredTlsIsRefusedOnBothSides) {
  EXPECT_EQ(MakeServerCredentials({.cert_file = pki_->server_cert}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeServerCredentials({.key_file = pki_->server_key}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeServerCredentials({.client_ca_file = pki_->ca_cert}).status().code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status bad_ca = MakeServerCredentials({.cert_file = pki_->server_cert,
                                                     .key_file = pki_->server_key,
                                                     .client_ca_file = pki_->server_key})
                                  .status();
  EXPECT_THAT(std::string(bad_ca.message()), HasSubstr("--tls_client_ca"));

  const absl::Status no_ca = ClientChannelFactory::Create({.tls_cert_file = pki_->client_cert,
                                                           .tls_key_file = pki_->client_key})
                                 .status();
  EXPECT_EQ(no_ca.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(no_ca.message()), HasSubstr("--tls_ca"));
  EXPECT_EQ(ClientChannelFactory::Create(
                {.tls_ca_file = pki_->ca_cert, .tls_cert_file = pki_->client_cert})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status no_token =
      ClientChannelFactory::Create({.auth_token_file = pki_->dir + "/no_token"}).status();
  EXPECT_EQ(no_token.code(), absl::StatusCode::kNotFound);
}

TEST(LoopbackHostTest, OnlyLoopbackAddressesCount) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "[::]", "10.0.0.1", "192.168.1.1", "128.0.0.1",
                           "127.0.0.256", "127.0.0", "127.0.0.1.5", "example.com", "", "[::1"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

}  // namespace
}  // namespace kvserve
