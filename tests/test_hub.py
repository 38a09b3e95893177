"""The Hub probe goes through the configured endpoint (HF_ENDPOINT mirrors, proxies), never a fixed host."""
from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from bmcourse import hub


class _Health(http.server.BaseHTTPRequestHandler):
    """Answers like the Hub's health endpoint: 200 and a small JSON body."""

    paths: list[str] = []

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        type(self).paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback_hub() -> Iterator[str]:
    """A local HTTP server on 127.0.0.1 that answers the health check; yields its URL."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def fresh_probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("BMCOURSE_OFFLINE", "HF_HUB_OFFLINE", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    hub.hub_reachable.cache_clear()
    yield
    hub.hub_reachable.cache_clear()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_mirror_that_answers_is_reachable(monkeypatch: pytest.MonkeyPatch, loopback_hub: str) -> None:
    monkeypatch.setenv("HF_ENDPOINT", loopback_hub + "/")
    assert hub.endpoint() == loopback_hub
    start = time.perf_counter()
    assert hub.hub_reachable(timeout=2.0)
    assert time.perf_counter() - start < 2.0
    assert _Health.paths[-1] == "/api/health"


def test_closed_port_is_unreachable_within_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    start = time.perf_counter()
    assert not hub.hub_reachable(timeout=2.0)
    assert time.perf_counter() - start < 2.5


def test_offline_switch_wins_without_probing(monkeypatch: pytest.MonkeyPatch, loopback_hub: str) -> None:
    monkeypatch.setenv("HF_ENDPOINT", loopback_hub)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(_Health.paths)
    assert not hub.hub_reachable(timeout=2.0)
    assert len(_Health.paths) == before


def test_proxy_variables_are_honoured(monkeypatch: pytest.MonkeyPatch, loopback_hub: str) -> None:
    """A proxy that does not answer makes the endpoint unreachable: the probe went through it."""
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.invalid")
    monkeypatch.setenv("HTTP_PROXY", loopback_hub)  # the loopback server answers for any URL
    assert hub.hub_reachable(timeout=2.0)
    hub.hub_reachable.cache_clear()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_closed_port()}")
    assert not hub.hub_reachable(timeout=2.0)


def test_no_raw_socket_to_a_fixed_host() -> None:
    import inspect

    import bmcourse.config
    import bmcourse.hub

    for module in (bmcourse.config, bmcourse.hub):
        source = inspect.getsource(module)
        assert "socket" not in source and "huggingface.co" not in source
