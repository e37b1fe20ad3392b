"""Measure HTTP/2 codecs in-process: the server side of one request and its response.

Usage: .venv/bin/python tools/bench_h2_codec.py [--requests 20000] [--rounds 5]

The same request bytes (an h2 client's: the first request's header block with literals, the
rest fully indexed, as h2load and browsers send them) are fed to each codec, which answers every
request with a small response (status, content-type, content-length, date, server, a 23-byte
body). Reported: microseconds per request, best of the rounds, for the ``h2`` library
(``H2Connection``, events) and for agw's codec (``dataplane.http2``). This is how the codec was
chosen; ``bench_dataplane.py --protocol http2`` measures the whole proxy against Envoy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from h2.config import H2Configuration  # noqa: E402
from h2.connection import H2Connection  # noqa: E402
from h2.events import RequestReceived  # noqa: E402

from dataplane.http2.codec import Http2Codec  # noqa: E402
from dataplane.http2.stream import StreamState  # noqa: E402

BODY = b"hello from the backend\n"
RESPONSE = [
    (b":status", b"200"),
    (b"content-type", b"text/plain"),
    (b"content-length", b"23"),
    (b"date", b"Thu, 26 Nov 2026 17:00:00 GMT"),
    (b"server", b"agw"),
]
REQUEST = [
    (b":method", b"GET"),
    (b":path", b"/"),
    (b":scheme", b"http"),
    (b":authority", b"127.0.22.1:18500"),
    (b"user-agent", b"h2load nghttp2/1.52.0"),
]


def client_bytes(requests: int) -> list[bytes]:
    """The preface, then one chunk of ten requests per read, as a client multiplexing ten."""
    client = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    client.initiate_connection()
    chunks = [client.data_to_send()]
    for first in range(1, 2 * requests, 20):
        for stream_id in range(first, min(first + 20, 2 * requests), 2):
            client.send_headers(stream_id, REQUEST, end_stream=True)
        # Return the connection window the ten response bodies will use.
        client.increment_flow_control_window(10 * len(BODY))
        chunks.append(client.data_to_send())
        # The server's responses are never fed back, so the client's view of streams is reset.
        client.streams.clear()
    return chunks


def run_h2_library(chunks: list[bytes]) -> None:
    server = H2Connection(H2Configuration(client_side=False, header_encoding=None))
    server.initiate_connection()
    for chunk in chunks:
        for event in server.receive_data(chunk):
            if isinstance(event, RequestReceived):
                server.send_headers(event.stream_id, RESPONSE)
                server.send_data(event.stream_id, BODY, end_stream=True)
        server.data_to_send()


class _Answering:
    """agw codec callbacks that answer each request at once."""

    def __init__(self) -> None:
        self.codec: Http2Codec | None = None

    def new_stream(self, stream_id: int) -> StreamState:
        return StreamState()

    def on_headers(self, stream: StreamState, headers: Any, end: bool) -> None:
        assert self.codec is not None
        self.codec.send_headers(stream, RESPONSE, False)
        self.codec.send_data(stream, BODY, True)

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None


def run_agw(chunks: list[bytes]) -> None:
    out: list[bytes] = []
    handler = _Answering()
    codec = handler.codec = Http2Codec(handler, out.append, client_side=False)
    codec.start()
    for chunk in chunks:
        codec.receive(chunk)
        b"".join(out)
        out.clear()


def best_time(run: Any, chunks: list[bytes], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        run(chunks)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    chunks = client_bytes(args.requests)
    for name, run in (("h2 library", run_h2_library), ("agw codec", run_agw)):
        seconds = best_time(run, chunks, args.rounds)
        print(f"{name:<12}{seconds / args.requests * 1e6:8.2f} us per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
