"""Runs the Python client against a real kvserve daemon (started here on a free port).

Usage (ctest does this): kvserve_client_test.py KVSERVE_BINARY STUBS_DIR CLIENT_DIR
"""
import os
import subprocess
import sys
import tempfile
import time
import unittest

KVSERVE, STUBS, CLIENT_DIR = sys.argv[1:4]
sys.path[:0] = [STUBS, CLIENT_DIR]
import grpc  # noqa: E402
from kvserve_client import KvserveClient  # noqa: E402


class KvserveClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        port_file = os.path.join(cls.tmp.name, "port")
        cls.server = subprocess.Popen(
            [KVSERVE, "--model", "micro", "--port", "0", "--port_file", port_file],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while not os.path.exists(port_file):
            if cls.server.poll() is not None or time.time() > deadline:
                raise RuntimeError("kvserve did not start: " + cls.server.stderr.read().decode())
            time.sleep(0.05)
        with open(port_file) as f:
            cls.target = "127.0.0.1:" + f.read().strip()

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait(timeout=30)
        cls.tmp.cleanup()

    def test_streams_tokens_and_ends_with_finish_reason(self):
        with KvserveClient(self.target, timeout=30) as client:
            chunks = list(client.generate("Hello", max_tokens=12, ignore_eos=True))
        self.assertGreaterEqual(len(chunks), 2)
        self.assertTrue(all(c.finish_reason is None for c in chunks[:-1]))
        self.assertEqual(chunks[-1].finish_reason, "length")
        tokens = [t for c in chunks for t in c.token_ids]
        self.assertEqual(len(tokens), 12)
        self.assertEqual(chunks[-1].usage["completion_tokens"], 12)
        self.assertEqual(chunks[-1].usage["prompt_tokens"], 5)

    def test_greedy_is_deterministic_and_token_prompts_match_text(self):
        with KvserveClient(self.target, timeout=30) as client:
            a = client.complete("abc", max_tokens=8, ignore_eos=True)
            b = client.complete([97, 98, 99], max_tokens=8, ignore_eos=True)
        self.assertEqual(a.token_ids, b.token_ids)
        self.assertEqual(len(a.token_ids), 8)

    def test_bad_input_is_invalid_argument(self):
        with KvserveClient(self.target, timeout=30) as client:
            with self.assertRaises(grpc.RpcError) as ctx:
                client.complete("x", max_tokens=0)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("max_tokens", ctx.exception.details())

    def test_server_info(self):
        with KvserveClient(self.target, timeout=30) as client:
            info = client.server_info()
        self.assertEqual(info["vocab_size"], 259)
        self.assertGreater(info["total_pages"], 0)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
