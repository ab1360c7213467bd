// HttpTlsContext: TLS for the HTTP front end from the daemon's TLS files (the same --tls_cert,
// --tls_key and --tls_client_ca as the gRPC port, see tls_server_credentials.h), as an OpenSSL
// SSL_CTX that libevent's bufferevent_openssl wraps around every accepted connection.
//
//   cert + key            TLS 1.2 or 1.3; clients are not asked for a certificate
//   cert + key + client   mutual TLS: a client without a certificate that chains to the client
//   CA                    CA file fails the handshake (no HTTP reply at all, as on gRPC)
// The files are read and checked by security/pem_files.h, so a bad file fails start-up with the
// same message naming the flag and path as the gRPC port's.
//
// Threads: Create() once at start-up; NewConnection() on the front end's loop thread (libevent's
// bufferevent callback). The SSL_CTX is not modified after Create(), so it may be shared.
#ifndef KVSERVE_SERVER_OPENAI_HTTP_TLS_H_
#define KVSERVE_SERVER_OPENAI_HTTP_TLS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "server/tls_server_credentials.h"

struct ssl_ctx_st;
struct event_base;
struct bufferevent;

namespace kvserve::openai {

class HttpTlsContext {
 public:
  // INVALID_ARGUMENT / NOT_FOUND as MakeServerCredentials for files that are missing, unreadable or
  // do not match; INVALID_ARGUMENT without any TLS file (plaintext needs no context).
  static absl::StatusOr<std::unique_ptr<HttpTlsContext>> Create(const ServerTlsFiles& files);
  HttpTlsContext(const HttpTlsContext&) = delete;
  HttpTlsContext& operator=(const HttpTlsContext&) = delete;
  ~HttpTlsContext();

  // A server-side TLS bufferevent for a connection evhttp is about to accept (its fd is set by
  // evhttp). nullptr if OpenSSL cannot make one; evhttp then drops the connection.
  bufferevent* NewConnection(event_base* base) const;

  bool mutual() const { return mutual_; }

 private:
  HttpTlsContext(ssl_ctx_st* ctx, bool mutual) : ctx_(ctx), mutual_(mutual) {}

  ssl_ctx_st* const ctx_;
  const bool mutual_;
};

}  // namespace kvserve::openai

#endif  // KVSERVE_SERVER_OPENAI_HTTP_TLS_H_
