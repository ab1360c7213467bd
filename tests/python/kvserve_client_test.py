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
import kvserve_client  # noqa: E402
from kvserve_client import KvserveClient, read_token_file  # noqa: E402


def start_daemon(tmp_dir, *flags):
    """Starts kvserve (micro model, port 0) with `flags`; (process, "127.0.0.1:port")."""
    port_file = os.path.join(tmp_dir, "port")
    server = subprocess.Popen(
        [KVSERVE, "--model", "micro", "--port", "0", "--port_file", port_file, *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not os.path.exists(port_file):
        if server.poll() is not None or time.time() > deadline:
            server.kill()
            raise RuntimeError("kvserve did not start: " + server.stderr.read().decode())
        time.sleep(0.05)
    with open(port_file) as f:
        return server, "127.0.0.1:" + f.read().strip()


def stop_daemon(server):
    server.terminate()
    server.wait(timeout=30)


def make_pki(d):
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate (openssl)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=python test CA")
    for name, ext in (("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext)
        openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=" + name)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", name + ".ext", "-out", name + ".crt")
    return {k: os.path.join(d, k) for k in
            ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}


class KvserveClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.server, cls.target = start_daemon(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        stop_daemon(cls.server)
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


class SecureKvserveClientTest(unittest.TestCase):
    """The client against a daemon with mutual TLS and a bearer token."""
    TOKEN = "python-test-token-42"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.pki = make_pki(cls.tmp.name)
        cls.token_file = os.path.join(cls.tmp.name, "token")
        with open(cls.token_file, "w") as f:
            f.write(cls.TOKEN + "\n")
        cls.server, cls.target = start_daemon(
            cls.tmp.name, "--tls_cert", cls.pki["server.crt"], "--tls_key", cls.pki["server.key"],
            "--tls_client_ca", cls.pki["ca.crt"], "--auth_token_file", cls.token_file)

    @classmethod
    def tearDownClass(cls):
        stop_daemon(cls.server)
        cls.tmp.cleanup()

    def client(self, token=TOKEN, client_cert=True):
        cert = dict(tls_cert=self.pki["client.crt"], tls_key=self.pki["client.key"]) \
            if client_cert else {}
        return KvserveClient(self.target, timeout=30, tls_ca=self.pki["ca.crt"],
                             auth_token=token, **cert)

    def test_mutual_tls_with_token_generates(self):
        with self.client(token=read_token_file(self.token_file)) as client:
            result = client.complete("secure", max_tokens=5, ignore_eos=True)
            info = client.server_info()
        self.assertEqual(len(result.token_ids), 5)
        self.assertEqual(result.finish_reason, "length")
        self.assertEqual(info["model_name"], "micro")

    def test_missing_or_wrong_token_is_unauthenticated(self):
        for token, message in ((None, "missing credentials"), ("wrong", "invalid bearer token")):
            with self.client(token=token) as client:
                with self.assertRaises(grpc.RpcError) as ctx:
                    client.complete("x", max_tokens=2)
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
            self.assertIn(message, ctx.exception.details())

    def test_no_client_certificate_or_plaintext_fails_to_connect(self):
        with self.client(client_cert=False) as client:
            with self.assertRaises(grpc.RpcError) as ctx:
                client.server_info()
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAVAILABLE)
        with KvserveClient(self.target, timeout=10, auth_token=self.TOKEN) as client:
            with self.assertRaises(grpc.RpcError) as ctx:
                client.server_info()
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAVAILABLE)

    def test_bad_token_files_and_half_tls_configs_are_refused(self):
        empty = os.path.join(self.tmp.name, "empty_token")
        with open(empty, "w") as f:
            f.write("\n")
        with self.assertRaisesRegex(ValueError, "empty"):
            read_token_file(empty)
        with self.assertRaisesRegex(ValueError, "tls_ca"):
            KvserveClient(self.target, tls_cert=self.pki["client.crt"],
                          tls_key=self.pki["client.key"])

    def test_command_line_flags(self):
        argv = ["--target", self.target, "--max_tokens", "3", "--tls_ca", self.pki["ca.crt"],
                "--tls_cert", self.pki["client.crt"], "--tls_key", self.pki["client.key"],
                "--auth_token_file", self.token_file, "hi"]
        self.assertEqual(kvserve_client.main(argv), 0)
        self.assertEqual(kvserve_client.main(argv[:-3] + ["hi"]), 1)  # no token: UNAUTHENTICATED


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
