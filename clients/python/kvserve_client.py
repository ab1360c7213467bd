"""A small Python client for kvserve's Generation service.

    from kvserve_client import KvserveClient
    with KvserveClient("127.0.0.1:50051") as client:
        for chunk in client.generate("Hello", max_tokens=16, stop=["\n\n"]):
            print(chunk.text, end="", flush=True)
        three = client.complete("Once upon", n=3, temperature=0.9, seed=7, logprobs=2)
        for sample in three.samples:
            print(sample.index, sample.finish_reason, sample.text, sample.logprobs[0].top)
        reply = client.chat([{"role": "user", "content": "Hi"}], max_tokens=32)
        print(client.tokenize("Hello"), client.detokenize([72, 105]))
        print(client.render_chat([{"role": "user", "content": "Hi"}]))
        print(client.server_info())

generate()/complete() take every GenerateRequest field: the prompt (a str, a list of token ids,
or a list of {"role", "content"} chat messages), max_tokens, stop, include_stop_str_in_output,
min_tokens, stop_token_ids, ignore_eos, n, logprobs, prompt_logprobs, and the sampling parameters
temperature, top_k, top_p, min_p, seed, repetition_penalty, presence_penalty, frequency_penalty,
logit_bias ({token_id: bias}). Left at their defaults they are not sent (the server's defaults).

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
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

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
class TopLogprob:
    token_id: int
    text: str
    logprob: float


@dataclass
class TokenLogprob:
    """A token's log-probability under the model (before any sampling transform), its rank, and
    the most likely alternatives (most likely first)."""
    token_id: int
    text: str
    logprob: float
    rank: int
    top: List[TopLogprob] = field(default_factory=list)


def _logprobs(entries) -> List[TokenLogprob]:
    return [TokenLogprob(e.token_id, e.text, e.logprob, e.rank,
                         [TopLogprob(t.token_id, t.text, t.logprob) for t in e.top])
            for e in entries]


@dataclass
class Chunk:
    """One streamed message: new tokens of sample `index` since its previous one, and their
    text."""
    token_ids: List[int]
    text: str
    finish_reason: Optional[str] = None  # set on each sample's last message
    usage: Optional[dict] = None         # set on the stream's last message only
    index: int = 0                       # the sample, in [0, n)
    stop_string: Optional[str] = None    # with finish_reason "stop": what stopped the sample,
    stop_token_id: Optional[int] = None  # a stop string or a token (EOS or a stop_token_id)
    logprobs: List[TokenLogprob] = field(default_factory=list)         # one per token_ids
    prompt_logprobs: List[TokenLogprob] = field(default_factory=list)  # on the first message


@dataclass
class Sample:
    """Everything one sample of a completion produced."""
    index: int = 0
    token_ids: List[int] = field(default_factory=list)
    text: str = ""
    finish_reason: Optional[str] = None
    stop_string: Optional[str] = None
    stop_token_id: Optional[int] = None
    logprobs: List[TokenLogprob] = field(default_factory=list)


@dataclass
class Completion:
    """A whole generation: its samples by index (one unless n > 1), the usage of all of them,
    and the prompt logprobs. token_ids, text, finish_reason, stop_string, stop_token_id and
    logprobs are sample 0's (the whole result when n = 1)."""
    samples: List[Sample] = field(default_factory=lambda: [Sample()])
    usage: Optional[dict] = None
    prompt_logprobs: List[TokenLogprob] = field(default_factory=list)

    token_ids = property(lambda self: self.samples[0].token_ids)
    text = property(lambda self: self.samples[0].text)
    finish_reason = property(lambda self: self.samples[0].finish_reason)
    stop_string = property(lambda self: self.samples[0].stop_string)
    stop_token_id = property(lambda self: self.samples[0].stop_token_id)
    logprobs = property(lambda self: self.samples[0].logprobs)


def _chat_prompt(messages, add_generation_prompt: bool = True):
    """A ChatPrompt from {"role", "content"} dicts (or (role, content) pairs)."""
    prompt = kvserve_pb2.ChatPrompt(no_generation_prompt=not add_generation_prompt)
    for m in messages:
        role, content = (m["role"], m["content"]) if isinstance(m, dict) else m
        prompt.messages.add(role=role, content=content)
    return prompt


