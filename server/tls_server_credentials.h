// The daemon's transport security from its TLS flags.
//
//   no files              plaintext (grpc::InsecureServerCredentials)
//   cert + key            TLS: grpc::SslServerCredentials with that key pair; clients are not
//                         asked for a certificate
//   cert + key + client   mutual TLS: every client must present a certificate that chains to a
//   CA                    certificate in the client CA file, or the handshake fails
// Anything else (a key without its certificate, a client CA without a server certificate) is
// INVALID_ARGUMENT naming the flags. The files are read and checked once, here (see
// security/pem_files.h), so a bad file fails start-up with a message naming flag and path.
//
// Threads: plain function, called once at start-up.
#ifndef KVSERVE_SERVER_TLS_SERVER_CREDENTIALS_H_
#define KVSERVE_SERVER_TLS_SERVER_CREDENTIALS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"

namespace kvserve {

struct ServerTlsFiles {
  std::string cert_file;       // --tls_cert: PEM certificate chain, leaf first
  std::string key_file;        // --tls_key: its PEM private key
  std::string client_ca_file;  // --tls_client_ca: PEM CA certificates for client certificates

  bool tls() const { return !cert_file.empty() || !key_file.empty() || !client_ca_file.empty(); }
  bool mutual() const { return !client_ca_file.empty(); }
};

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsFiles& files);

}  // namespace kvserve

#endif  // KVSERVE_SERVER_TLS_SERVER_CREDENTIALS_H_
