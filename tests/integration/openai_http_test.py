#!/usr/bin/python3
"""The HTTP front end of the real daemon, driven by clients nobody here wrote.

Usage: openai_http_test.py KVSERVE OPENAI_NODE_MODULES_DIR PY_STUBS CLIENTS_PYTHON SOURCE_DIR

Starts kvserve with --http_port 0 twice, on the embedded model and on a test checkpoint
(tests/checkpoint/make_checkpoints.py's llama_f32) with a real chat template from
tests/chat/templates, and checks for each:
  * the official `openai` npm client (tests/integration/openai/openai_client_run.mjs) streams a
    chat completion and a completion, and their greedy text equals the non-streamed reply's;
    finish reasons, usage, the models list, and its errors for an unknown model (404) and a bad
    max_tokens (400);
  * curl: an SSE stream ends with `data: [DONE]`, malformed JSON is a 400 in OpenAI's error shape,
    a body over the limit is a 413; a client that hangs up mid-stream leaves no page in use (the
    gRPC ServerInfo) and the server serving.
Then a third daemon with mutual TLS and a bearer token (certificates made by openssl): the openai
client over https with its certificate, curl with and without token or certificate, plaintext
refused, a TLS client that hangs up mid-stream frees its pages, and the HTTP replies and refusals
in the Prometheus metrics.
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

KVSERVE, NODE_MODULES, PY_STUBS, CLIENTS_PY, SOURCE = sys.argv[1:6]
sys.path[:0] = [PY_STUBS, CLIENTS_PY, os.path.dirname(os.path.abspath(__file__))]
from kvserve_client import KvserveClient  # noqa: E402
from test_daemons import wait_for  # noqa: E402

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


class Daemon:
    def __init__(self, tmp, name, args, scheme="http"):
        self.log_path = os.path.join(tmp, name + ".log")
        port_file = os.path.join(tmp, name + ".port")
        http_file = os.path.join(tmp, name + ".http")
        metrics_file = os.path.join(tmp, name + ".metrics")
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [KVSERVE, "--host", "127.0.0.1", "--port", "0", "--port_file", port_file,
                 "--http_port", "0", "--http_port_file", http_file, "--metrics_port", "0",
                 "--metrics_port_file", metrics_file, "--threads", "1", "--drain_seconds", "1",
                 *args], stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(port_file), name + " did not start", self.process,
                 self.log_path, timeout=60)
        self.grpc = "127.0.0.1:" + open(port_file).read().strip()
        self.http_port = int(open(http_file).read().strip())
        self.http = "%s://127.0.0.1:%d" % (scheme, self.http_port)
        self.metrics = "http://127.0.0.1:%s/metrics" % open(metrics_file).read().strip()

    def metric(self, name, labels=""):
        """The value of one series on the metrics page (None if absent)."""
        prefix = name + ("{" + labels + "}" if labels else "") + " "
        for line in curl(self.metrics).stdout.split("\n"):
            if line.startswith(prefix):
                return float(line[len(prefix):])
        return None

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        return self.process.returncode


def curl(*args, timeout=60):
    return subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, timeout=timeout)


def post_args(url, body):
    return ["-H", "Content-Type: application/json", "-d", body, url]


def idle_cache(address, timeout=10):
    deadline = time.time() + timeout
    info = {}
    while time.time() < deadline:
        with KvserveClient(address, timeout=10) as client:
            info = client.server_info()
        if info["running"] == 0 and info["waiting"] == 0 and \
                info["free_pages"] == info["total_pages"]:
            return True, info
        time.sleep(0.05)
    return False, info


def run_openai_client(tmp, name, base_url, model, api_key="none", env=None):
    """The openai npm client, from a scratch dir whose node_modules is the pinned install, checked
    as in the module docstring."""
    run_dir = os.path.join(tmp, "node-" + name)
    os.makedirs(run_dir)
    shutil.copy(os.path.join(SOURCE, "tests/integration/openai/openai_client_run.mjs"), run_dir)
    os.symlink(NODE_MODULES, os.path.join(run_dir, "node_modules"))
    node = subprocess.run(["node", os.path.join(run_dir, "openai_client_run.mjs"),
                           base_url + "/v1", model, api_key], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})
    check(node.returncode == 0, "%s: the openai client ran (%s)" % (name, node.stderr[-2000:]))
    if node.returncode == 0:
        out = json.loads(node.stdout)
        print(json.dumps(out, indent=1)[:3000])
        for kind in ("chat", "completion"):
            s, whole = out[kind + "_stream"], out[kind]
            check(s["text"] == whole["text"] and len(whole["text"]) > 0,
                  "%s: streamed %s text equals the non-streamed reply" % (name, kind))
            check(s["finish"] in ("stop", "length") and s["finish"] == whole["finish"],
                  "%s: %s finish_reason %s / %s" % (name, kind, s["finish"], whole["finish"]))
            check(whole["usage"]["completion_tokens"] > 0 and
                  whole["usage"]["total_tokens"] == whole["usage"]["prompt_tokens"] +
                  whole["usage"]["completion_tokens"], "%s: %s usage adds up" % (name, kind))
        counts = lambda u: ((u or {}).get("prompt_tokens"), (u or {}).get("completion_tokens"))
        check(counts(out["chat_stream"]["usage"]) == counts(out["chat"]["usage"]),
              "%s: include_usage chunk equals the reply's usage" % name)
        check(out["chat"]["role"] == "assistant" and out["chat"]["object"] == "chat.completion",
              "%s: chat reply shape" % name)
        check(out["models"] == [model], "%s: models list %s" % (name, out["models"]))
        check(out["unknown_model"]["status"] == 404, "%s: unknown model -> %s" %
              (name, out["unknown_model"]))
        check(out["bad_max_tokens"]["status"] == 400 and
              "max_tokens" in out["bad_max_tokens"]["message"],
              "%s: max_tokens 0 -> %s" % (name, out["bad_max_tokens"]))


def exercise(tmp, name, daemon, model):
    run_openai_client(tmp, name, daemon.http, model)

    # curl.
    sse = curl("-N", *post_args(daemon.http + "/v1/chat/completions", json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8,
         "stream": True})))
    events = [line[6:] for line in sse.stdout.split("\n") if line.startswith("data: ")]
    check(sse.returncode == 0 and events and events[-1] == "[DONE]" and
          json.loads(events[0])["choices"][0]["delta"]["role"] == "assistant",
          "%s: curl SSE stream: role chunk first, [DONE] last (%d events)" % (name, len(events)))
    bad = curl("-w", "\n%{http_code}", *post_args(daemon.http + "/v1/completions", "{\"prompt\":"))
    body, _, code = bad.stdout.rpartition("\n")
    check(code == "400" and "error" in json.loads(body), "%s: curl malformed JSON -> %s %s" %
          (name, code, body[:200]))
    big_path = os.path.join(tmp, "big.json")
    with open(big_path, "w") as f:
        f.write(json.dumps({"prompt": "a" * (5 << 20)}))
    big = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json",
               "--data-binary", "@" + big_path, daemon.http + "/v1/completions")
    check(big.stdout == "413", "%s: curl 5 MiB body -> %s" % (name, big.stdout))
    # A client that hangs up after the first token's chunk.
    max_len = json.loads(curl(daemon.http + "/v1/models").stdout)["data"][0]["max_model_len"]
    body = json.dumps({"model": model, "prompt": "x", "max_tokens": max_len - 8, "ignore_eos": True,
                       "n": 4, "stream": True}).encode()
    port = int(daemon.http.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        seen = b""
        while b'"text"' not in seen and not (seen.startswith(b"HTTP/1.1 4") and b"}" in seen):
            chunk = s.recv(4096)
            if not chunk:
                break
            seen += chunk
    check(seen.startswith(b"HTTP/1.1 200") and b'"text"' in seen,
          "%s: a client hung up after its first chunk" % name)
    idle, info = idle_cache(daemon.grpc)
    check(idle, "%s: after finished, refused and dropped HTTP streams no page is in use (%s)" %
          (name, {k: info.get(k) for k in ("running", "free_pages", "total_pages")}))
    health = curl("-o", "/dev/null", "-w", "%{http_code}", daemon.http + "/health")
    check(health.stdout == "200", "%s: still serving (/health %s)" % (name, health.stdout))


def make_pki(tmp):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, by openssl."""
    d = os.path.join(tmp, "pki")
    os.makedirs(d)
    f = lambda n: os.path.join(d, n)
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "2",
        "-subj", "/CN=kvserve-http-test-ca")
    with open(f("server.ext"), "w") as ext:
        ext.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for who, subject in (("server", "/CN=localhost"), ("client", "/CN=kvserve-http-client")):
        run("req", *ec, "-keyout", f(who + ".key"), "-out", f(who + ".csr"), "-subj", subject)
        run("x509", "-req", "-in", f(who + ".csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"),
            "-CAcreateserial", "-out", f(who + ".pem"), "-days", "2",
            *(["-extfile", f("server.ext")] if who == "server" else []))
    return f


