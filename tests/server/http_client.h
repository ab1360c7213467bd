// Test helper: a minimal blocking HTTP/1.1 client over a TCP socket to 127.0.0.1, so the tests of
// the HTTP front end control every byte (partial headers, bad UTF-8, hanging up mid-stream). A
// reply is read to the end of the connection (requests say "Connection: close"); a chunked body
// is reassembled. The real-client tests (curl, the openai npm package) are in tests/integration.
//
// Threads: each call blocks the calling thread; use one socket per thread.
#ifndef KVSERVE_TESTS_SERVER_HTTP_CLIENT_H_
#define KVSERVE_TESTS_SERVER_HTTP_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

namespace kvserve::testing {

struct HttpReply {
  int status = 0;    // 0: no reply (connection failed or closed first)
  std::string head;  // status line and headers
  std::string body;  // de-chunked
  bool chunked = false;
  bool HasHeader(absl::string_view line) const {
    return absl::StrContains(absl::AsciiStrToLower(head), absl::AsciiStrToLower(line));
  }
};

// A connected socket with a receive timeout, or -1.
inline int ConnectLocal(int port, absl::Duration timeout = absl::Seconds(30)) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  const timeval tv = absl::ToTimeval(timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

inline bool SendAll(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

inline std::string RequestBytes(absl::string_view method, absl::string_view path,
                                absl::string_view body,
                                const std::vector<std::string>& headers = {}) {
  std::string out =
      absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n", "Connection: close\r\n");
  for (const std::string& h : headers) absl::StrAppend(&out, h, "\r\n");
  if (method == "POST") {
    absl::StrAppend(&out, "Content-Type: application/json\r\nContent-Length: ", body.size(),
                    "\r\n");
  }
  absl::StrAppend(&out, "\r\n", body);
  return out;
}

// Splits raw reply bytes into status, head and (de-chunked) body.
inline HttpReply ParseReply(const std::string& raw) {
  HttpReply reply;
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || !absl::StartsWith(raw, "HTTP/1.")) return reply;
  reply.head = raw.substr(0, end);
  if (raw.size() > 12) (void)absl::SimpleAtoi(absl::string_view(raw).substr(9, 3), &reply.status);
  absl::string_view rest = absl::string_view(raw).substr(end + 4);
  reply.chunked = reply.HasHeader("transfer-encoding: chunked");
  if (!reply.chunked) {
    reply.body = std::string(rest);
    return reply;
  }
  while (!rest.empty()) {
    const size_t eol = rest.find("\r\n");
    if (eol == absl::string_view::npos) break;
    const size_t size = std::strtoul(std::string(rest.substr(0, eol)).c_str(), nullptr, 16);
    rest.remove_prefix(eol + 2);
    if (size == 0 || rest.size() < size) break;
    reply.body.append(rest.data(), size);
    rest.remove_prefix(std::min(rest.size(), size + 2));
  }
  return reply;
}

// Reads until the server closes the connection (or the timeout).
inline std::string ReadToClose(int fd) {
  std::string raw;
  char buffer[16384];
  while (true) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    raw.append(buffer, static_cast<size_t>(n));
  }
  return raw;
}

inline HttpReply HttpCall(int port, absl::string_view method, absl::string_view path,
                          absl::string_view body = "",
                          const std::vector<std::string>& headers = {}) {
  const int fd = ConnectLocal(port);
  if (fd < 0) return {};
  SendAll(fd, RequestBytes(method, path, body, headers));
  const std::string raw = ReadToClose(fd);
  close(fd);
  return ParseReply(raw);
}

// The `data:` payloads of an SSE body, in order.
inline std::vector<std::string> SseData(absl::string_view body) {
  std::vector<std::string> out;
  for (absl::string_view event : absl::StrSplit(body, "\n\n", absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&event, "data: ")) out.emplace_back(std::string(event));
  }
  return out;
}

}  // namespace kvserve::testing

#endif  // KVSERVE_TESTS_SERVER_HTTP_CLIENT_H_
