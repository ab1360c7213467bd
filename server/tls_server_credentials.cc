#include "server/tls_server_credentials.h"

#include <utility>

#include "grpcpp/security/server_credentials.h"
#include "security/pem_files.h"

namespace kvserve {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsFiles& files) {
  if (!files.tls()) return grpc::InsecureServerCredentials();
  if (files.cert_file.empty() || files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls_cert and --tls_key (--tls_client_ca additionally requires client "
        "certificates)");
  }
  absl::StatusOr<TlsKeyPair> pair =
      ReadTlsKeyPair("--tls_cert", files.cert_file, "--tls_key", files.key_file);
  if (!pair.ok()) return pair.status();

  grpc::SslServerCredentialsOptions options(
      files.mutual() ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                     : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (files.mutual()) {
    absl::StatusOr<std::string> client_ca =
        ReadPemCertificates("--tls_client_ca", files.client_ca_file);
    if (!client_ca.ok()) return client_ca.status();
    options.pem_root_certs = *std::move(client_ca);
  }
  options.pem_key_cert_pairs.push_back(
      {std::move(pair->private_key_pem), std::move(pair->certificate_chain_pem)});
  return grpc::SslServerCredentials(options);
}

}  // namespace kvserve