def exercise_tls(tmp):
    """The HTTP port with the gRPC port's mutual TLS and bearer token."""
    pki = make_pki(tmp)
    token = "http-tls-token-5c2e"
    with open(os.path.join(tmp, "token"), "w") as t:
        t.write(token + "\n")
    daemon = Daemon(tmp, "tls", ["--model", "micro", "--num_pages", "64",
                                 "--tls_cert", pki("server.pem"), "--tls_key", pki("server.key"),
                                 "--tls_client_ca", pki("ca.pem"),
                                 "--auth_token_file", os.path.join(tmp, "token")], scheme="https")
    try:
        run_openai_client(tmp, "tls", daemon.http, "micro", token,
                          {"KVSERVE_TLS_CA": pki("ca.pem"), "KVSERVE_TLS_CERT": pki("client.pem"),
                           "KVSERVE_TLS_KEY": pki("client.key")})
        mtls = ["--cacert", pki("ca.pem"), "--cert", pki("client.pem"), "--key", pki("client.key")]
        body = json.dumps({"prompt": "hello", "max_tokens": 4})
        ok = curl(*mtls, "-w", "\n%{http_code}", "-H", "Authorization: Bearer " + token,
                  *post_args(daemon.http + "/v1/completions", body))
        check(ok.returncode == 0 and ok.stdout.endswith("\n200") and
              json.loads(ok.stdout.rpartition("\n")[0])["usage"]["completion_tokens"] == 4,
              "tls: curl with the client certificate and token -> %r" % ok.stdout[-300:])
        no_token = curl(*mtls, "-o", "/dev/null", "-w", "%{http_code}",
                        *post_args(daemon.http + "/v1/completions", body))
        check(no_token.stdout == "401", "tls: no bearer token -> %s" % no_token.stdout)
        no_cert = curl("--cacert", pki("ca.pem"), "-o", "/dev/null", "-w", "%{http_code}",
                       daemon.http + "/health")
        check(no_cert.returncode != 0 and no_cert.stdout == "000",
              "tls: no client certificate -> no HTTP reply (curl rc %d)" % no_cert.returncode)
        plain = curl("-m", "10", "-o", "/dev/null", "-w", "%{http_code}",
                     "http://127.0.0.1:%d/health" % daemon.http_port)
        check(plain.returncode != 0 and plain.stdout == "000",
              "tls: plaintext HTTP -> no reply (curl rc %d)" % plain.returncode)

        # A TLS client that hangs up after the first token's chunk (its close_notify comes before
        # the FIN: the server must still see it go).
        context = ssl.create_default_context(cafile=pki("ca.pem"))
        context.load_cert_chain(pki("client.pem"), pki("client.key"))
        body = json.dumps({"prompt": "x", "max_tokens": 500, "ignore_eos": True, "n": 4,
                           "stream": True}).encode()
        with socket.create_connection(("127.0.0.1", daemon.http_port), timeout=30) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                          + token.encode() + b"\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                seen = b""
                while b'"text"' not in seen:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    seen += chunk
        check(seen.startswith(b"HTTP/1.1 200") and b'"text"' in seen,
              "tls: a TLS client hung up after its first chunk")
        deadline = time.time() + 10
        while time.time() < deadline and (
                daemon.metric("kvserve_num_requests_running") != 0 or
                daemon.metric("kvserve_kv_pages_free") != daemon.metric("kvserve_kv_pages_total")):
            time.sleep(0.05)
        free, total = daemon.metric("kvserve_kv_pages_free"), daemon.metric("kvserve_kv_pages_total")
        check(daemon.metric("kvserve_num_requests_running") == 0 and free == total,
              "tls: the hung-up stream was cancelled, its pages freed (%s of %s free)" % (free, total))
        cancelled = daemon.metric("kvserve_requests_total", 'outcome="cancelled"')
        check(cancelled is not None and cancelled >= 1, "tls: counted cancelled: %s" % cancelled)

        # The front end's replies in the metrics.
        ok_replies = daemon.metric("kvserve_http_responses_total",
                                   'route="/v1/completions",status="200"')
        check(ok_replies is not None and ok_replies >= 3,
              "tls: kvserve_http_responses_total{/v1/completions,200} = %s" % ok_replies)
        unauthorized = daemon.metric("kvserve_http_responses_total",
                                     'route="/v1/completions",status="401"')
        check(unauthorized == 1, "tls: 401 replies counted: %s" % unauthorized)
        not_found = daemon.metric("kvserve_requests_rejected_total", 'code="NOT_FOUND"')
        check(not_found == 1, "tls: the unknown model counted as rejected: %s" % not_found)
    finally:
        check(daemon.stop() == 0, "tls: SIGTERM exit 0")


def main():
    with tempfile.TemporaryDirectory(prefix="kvserve-openai-") as tmp:
        micro = Daemon(tmp, "micro", ["--model", "micro"])
        try:
            exercise(tmp, "micro", micro, "micro")
        finally:
            check(micro.stop() == 0, "micro: SIGTERM exit 0")
        ckpt = os.path.join(tmp, "ckpt")
        subprocess.run([sys.executable, os.path.join(SOURCE, "tests/checkpoint/make_checkpoints.py"),
                        ckpt], check=True, stdout=subprocess.DEVNULL)
        template = os.path.join(SOURCE, "tests/chat/templates/Qwen-Qwen2.5-7B-Instruct.jinja")
        llama = Daemon(tmp, "llama", ["--model", os.path.join(ckpt, "llama_f32"),
                                      "--chat_template", template])
        try:
            exercise(tmp, "llama_f32", llama, "llama_f32")
        finally:
            check(llama.stop() == 0, "llama_f32: SIGTERM exit 0")
        exercise_tls(tmp)
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all checks passed")


main()
