"""Refusals that only a real server shows: bodies over the limit (declared or chunked) are
answered 413 before they are read, and secrets never reach the server's log.
"""

import socket

import httpx
from websockets.sync.client import connect

from tests.chaos.harness import seed_space

TEN_MB = 10 * 1024 * 1024


def _answer(sock: socket.socket) -> bytes:
    sock.settimeout(20)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _open(base: str, head: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=20)
    sock.sendall(head.encode())
    return sock


def test_a_declared_10_mb_body_is_refused_before_a_byte_of_it_is_sent(stack):
    _, secret = seed_space(stack, "big-declared")
    api = stack.api()
    head = (
        "POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {secret}\r\nContent-Length: {TEN_MB}\r\n\r\n"
    )
    with _open(api.base, head) as sock:
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"PAYLOAD_TOO_LARGE"' in answer or b"content-length" in answer.lower()


def test_a_chunked_10_mb_body_is_cut_off_at_the_limit(stack):
    _, secret = seed_space(stack, "big-chunked")
    api = stack.api()
    head = (
        "POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {secret}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"a" * 65536
    sent = 0
    with _open(api.base, head) as sock:
        try:
            while sent < TEN_MB:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: what we want
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    with api.client(secret) as http:  # the server is fine afterwards
        assert http.get("/jobs").status_code == 200


def test_token_secrets_never_reach_the_log(stack):
    space_id, secret = seed_space(stack, "quiet-logs")
    api = stack.api(log_level="info", LOG_LEVEL="INFO")
    ws_url = api.base.replace("http://", "ws://") + f"/api/v1/realtime/spaces/{space_id}"
    with connect(f"{ws_url}?token={secret}", open_timeout=20) as ws:
        assert '"stream.hello"' in ws.recv(timeout=20)
    httpx.get(f"{api.base}/api/v1/jobs?token={secret}", timeout=20)
    httpx.get(
        f"{api.base}/api/v1/jobs",
        headers={"Authorization": f"Bearer {secret}x"},
        timeout=20,
    )
    with api.client(secret) as http:
        http.post("/jobs", json={"name": "Not Valid", "payload": {"k": secret}})
    api.kill()
    log = (stack.root / f"{stack.last_api_log}.log").read_text()
    assert "WebSocket /api/v1/realtime/spaces" in log  # the lines are there, masked
    assert "token=[redacted]" in log
    assert secret not in log
    assert secret[4:20] not in log
