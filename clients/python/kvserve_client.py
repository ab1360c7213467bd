"""A small Python client for kvserve's Generation service.

    from kvserve_client import KvserveClient
    with KvserveClient("127.0.0.1:50051") as client:
        for chunk in client.generate("Hello", max_tokens=16):
            print(chunk.text, end="", flush=True)
        print(client.server_info())

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


class KvserveClient:
    """A channel to one kvserve daemon. Thread-safe like the gRPC channel under it."""

    def __init__(self, target: str, timeout: Optional[float] = None):
        self._channel = grpc.insecure_channel(target)
        self._stub = kvserve_pb2_grpc.GenerationStub(self._channel)
        self._timeout = timeout

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
        stream = self._stub.Generate(request, timeout=timeout or self._timeout)
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
        info = self._stub.GetServerInfo(kvserve_pb2.GetServerInfoRequest(), timeout=self._timeout)
        return {f.name: getattr(info, f.name) for f in info.DESCRIPTOR.fields}


def main(argv: Sequence[str]) -> int:
    import argparse
    parser = argparse.ArgumentParser(description="Stream a generation from kvserve.")
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--max_tokens", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("prompt")
    args = parser.parse_args(argv)
    try:
        with KvserveClient(args.target) as client:
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
