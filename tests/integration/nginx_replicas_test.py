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
import subprocess
import sys
import tempfile
import unittest

KVSERVE, KVLOAD, NGINX, STUBS, CLIENT_DIR, TEMPLATE = sys.argv[1:7]
sys.path[:0] = [STUBS, CLIENT_DIR, os.path.dirname(os.path.abspath(__file__))]

from test_daemons import Nginx, Replica  # noqa: E402


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
        self.replicas = [Replica(KVSERVE, "replica-a", self.tmp),
                         Replica(KVSERVE, "replica-b", self.tmp)]
        self.nginx = Nginx(NGINX, TEMPLATE, self.tmp, self.replicas)
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
