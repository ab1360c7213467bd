// Whole JSON replies on a libevent request: a body with its status, or an error in OpenAI's shape
// (openai_response.h: ErrorBody, HttpStatusFor). Each ends the request (libevent owns it after).
//
// Threads: the front end's loop thread only, as everything that touches libevent.
#ifndef KVSERVE_SERVER_OPENAI_HTTP_REPLY_H_
#define KVSERVE_SERVER_OPENAI_HTTP_REPLY_H_

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

struct evhttp_request;

namespace kvserve::openai {

void SendJson(evhttp_request* request, int status, const nlohmann::json& body);
// HttpStatusFor(error.code()), or `status_override` when > 0 (413 for a body over the limit).
void SendError(evhttp_request* request, const absl::Status& error, int status_override = 0);

}  // namespace kvserve::openai

#endif  // KVSERVE_SERVER_OPENAI_HTTP_REPLY_H_
