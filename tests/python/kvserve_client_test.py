"""Runs the Python client against a real kvserve daemon (started here on a free port).

Usage (ctest does this): kvserve_client_test.py KVSERVE_BINARY STUBS_DIR CLIENT_DIR
"""
import contextlib
import io
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
from kvserve.v1 import kvserve_pb2  # noqa: E402
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


class GenerationControlsTest(unittest.TestCase):
    """Stop strings, n samples, logprobs, the sampling controls, chat and the token RPCs through
    the real daemon (micro model, whose preset chat template is ChatML)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.server, cls.target = start_daemon(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        stop_daemon(cls.server)
        cls.tmp.cleanup()

    def test_stop_string_ends_the_text_and_is_named(self):
        with KvserveClient(self.target, timeout=30) as client:
            plain = client.complete("Hello", max_tokens=32, ignore_eos=True)
            # A printable ASCII character from the middle of the greedy text.
            ascii_prefix = plain.text.encode("utf-8").split(b"\xef\xbf\xbd")[0].decode()
            candidates = [c for c in ascii_prefix[4:] if c.isprintable() and not c.isspace()]
            self.assertTrue(candidates, plain.text)
            stop = candidates[0]
            before = plain.text[:plain.text.index(stop)]
            stopped = client.complete("Hello", max_tokens=32, ignore_eos=True,
                                      stop=["\n\n\n\n", stop])
            kept = client.complete("Hello", max_tokens=32, ignore_eos=True, stop=stop,
                                   include_stop_str_in_output=True)
        self.assertEqual(plain.finish_reason, "length")
        self.assertIsNone(plain.stop_string)
        self.assertEqual(stopped.text, before)
        self.assertEqual(stopped.finish_reason, "stop")
        self.assertEqual(stopped.stop_string, stop)
        self.assertIsNone(stopped.stop_token_id)
        self.assertEqual(stopped.usage["completion_tokens"], len(stopped.token_ids))
        self.assertEqual(kept.text, before + stop)
        self.assertEqual(kept.stop_string, stop)

    def test_n_samples_are_distinct_indexed_and_repeatable_by_seed(self):
        options = dict(max_tokens=16, ignore_eos=True, n=3, temperature=0.9, seed=7)
        with KvserveClient(self.target, timeout=30) as client:
            first = client.complete("Once upon", **options)
            again = client.complete("Once upon", **options)
            chunks = list(client.generate("Once upon", **options))
        self.assertEqual([s.index for s in first.samples], [0, 1, 2])
        for sample in first.samples:
            self.assertEqual(len(sample.token_ids), 16)
            self.assertEqual(sample.finish_reason, "length")
        self.assertEqual(len({s.text for s in first.samples}), 3)
        self.assertEqual([s.token_ids for s in again.samples],
                         [s.token_ids for s in first.samples])
        self.assertEqual(first.usage["prompt_tokens"], 9)  # once, whatever n
        self.assertEqual(first.usage["completion_tokens"], 48)
        # The stream: chunks of all three samples, one finish each, the usage on the last.
        self.assertEqual({c.index for c in chunks}, {0, 1, 2})
        self.assertEqual(sorted(c.index for c in chunks if c.finish_reason), [0, 1, 2])
        self.assertIsNotNone(chunks[-1].usage)
        self.assertTrue(all(c.usage is None for c in chunks[:-1]))

    def test_tokenize_and_detokenize_round_trip(self):
        text = "Hello, kvserve: \u00e9t\u00e9!"
        with KvserveClient(self.target, timeout=30) as client:
            ids = client.tokenize(text)
            ids_again, pieces = client.tokenize_pieces("Hi")
            with_bos = client.tokenize("Hi", add_special_tokens=True)
            bos = client.server_info()["bos_token_id"]
            back = client.detokenize(ids)
            with self.assertRaises(grpc.RpcError) as ctx:
                client.detokenize([1, 999999])
        self.assertEqual(len(ids), len(text.encode("utf-8")))  # one id per byte on micro
        self.assertEqual(back, text)
        self.assertEqual(ids_again, [72, 105])
        self.assertEqual(pieces, ["H", "i"])
        self.assertEqual(with_bos, [bos, 72, 105])
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("999999", ctx.exception.details())

    def test_logprobs_and_prompt_logprobs(self):
        with KvserveClient(self.target, timeout=30) as client:
            result = client.complete("Hello", max_tokens=4, ignore_eos=True, logprobs=3,
                                     prompt_logprobs=2)
            chunks = list(client.generate("Hello", max_tokens=4, ignore_eos=True, logprobs=0))
        self.assertEqual([l.token_id for l in result.logprobs], result.token_ids)
        for entry in result.logprobs:
            self.assertLessEqual(entry.logprob, 0.0)
            self.assertEqual(entry.rank, 1)  # greedy picks the most likely token
            self.assertEqual(len(entry.top), 3)
            self.assertEqual(entry.top[0].token_id, entry.token_id)
            self.assertEqual(entry.top[0].logprob, entry.logprob)
            self.assertGreaterEqual(entry.top[0].logprob, entry.top[1].logprob)
        # The prompt's tokens after the first ("ello"), with two alternatives each.
        self.assertEqual([l.token_id for l in result.prompt_logprobs], [101, 108, 108, 111])
        self.assertTrue(all(len(l.top) == 2 for l in result.prompt_logprobs))
        # logprobs=0: the chosen token's only, one per token, on the chunk that carries it.
        for chunk in chunks:
            self.assertEqual([l.token_id for l in chunk.logprobs], chunk.token_ids)
            self.assertTrue(all(not l.top for l in chunk.logprobs))

    def test_sampling_controls_reach_the_sampler(self):
        with KvserveClient(self.target, timeout=30) as client:
            forced = client.complete("Hello", max_tokens=5, ignore_eos=True,
                                     logit_bias={65: 100.0})
            plain = client.complete("Hello", max_tokens=12, ignore_eos=True)
            penalized = client.complete("Hello", max_tokens=12, ignore_eos=True,
                                        repetition_penalty=3.0)
            held = client.complete("Hello", max_tokens=12, ignore_eos=True,
                                   stop=plain.text[0], min_tokens=6)
            with self.assertRaises(grpc.RpcError) as ctx:
                client.complete("Hello", max_tokens=4, min_p=1.5)
        self.assertEqual(forced.text, "AAAAA")
        self.assertNotEqual(penalized.token_ids, plain.token_ids)
        self.assertGreaterEqual(held.usage["completion_tokens"], 6)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("min_p", ctx.exception.details())

    def test_chat_and_render_chat(self):
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
        with KvserveClient(self.target, timeout=30) as client:
            rendered = client.render_chat(messages)
            continued = client.render_chat(messages, add_generation_prompt=False)
            reply = client.chat(messages, max_tokens=6, ignore_eos=True)
            has_template = client.server_info()["has_chat_template"]
        self.assertTrue(has_template)
        self.assertEqual(rendered["text"],
                         "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi"
                         "<|im_end|>\n<|im_start|>assistant\n")
        self.assertEqual(len(rendered["token_ids"]), len(rendered["text"]))  # byte-level
        self.assertFalse(continued["text"].endswith("assistant\n"))
        self.assertEqual(reply.usage["prompt_tokens"], len(rendered["token_ids"]))
        self.assertEqual(len(reply.token_ids), 6)

    def test_command_line_stop_and_n(self):
        def run(*argv):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = kvserve_client.main(["--target", self.target, *argv])
            return code, out.getvalue(), err.getvalue()
        with KvserveClient(self.target, timeout=30) as client:
            plain = client.complete("Hello", max_tokens=32)
        stop = plain.text[5]
        # The escape is decoded: \\x.. is the character itself.
        code, out, err = run("--max_tokens", "32", "--stop", "\\x%02x" % ord(stop), "Hello")
        self.assertEqual(code, 0, err)
        self.assertEqual(out, plain.text[:plain.text.index(stop)])
        self.assertIn(f"[finish=stop stop={stop!r}", err)
        code, out, err = run("--n", "2", "--temperature", "0.5", "--seed", "3", "hi")
        self.assertEqual(code, 0, err)
        self.assertIn("[0] finish=", out)
        self.assertIn("[1] finish=", out)
        code, out, err = run("--n", "17", "hi")  # the server's INVALID_ARGUMENT
        self.assertEqual(code, 1)
        self.assertIn("INVALID_ARGUMENT", err)


class _FakeStub:
    """Stands in for the gRPC stub: keeps the request, answers scripted messages."""

    def __init__(self, responses):
        self.responses = responses
        self.request = None

    def Generate(self, request, timeout=None, metadata=None):
        self.request = request
        return iter(self.responses)

    def RenderChat(self, prompt, timeout=None, metadata=None):
        self.request = prompt
        return kvserve_pb2.RenderedChat(text="<|user|>" + prompt.messages[0].content,
                                        token_ids=[1, 2])


class RequestAndResponseFieldsTest(unittest.TestCase):
    """Every parameter reaches its GenerateRequest field, and every response field its Chunk,
    without a daemon."""

    def client(self, responses=()):
        client = KvserveClient("127.0.0.1:1")
        client._stub = _FakeStub(list(responses))
        return client

    def test_every_parameter_is_sent(self):
        client = self.client()
        list(client.generate("hi", max_tokens=9, stop=["\n\n", "END"],
                             include_stop_str_in_output=True, min_tokens=2, n=3, logprobs=0,
                             prompt_logprobs=5, min_p=0.1, repetition_penalty=1.1,
                             presence_penalty=0.5, frequency_penalty=-0.5,
                             logit_bias={13: -100, 42: 2.5}, top_k=4, top_p=0.9, seed=11,
                             temperature=0.7))
        r = client._stub.request
        self.assertEqual(r.text, "hi")
        self.assertEqual(list(r.stop), ["\n\n", "END"])
        self.assertTrue(r.include_stop_str_in_output)
        self.assertEqual((r.min_tokens, r.n, r.max_tokens), (2, 3, 9))
        self.assertTrue(r.HasField("logprobs"))
        self.assertEqual((r.logprobs, r.prompt_logprobs), (0, 5))
        self.assertAlmostEqual(r.sampling.min_p, 0.1, places=6)
        self.assertAlmostEqual(r.sampling.repetition_penalty, 1.1, places=6)
        self.assertAlmostEqual(r.sampling.presence_penalty, 0.5)
        self.assertAlmostEqual(r.sampling.frequency_penalty, -0.5)
        self.assertEqual(dict(r.sampling.logit_bias), {13: -100.0, 42: 2.5})
        self.assertEqual((r.sampling.top_k, r.sampling.seed), (4, 11))
        # The defaults send nothing new: no logprobs, n unset, one stop string from a str.
        list(client.generate("hi", stop="x"))
        r = client._stub.request
        self.assertFalse(r.HasField("logprobs"))
        self.assertFalse(r.HasField("prompt_logprobs"))
        self.assertEqual(r.n, 0)
        self.assertEqual(list(r.stop), ["x"])

    def test_chat_messages_become_the_chat_prompt(self):
        client = self.client()
        list(client.generate([{"role": "system", "content": "Be brief."}, ("user", "Hi")],
                             add_generation_prompt=False))
        r = client._stub.request
        self.assertEqual(r.WhichOneof("prompt"), "chat")
        self.assertEqual([(m.role, m.content) for m in r.chat.messages],
                         [("system", "Be brief."), ("user", "Hi")])
        self.assertTrue(r.chat.no_generation_prompt)
        list(client.generate([5, 6]))
        self.assertEqual(client._stub.request.WhichOneof("prompt"), "token_ids")
        rendered = client.render_chat([{"role": "user", "content": "Q"}])
        self.assertEqual(rendered, {"text": "<|user|>Q", "token_ids": [1, 2]})
        self.assertFalse(client._stub.request.no_generation_prompt)

    def test_completion_gathers_samples_stop_reasons_and_logprobs(self):
        def logprob(token_id, value):
            return kvserve_pb2.TokenLogprob(
                token_id=token_id, text=f"t{token_id}", logprob=value, rank=1,
                top=[kvserve_pb2.TopLogprob(token_id=token_id, text=f"t{token_id}",
                                            logprob=value)])
        responses = [
            kvserve_pb2.GenerateResponse(index=1, token_ids=[4], text="d",
                                         logprobs=[logprob(4, -1.0)],
                                         prompt_logprobs=[logprob(9, -3.0)]),
            kvserve_pb2.GenerateResponse(index=0, token_ids=[1], text="a",
                                         finish_reason=kvserve_pb2.FINISH_REASON_STOP,
                                         stop_token_id=2, logprobs=[logprob(1, -0.5)]),
            kvserve_pb2.GenerateResponse(index=1, token_ids=[5], text="e",
                                         finish_reason=kvserve_pb2.FINISH_REASON_STOP,
                                         stop_string="\n", logprobs=[logprob(5, -2.0)],
                                         usage=kvserve_pb2.Usage(prompt_tokens=3,
                                                                 completion_tokens=3)),
        ]
        result = self.client(responses).complete("x", n=2, logprobs=1)
        first, second = result.samples
        self.assertEqual((first.text, first.finish_reason), ("a", "stop"))
        self.assertEqual((first.stop_token_id, first.stop_string), (2, None))
        self.assertEqual((second.text, second.token_ids), ("de", [4, 5]))
        self.assertEqual((second.stop_string, second.stop_token_id), ("\n", None))
        self.assertEqual([l.token_id for l in second.logprobs], [4, 5])
        self.assertEqual(second.logprobs[1].top[0].logprob, -2.0)
        self.assertEqual(result.prompt_logprobs[0].token_id, 9)
        self.assertEqual(result.usage["completion_tokens"], 3)
        self.assertEqual(result.text, "a")  # sample 0's
        self.assertEqual(result.logprobs[0].logprob, -0.5)


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
