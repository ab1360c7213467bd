#include "clients/client_channel.h"

#include <utility>
#include <vector>

#include "grpcpp/security/credentials.h"
#include "grpcpp/support/client_interceptor.h"
#include "security/bearer_token.h"
#include "security/pem_files.h"

namespace kvserve {
namespace {

// Adds the authorization metadata to every call's initial metadata.
class BearerTokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit BearerTokenInterceptor(const std::string* authorization)
      : authorization_(authorization) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace(kAuthorizationMetadataKey, *authorization_);
    }
    methods->Proceed();
  }

 private:
  const std::string* const authorization_;  // owned by the factory, which the channel keeps
};

class BearerTokenInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerTokenInterceptorFactory(std::shared_ptr<const std::string> authorization)
      : authorization_(std::move(authorization)) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* /*info*/) override {
    return new BearerTokenInterceptor(authorization_.get());
  }

 private:
  const std::shared_ptr<const std::string> authorization_;
};

}  // namespace

ClientChannelFactory::ClientChannelFactory() : credentials_(grpc::InsecureChannelCredentials()) {}

absl::StatusOr<ClientChannelFactory> ClientChannelFactory::Create(
    const ClientSecurityOptions& options) {
  ClientChannelFactory factory;
  const bool has_cert = !options.tls_cert_file.empty() || !options.tls_key_file.empty();
  if (has_cert && options.tls_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert/--tls_key need --tls_ca (the CA that signed the server's certificate)");
  }
  if (!options.tls_ca_file.empty()) {
    grpc::SslCredentialsOptions ssl;
    absl::StatusOr<std::string> ca = ReadPemCertificates("--tls_ca", options.tls_ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
    if (has_cert) {
      if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
        return absl::InvalidArgumentError(
            "a client certificate needs both --tls_cert and --tls_key");
      }
      absl::StatusOr<TlsKeyPair> pair =
          ReadTlsKeyPair("--tls_cert", options.tls_cert_file, "--tls_key", options.tls_key_file);
      if (!pair.ok()) return pair.status();
      ssl.pem_cert_chain = std::move(pair->certificate_chain_pem);
      ssl.pem_private_key = std::move(pair->private_key_pem);
    }
    factory.credentials_ = grpc::SslCredentials(ssl);
    factory.tls_ = true;
  }
  if (!options.auth_token_file.empty()) {
    absl::StatusOr<std::string> token = ReadBearerTokenFile(options.auth_token_file);
    if (!token.ok()) return token.status();
    factory.authorization_ = BearerAuthorizationValue(*token);
  }
  return factory;
}

std::shared_ptr<grpc::Channel> ClientChannelFactory::NewChannel(
    const std::string& target, const grpc::ChannelArguments& args) const {
  if (!authorization_.has_value()) return grpc::CreateCustomChannel(target, credentials_, args);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<BearerTokenInterceptorFactory>(
      std::make_shared<const std::string>(*authorization_)));
  return grpc::experimental::CreateCustomChannelWithInterceptors(target, credentials_, args,
                                                                 std::move(factories));
}

}  // namespace kvserve
