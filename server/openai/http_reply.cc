#include "server/openai/http_reply.h"

#include <event2/buffer.h>
#include <event2/http.h>

#include <string>

#include "server/openai/openai_response.h"

namespace kvserve::openai {

void SendJson(evhttp_request* request, int status, const nlohmann::json& body) {
  evhttp_add_header(evhttp_request_get_output_headers(request), "Content-Type", "application/json");
  evbuffer* buffer = evbuffer_new();
  const std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  evbuffer_add(buffer, text.data(), text.size());
  evhttp_send_reply(request, status, nullptr, buffer);
  evbuffer_free(buffer);
}

void SendError(evhttp_request* request, const absl::Status& error, int status_override) {
  SendJson(request, status_override > 0 ? status_override : HttpStatusFor(error.code()),
           ErrorBody(error));
}

}  // namespace kvserve::openai
