"""Real HTTP receivers on 127.0.0.1 for outbound-call tests (callbacks, Slack, push)."""

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.raw)


@dataclass
class Receiver:
    """Answers each POST with the next scripted status (the last one repeats);
    `sleep` seconds of silence first, to play a receiver that never answers."""

    statuses: list[int]
    sleep: float = 0.0
    got: list[Received] = field(default_factory=list)
    url: str = ""

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.got) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.got


def _handler(rx: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            rx.got.append(Received(self.path, dict(self.headers.items()), raw))
            if rx.sleep:
                time.sleep(rx.sleep)
            status = rx.statuses[min(len(rx.got), len(rx.statuses)) - 1]
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator:
    """receiver([500, 200], sleep=0) -> a started Receiver; all are stopped at teardown."""
    servers: list[ThreadingHTTPServer] = []

    def start(statuses: list[int] | None = None, sleep: float = 0.0) -> Receiver:
        rx = Receiver(statuses or [200], sleep)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rx))
        server.daemon_threads = True  # a sleeping handler must not block teardown
        threading.Thread(target=server.serve_forever, daemon=True).start()
        rx.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        servers.append(server)
        return rx

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
