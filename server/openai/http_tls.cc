#include "server/openai/http_tls.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "security/pem_files.h"

namespace kvserve::openai {
namespace {

std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

struct BioCloser {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioCloser>;

BioPtr MemoryBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// The chain (leaf first) and key, already checked by ReadTlsKeyPair, into `ctx`.
absl::Status UseKeyPair(SSL_CTX* ctx, const TlsKeyPair& pair) {
  BioPtr certs = MemoryBio(pair.certificate_chain_pem);
  X509* leaf = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr);
  if (leaf == nullptr || SSL_CTX_use_certificate(ctx, leaf) != 1) {
    X509_free(leaf);
    return absl::InvalidArgumentError(absl::StrCat("--tls_cert: ", OpenSslError()));
  }
  X509_free(leaf);
  while (X509* intermediate = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add0_chain_cert(ctx, intermediate) != 1) {  // takes it on success
      X509_free(intermediate);
      return absl::InvalidArgumentError(absl::StrCat("--tls_cert chain: ", OpenSslError()));
    }
  }
  ERR_clear_error();  // the end of the PEM text
  BioPtr key_bio = MemoryBio(pair.private_key_pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
  const bool used = key != nullptr && SSL_CTX_use_PrivateKey(ctx, key) == 1;
  EVP_PKEY_free(key);
  if (!used || SSL_CTX_check_private_key(ctx) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("--tls_key: ", OpenSslError()));
  }
  return absl::OkStatus();
}

// Every certificate of the client CA file becomes a trust anchor and a name the server sends in
// its CertificateRequest.
absl::Status TrustClientCas(SSL_CTX* ctx, const std::string& pem) {
  BioPtr bio = MemoryBio(pem);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int count = 0;
  while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    const bool added = X509_STORE_add_cert(store, ca) == 1 && SSL_CTX_add_client_CA(ctx, ca) == 1;
    X509_free(ca);
    if (!added)
      return absl::InvalidArgumentError(absl::StrCat("--tls_client_ca: ", OpenSslError()));
    ++count;
  }
  ERR_clear_error();
  if (count == 0) return absl::InvalidArgumentError("--tls_client_ca: no certificate");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  // Without a session id context OpenSSL refuses to resume a verified session ("internal error"
  // alert): clients that cache sessions (Node's https.Agent) would fail every second connection.
  static constexpr unsigned char kSessionContext[] = "kvserve-http";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpTlsContext>> HttpTlsContext::Create(
    const ServerTlsFiles& files) {
  if (!files.tls()) return absl::InvalidArgumentError("HTTP TLS needs --tls_cert and --tls_key");
  if (files.cert_file.empty() || files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls_cert and --tls_key (--tls_client_ca additionally requires client "
        "certificates)");
  }
  absl::StatusOr<TlsKeyPair> pair =
      ReadTlsKeyPair("--tls_cert", files.cert_file, "--tls_key", files.key_file);
  if (!pair.ok()) return pair.status();
  std::string client_ca;
  if (files.mutual()) {
    absl::StatusOr<std::string> read = ReadPemCertificates("--tls_client_ca", files.client_ca_file);
    if (!read.ok()) return read.status();
    client_ca = *std::move(read);
  }

  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return absl::InternalError(absl::StrCat("SSL_CTX_new: ", OpenSslError()));
  std::unique_ptr<HttpTlsContext> context(new HttpTlsContext(ctx, files.mutual()));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections (thousands of streams) give their read/write buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (absl::Status used = UseKeyPair(ctx, *pair); !used.ok()) return used;
  if (files.mutual()) {
    if (absl::Status trusted = TrustClientCas(ctx, client_ca); !trusted.ok()) return trusted;
  }
  return context;
}

HttpTlsContext::~HttpTlsContext() { SSL_CTX_free(ctx_); }

bufferevent* HttpTlsContext::NewConnection(event_base* base) const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) {
    ERR_clear_error();
    return nullptr;
  }
  // Takes `ssl`: BEV_OPT_CLOSE_ON_FREE frees it (and closes the fd) with the bufferevent.
  bufferevent* bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                    BEV_OPT_CLOSE_ON_FREE);
  if (bev == nullptr) {
    SSL_free(ssl);
    return nullptr;
  }
  // A client that closes without close_notify (most HTTP clients) is an ordinary EOF.
  bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  return bev;
}

}  // namespace kvserve::openai
