"""A small Python client for kvserve's Generation service.

    from kvserve_client import KvserveClient
    with KvserveClient("127.0.0.1:50051") as client:
        for chunk in client.generate("Hello", max_tokens=16):
            print(chunk.text, end="", flush=True)
        print(client.server_info())

Security: pass tls_ca (PEM file of the CA that signed the server's certificate) for TLS, plus
tls_cert/tls_key for mutual TLS, and auth_token (or read_token_file(path)) for a daemon started with
--auth_token_file; the token goes out as "authorization: Bearer <token>" metadata on every call.

The stubs (kvserve/v1/kvserve_pb2*.py) are generated at build time from proto/ with Debian's
protoc and grpc_python_plugin into <build>/clients/python; put that directory on PYTHONPATH
(or pass it as KVSERVE_PY_STUBS). Needs python3-grpcio and python3-protobuf (Debian).
"""

import os
import sys
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence

_stubs = os.environ.get("KVSERVE_PY_STUBS")
if _stubs and _stubs not in sys.path:
    sys.path.insert(0, _stubs)

import grpc  # noqa: E402
from kvserve.v1 import kvserve_pb2, kvserve_pb2_grpc  # noqa: E402

FINISH_REASONS = {
    kvserve_pb2.FINISH_REASON_UNSPECIFIED: None,
    kvserve_pb2.FINISH_REASON_LENGTH: "length",
    kvserve_pb2.FINISH_REASON_STOP: "stop",
}


@dataclass
class Chunk:
    """One streamed message: new tokens since the previous one, and their text."""
    token_ids: List[int]
    text: str
    finish_reason: Optional[str] = None  # set on the last message only
    usage: Optional[dict] = None         # set on the last message only


@dataclass
class Completion:
    token_ids: List[int] = field(default_factory=list)
    text: str = ""
    finish_reason: Optional[str] = None
    usage: Optional[dict] = None


def read_token_file(path: str) -> str:
    """The bearer token in `path`, surrounding whitespace removed (like the daemon reads it).
    Raises ValueError, naming the file but never quoting the token, if it is empty or holds a
    byte outside visible ASCII."""
    with open(path, "rb") as f:
        token = f.read(64 * 1024 + 1).strip()
    if not token:
        raise ValueError(f"auth token file '{path}': the bearer token is empty")
    if len(token) > 4096 or any(b < 0x21 or b > 0x7E for b in token):
        raise ValueError(f"auth token file '{path}': not a token (1..4096 visible ASCII bytes)")
    return token.decode("ascii")


def _read_bytes(path: Optional[str]) -> Optional[bytes]:
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


class KvserveClient:
    """A channel to one kvserve daemon. Thread-safe like the gRPC channel under it."""

    def __init__(self, target: str, timeout: Optional[float] = None,
                 tls_ca: Optional[str] = None, tls_cert: Optional[str] = None,
                 tls_key: Optional[str] = None, auth_token: Optional[str] = None):
        if (tls_cert or tls_key) and not tls_ca:
            raise ValueError("tls_cert/tls_key need tls_ca (the CA that signed the server's "
                             "certificate)")
        if bool(tls_cert) != bool(tls_key):
            raise ValueError("a client certificate needs both tls_cert and tls_key")
        if tls_ca:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read_bytes(tls_ca), private_key=_read_bytes(tls_key),
                certificate_chain=_read_bytes(tls_cert))
            self._channel = grpc.secure_channel(target, credentials)
        else:
            self._channel = grpc.insecure_channel(target)
        self._stub = kvserve_pb2_grpc.GenerationStub(self._channel)
        self._timeout = timeout
        # Per-call metadata rather than call credentials: those need a TLS channel.
        self._metadata = (("authorization", f"Bearer {auth_token}"),) if auth_token else None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "KvserveClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def generate(self, prompt, max_tokens: int = 16, temperature: float = 0.0, top_k: int = 0,
                 top_p: float = 0.0, seed: int = 0, stop_token_ids: Sequence[int] = (),
                 ignore_eos: bool = False, request_id: str = "",
                 timeout: Optional[float] = None) -> Iterator[Chunk]:
        """Streams a generation. `prompt` is a str (tokenized by the server) or a list of token
        ids. Raises grpc.RpcError with the server's status on failure."""
        request = kvserve_pb2.GenerateRequest(
            request_id=request_id, max_tokens=max_tokens,
            sampling=kvserve_pb2.SamplingParams(temperature=temperature, top_k=top_k,
                                                top_p=top_p, seed=seed),
            stop_token_ids=list(stop_token_ids), ignore_eos=ignore_eos)
        if isinstance(prompt, str):
            request.text = prompt
        else:
            request.token_ids.ids.extend(int(t) for t in prompt)
        stream = self._stub.Generate(request, timeout=timeout or self._timeout,
                                     metadata=self._metadata)
        for message in stream:
            usage = None
            if message.HasField("usage"):
                usage = {"prompt_tokens": message.usage.prompt_tokens,
                         "completion_tokens": message.usage.completion_tokens,
                         "cached_prompt_tokens": message.usage.cached_prompt_tokens}
            yield Chunk(token_ids=list(message.token_ids), text=message.text,
                        finish_reason=FINISH_REASONS.get(message.finish_reason), usage=usage)

    def complete(self, prompt, **kwargs) -> Completion:
        """generate() gathered into one Completion."""
        result = Completion()
        for chunk in self.generate(prompt, **kwargs):
            result.token_ids.extend(chunk.token_ids)
            result.text += chunk.text
            if chunk.finish_reason:
                result.finish_reason = chunk.finish_reason
                result.usage = chunk.usage
        return result

    def server_info(self) -> dict:
        info = self._stub.GetServerInfo(kvserve_pb2.GetServerInfoRequest(), timeout=self._timeout,
                                        metadata=self._metadata)
        return {f.name: getattr(info, f.name) for f in info.DESCRIPTOR.fields}


def main(argv: Sequence[str]) -> int:
    import argparse
    parser = argparse.ArgumentParser(description="Stream a generation from kvserve.")
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--max_tokens", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--tls_ca", help="PEM CA certificates to verify the server; enables TLS")
    parser.add_argument("--tls_cert", help="PEM client certificate for mutual TLS")
    parser.add_argument("--tls_key", help="PEM private key of --tls_cert")
    parser.add_argument("--auth_token_file", help="file holding the bearer token")
    parser.add_argument("prompt")
    args = parser.parse_args(argv)
    try:
        token = read_token_file(args.auth_token_file) if args.auth_token_file else None
        client = KvserveClient(args.target, tls_ca=args.tls_ca, tls_cert=args.tls_cert,
                               tls_key=args.tls_key, auth_token=token)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        with client:
            for chunk in client.generate(args.prompt, max_tokens=args.max_tokens,
                                         temperature=args.temperature):
                sys.stdout.write(chunk.text)
                sys.stdout.flush()
                if chunk.finish_reason:
                    print(f"\n[finish={chunk.finish_reason} usage={chunk.usage}]", file=sys.stderr)
    except grpc.RpcError as e:
        print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
