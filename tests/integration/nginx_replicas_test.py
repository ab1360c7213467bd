"""Two kvserve replicas behind nginx (deploy/nginx/kvserve-grpc.conf), all on loopback.

Starts two daemons (--model micro, --port 0 --port_file), fills the nginx template with their ports,
runs nginx as an unprivileged-friendly foreground process (every path inside a temp dir), then:
  1. kvload through nginx: every request must succeed, and each replica (asked directly with
     GetServerInfo) must have finished some of them, the two counts adding up to the total;
  2. SIGKILL one replica, kvload through nginx again: every request must still succeed (nginx
     retries the dead replica's refused connections on the live one), and the live replica's
     count must grow by exactly the number of requests.

Usage (ctest does this):
  nginx_replicas_test.py KVSERVE KVLOAD NGINX STUBS_DIR CLIENT_DIR NGINX_TEMPLATE
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

KVSERVE, KVLOAD, NGINX, STUBS, CLIENT_DIR, TEMPLATE = sys.argv[1:7]
sys.path[:0] = [STUBS, CLIENT_DIR]
from kvserve_client import KvserveClient  # noqa: E402

START_TIMEOUT_S = 30


def wait_for(predicate, what, process, log_path, timeout=START_TIMEOUT_S):
    """Polls predicate() until true; fails naming `what` (with the process's log) otherwise."""
    deadline = time.time() + timeout
    while not predicate():
        if process.poll() is not None or time.time() > deadline:
            with open(log_path, errors="replace") as f:
                log = f.read()
            state = ("exited with %d" % process.returncode if process.poll() is not None
                     else "timed out after %ds" % timeout)
            raise RuntimeError("%s: %s; log %s:\n%s" % (what, state, log_path, log[-4000:]))
        time.sleep(0.05)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts_connections(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Replica:
    def __init__(self, name, tmp):
        self.name = name
        self.log_path = os.path.join(tmp, name + ".log")
        port_file = os.path.join(tmp, name + ".port")
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [KVSERVE, "--model", "micro", "--host", "127.0.0.1", "--port", "0",
                 "--port_file", port_file, "--threads", "1", "--drain_seconds", "1"],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(port_file), "replica %s did not start" % name,
                 self.process, self.log_path)
        with open(port_file) as f:
            self.address = "127.0.0.1:" + f.read().strip()

    def requests_finished(self):
        with KvserveClient(self.address, timeout=10) as client:
            return client.server_info()["requests_finished"]

    def stop(self, sig=signal.SIGTERM):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Nginx:
    """nginx in the foreground with its prefix, pid, logs and temp paths all inside `tmp`."""

    def __init__(self, tmp, replicas):
        self.tmp = tmp
        self.error_log = os.path.join(tmp, "nginx-error.log")
        with open(TEMPLATE) as f:
            template = f.read()
        for attempt in range(3):  # the free port may be taken between free_port() and bind()
            self.port = free_port()
            site = template.replace("@LISTEN@", "127.0.0.1:%d" % self.port)
            for i, replica in enumerate(replicas, start=1):
                site = site.replace("@REPLICA_%d@" % i, replica.address)
            if "@" in site.split("upstream", 1)[1]:
                raise RuntimeError("template %s has markers this test does not fill" % TEMPLATE)
            with open(os.path.join(tmp, "kvserve-grpc.conf"), "w") as f:
                f.write(site)
            conf = os.path.join(tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write(self._main_conf())
            open(self.error_log, "w").close()
            self.process = subprocess.Popen(
                [NGINX, "-p", tmp + "/", "-c", conf, "-e", self.error_log],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            try:
                wait_for(lambda: accepts_connections(self.port), "nginx did not start",
                         self.process, self.error_log)
                return
            except RuntimeError:
                with open(self.error_log) as f:
                    if "Address already in use" not in f.read() or attempt == 2:
                        raise

    def _main_conf(self):
        t = self.tmp
        return "\n".join([
            "daemon off;",
            "worker_processes 1;",
            "pid %s/nginx.pid;" % t,
            "error_log %s info;" % self.error_log,
            "events { worker_connections 1024; }",
            "http {",
            "    access_log %s/nginx-access.log;" % t,
            "    client_body_temp_path %s/client_body;" % t,
            "    proxy_temp_path %s/proxy;" % t,
            "    fastcgi_temp_path %s/fastcgi;" % t,
            "    uwsgi_temp_path %s/uwsgi;" % t,
            "    scgi_temp_path %s/scgi;" % t,
            "    include %s/kvserve-grpc.conf;" % t,
            "}",
            ""])

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful; nginx's SIGTERM is "fast"
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_kvload(tmp, target, name, num_requests, concurrency):
    """Runs kvload; returns its per-request records after checking the run as a whole."""
    json_path = os.path.join(tmp, name + ".json")
    result = subprocess.run(
        [KVLOAD, "--target", target, "--concurrency", str(concurrency),
         "--num_requests", str(num_requests), "--prompt_len", "8:48", "--max_tokens", "4:24",
         "--seed", str(num_requests), "--json", json_path, "--progress=false",
         "--connect_timeout", "10", "--max_seconds", "40"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    output = result.stdout.decode(errors="replace")
    if result.returncode != 0:
        raise AssertionError("kvload %s exited with %d:\n%s" % (name, result.returncode, output))
    with open(json_path) as f:
        doc = json.load(f)
    (run,) = doc["runs"]
    return run["requests"], output


class NginxReplicasTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="kvserve-nginx-")
        self.tmp = self._tmp.name
        os.chmod(self.tmp, 0o755)  # nginx workers run as nobody when the test runs as root
        self.replicas = []
        self.nginx = None
        self.addCleanup(self._cleanup)
        self.replicas = [Replica("replica-a", self.tmp), Replica("replica-b", self.tmp)]
        self.nginx = Nginx(self.tmp, self.replicas)
        self.target = "127.0.0.1:%d" % self.nginx.port

    def _cleanup(self):
        if self.nginx:
            self.nginx.stop()
        for replica in self.replicas:
            replica.stop()
        self._tmp.cleanup()

    def assert_all_ok(self, records, expected, output):
        self.assertEqual(len(records), expected, output)
        bad = [r for r in records if r["outcome"] != "ok" or r["status"] != "OK"]
        self.assertEqual(bad, [], "failed requests:\n%s\nkvload:\n%s" % (
            "\n".join("#%d %s %s: %s" % (r["index"], r["outcome"], r["status"],
                                         r["status_message"]) for r in bad[:10]), output))
        for r in records:  # every request ran to its length (the load sets ignore_eos)
            self.assertEqual(r["tokens"], r["max_tokens"], r)

    def test_balances_over_both_replicas_and_survives_losing_one(self):
        a, b = self.replicas
        self.assertEqual((a.requests_finished(), b.requests_finished()), (0, 0))

        records, output = run_kvload(self.tmp, self.target, "both", num_requests=60,
                                     concurrency=8)
        self.assert_all_ok(records, 60, output)
        served = {a.name: a.requests_finished(), b.name: b.requests_finished()}
        print("after 60 requests through nginx: %s" % served, flush=True)
        self.assertEqual(sum(served.values()), 60, served)
        for name, count in served.items():
            self.assertGreater(count, 0, "%s served nothing: %s" % (name, served))

        a.stop(signal.SIGKILL)
        self.assertEqual(a.process.returncode, -signal.SIGKILL)
        records, output = run_kvload(self.tmp, self.target, "one-killed", num_requests=30,
                                     concurrency=4)
        self.assert_all_ok(records, 30, output)
        after_kill = b.requests_finished()
        print("after SIGKILL of %s and 30 more requests: %s served %d in all" % (
            a.name, b.name, after_kill), flush=True)
        self.assertEqual(after_kill, served[b.name] + 30)
        with open(self.nginx.error_log, errors="replace") as f:
            refused = sum(1 for line in f if "Connection refused" in line)
        print("nginx logged %d refused connections to the killed replica" % refused, flush=True)
        # The dead replica was still in the upstream list, so some call was sent there first and
        # succeeded only because nginx retried it on the live one: the retry path was exercised.
        self.assertGreaterEqual(refused, 1, "nginx never tried the killed replica")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
