// ClientChannelFactory: channels to kvserve with the clients' security flags applied, shared by
// kvctl and kvload.
//
//   --tls_ca FILE          TLS, verifying the server's certificate against these PEM CAs (and its
//                          name against the target's host); without it the channel is plaintext
//   --tls_cert/--tls_key   a client certificate and key for mutual TLS (need --tls_ca)
//   --auth_token_file F    every call carries "authorization: Bearer <token>" metadata, added by
//                          a client interceptor so that it works on plaintext channels too (gRPC
//                          call credentials are refused on insecure channels)
// Files are read and checked once, in Create (security/pem_files.h, security/bearer_token.h);
// errors name the flag and the path.
//
// Threads: immutable after Create; NewChannel may be called from any thread.
#ifndef KVSERVE_CLIENTS_CLIENT_CHANNEL_H_
#define KVSERVE_CLIENTS_CLIENT_CHANNEL_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace kvserve {

struct ClientSecurityOptions {
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string auth_token_file;
};

class ClientChannelFactory {
 public:
  // Plaintext, no token.
  ClientChannelFactory();
  static absl::StatusOr<ClientChannelFactory> Create(const ClientSecurityOptions& options);

  std::shared_ptr<grpc::Channel> NewChannel(
      const std::string& target,
      const grpc::ChannelArguments& args = grpc::ChannelArguments()) const;

  bool tls() const { return tls_; }
  bool sends_token() const { return authorization_.has_value(); }

 private:
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  bool tls_ = false;
  std::optional<std::string> authorization_;  // "Bearer <token>"
};

}  // namespace kvserve

#endif  // KVSERVE_CLIENTS_CLIENT_CHANNEL_H_