def _is_chat(prompt) -> bool:
    return isinstance(prompt, (list, tuple)) and len(prompt) > 0 and \
        not isinstance(prompt[0], int)


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
                 timeout: Optional[float] = None, stop: Sequence[str] = (),
                 include_stop_str_in_output: bool = False, min_tokens: int = 0, n: int = 1,
                 logprobs: Optional[int] = None, prompt_logprobs: Optional[int] = None,
                 min_p: float = 0.0, repetition_penalty: float = 0.0,
                 presence_penalty: float = 0.0, frequency_penalty: float = 0.0,
                 logit_bias: Optional[Dict[int, float]] = None,
                 add_generation_prompt: bool = True) -> Iterator[Chunk]:
        """Streams a generation. `prompt` is a str (tokenized by the server), a list of token
        ids, or a list of chat messages ({"role": ..., "content": ...} dicts or (role, content)
        pairs, rendered with the model's chat template; add_generation_prompt=False leaves out
        the assistant turn's opening). With n > 1 the samples' chunks interleave; each names its
        sample (`index`). Raises grpc.RpcError with the server's status on failure."""
        if isinstance(stop, str):
            stop = [stop]  # a lone string is one stop string, not its characters
        request = kvserve_pb2.GenerateRequest(
            request_id=request_id, max_tokens=max_tokens,
            sampling=kvserve_pb2.SamplingParams(
                temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, min_p=min_p,
                repetition_penalty=repetition_penalty, presence_penalty=presence_penalty,
                frequency_penalty=frequency_penalty,
                logit_bias={int(k): float(v) for k, v in (logit_bias or {}).items()}),
            stop_token_ids=list(stop_token_ids), ignore_eos=ignore_eos, stop=list(stop),
            include_stop_str_in_output=include_stop_str_in_output, min_tokens=min_tokens,
            n=n if n != 1 else 0)
        if logprobs is not None:
            request.logprobs = logprobs
        if prompt_logprobs is not None:
            request.prompt_logprobs = prompt_logprobs
        if isinstance(prompt, str):
            request.text = prompt
        elif _is_chat(prompt):
            request.chat.CopyFrom(_chat_prompt(prompt, add_generation_prompt))
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
            reason = message.WhichOneof("stop_reason")
            yield Chunk(token_ids=list(message.token_ids), text=message.text,
                        finish_reason=FINISH_REASONS.get(message.finish_reason), usage=usage,
                        index=message.index,
                        stop_string=message.stop_string if reason == "stop_string" else None,
                        stop_token_id=message.stop_token_id if reason == "stop_token_id"
                        else None,
                        logprobs=_logprobs(message.logprobs),
                        prompt_logprobs=_logprobs(message.prompt_logprobs))

    def complete(self, prompt, **kwargs) -> Completion:
        """generate() gathered into one Completion (every sample, by index)."""
        n = kwargs.get("n", 1)
        result = Completion(samples=[Sample(index=i) for i in range(max(1, n))])
        for chunk in self.generate(prompt, **kwargs):
            result.prompt_logprobs.extend(chunk.prompt_logprobs)
            sample = result.samples[chunk.index]
            sample.token_ids.extend(chunk.token_ids)
            sample.text += chunk.text
            sample.logprobs.extend(chunk.logprobs)
            if chunk.finish_reason:
                sample.finish_reason = chunk.finish_reason
                sample.stop_string = chunk.stop_string
                sample.stop_token_id = chunk.stop_token_id
            if chunk.usage is not None:
                result.usage = chunk.usage
        return result

    def chat(self, messages, **kwargs) -> Completion:
        """complete() with chat messages as the prompt."""
        return self.complete(list(messages), **kwargs)

    def tokenize(self, text: str, add_special_tokens: bool = False) -> List[int]:
        """The ids of `text`: exactly those of a Generate text prompt, or with BOS prepended
        (add_special_tokens, as Hugging Face's tokenizers do)."""
        return list(self.tokenize_pieces(text, add_special_tokens)[0])

    def tokenize_pieces(self, text: str,
                        add_special_tokens: bool = False) -> Tuple[List[int], List[str]]:
        """tokenize(), and each id's text."""
        response = self._stub.Tokenize(
            kvserve_pb2.TokenizeRequest(text=text, add_special_tokens=add_special_tokens),
            timeout=self._timeout, metadata=self._metadata)
        return list(response.token_ids), list(response.pieces)

    def detokenize(self, token_ids: Sequence[int]) -> str:
        response = self._stub.Detokenize(
            kvserve_pb2.DetokenizeRequest(token_ids=[int(t) for t in token_ids]),
            timeout=self._timeout, metadata=self._metadata)
        return response.text

    def render_chat(self, messages, add_generation_prompt: bool = True) -> dict:
        """The prompt the model's chat template makes of `messages`, without generating:
        {"text": ..., "token_ids": [...]}. FAILED_PRECONDITION if the model has no template."""
        rendered = self._stub.RenderChat(_chat_prompt(messages, add_generation_prompt),
                                         timeout=self._timeout, metadata=self._metadata)
        return {"text": rendered.text, "token_ids": list(rendered.token_ids)}

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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stop", action="append", default=[],
                        help="stop string (repeatable); Python escapes such as \\n are decoded")
    parser.add_argument("--n", type=int, default=1, help="samples; each is printed when done")
    parser.add_argument("--chat", action="store_true",
                        help="send the prompt as a user message of a chat prompt")
    parser.add_argument("--tls_ca", help="PEM CA certificates to verify the server; enables TLS")
    parser.add_argument("--tls_cert", help="PEM client certificate for mutual TLS")
    parser.add_argument("--tls_key", help="PEM private key of --tls_cert")
    parser.add_argument("--auth_token_file", help="file holding the bearer token")
    parser.add_argument("prompt")
    args = parser.parse_args(argv)
    try:
        stops = [s.encode("latin-1", "backslashreplace").decode("unicode_escape")
                 for s in args.stop]
        token = read_token_file(args.auth_token_file) if args.auth_token_file else None
        client = KvserveClient(args.target, tls_ca=args.tls_ca, tls_cert=args.tls_cert,
                               tls_key=args.tls_key, auth_token=token)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    prompt = [{"role": "user", "content": args.prompt}] if args.chat else args.prompt
    options = dict(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed,
                   stop=stops, n=args.n)
    try:
        with client:
            if args.n > 1:
                result = client.complete(prompt, **options)
                for s in result.samples:
                    print(f"[{s.index}] finish={s.finish_reason}\n{s.text}")
                print(f"[usage={result.usage}]", file=sys.stderr)
                return 0
            for chunk in client.generate(prompt, **options):
                sys.stdout.write(chunk.text)
                sys.stdout.flush()
                if chunk.finish_reason:
                    stop = chunk.stop_string if chunk.stop_string is not None \
                        else chunk.stop_token_id
                    print(f"\n[finish={chunk.finish_reason} stop={stop!r} usage={chunk.usage}]",
                          file=sys.stderr)
    except grpc.RpcError as e:
        print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
