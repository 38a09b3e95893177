"""Mainland-China paths: a Hub mirror through ``HF_ENDPOINT`` (set after ``import bmcourse``, as a
notebook cell would) serving a model in the Hub's layout from a local HTTP server, and ModelScope as
the model source with its download replaced by a local folder."""
from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bmcourse import hub, models
from bmcourse.errors import BmcourseError

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = "mirror-test/tiny-bert"


class HubLayout(http.server.BaseHTTPRequestHandler):
    """Answers like the Hub for one model repository: /api/health, /<repo>/resolve/<rev>/<file>."""

    folder: Path
    requests: list[str]

    def _file(self) -> Path | None:
        prefix = f"/{REPO}/resolve/"
        if not self.path.startswith(prefix):
            return None
        name = self.path[len(prefix):].split("/", 1)[-1].split("?")[0]
        path = self.folder / name
        return path if path.is_file() else None

    def _answer(self, body: bool) -> None:
        type(self).requests.append(self.path)
        if self.path.startswith("/api/health"):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            if body:
                self.wfile.write(b"ok")
            return
        path = self._file()
        if path is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("X-Error-Message", "Entry not found")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("X-Repo-Commit", COMMIT)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(body=True)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A local stand-in for a Hub mirror serving the packaged MiniLM as ``mirror-test/tiny-bert``."""
    handler = type("Handler", (HubLayout,), {"folder": models.offline_model_path(), "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.requests
    finally:
        server.shutdown()


def test_hf_endpoint_set_after_import_serves_the_model_from_the_mirror(
        mirror: tuple[str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    url, requests = mirror
    for variable in ("HF_HUB_OFFLINE", "BMCOURSE_OFFLINE", "BMCOURSE_MODEL", "BMCOURSE_MODEL_SOURCE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", constants.ENDPOINT)  # put back after the test
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", constants.HUGGINGFACE_CO_URL_TEMPLATE)
    monkeypatch.setenv("HF_ENDPOINT", url)  # after huggingface_hub read it at import
    hub.hub_reachable.cache_clear()
    try:
        assert hub.hub_reachable() and constants.ENDPOINT == url
        model, tokenizer = models.load_encoder(REPO)
    finally:
        hub.hub_reachable.cache_clear()
    assert model.config.hidden_size == 384 and tokenizer("a mirror")["input_ids"][0] == tokenizer.cls_token_id
    assert f"/{REPO}/resolve/main/model.safetensors" in requests
    assert not any(r.endswith((".bin", ".pt", ".ckpt", ".h5", ".msgpack")) for r in requests)


def test_modelscope_source_loads_the_online_default_from_its_download(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []

    def fake_download(model_id: str, cache: Path) -> str:
        asked.append(model_id)
        return str(models.offline_model_path())

    monkeypatch.setenv("BMCOURSE_MODEL_SOURCE", "modelscope")
    monkeypatch.setenv("BMCOURSE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(models, "modelscope_download", fake_download)
    assert models.resolve_model("bert-base-cased") == str(models.offline_model_path().resolve())
    assert asked == ["AI-ModelScope/bert-base-cased"]
    assert models.model_info("bert-base-cased")["source"] == "ModelScope"
    model, _ = models.load_encoder("bert-base-cased")
    assert model.config.hidden_size == 384


def test_modelscope_without_its_package_or_with_a_typo_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "modelscope", None)  # as if not installed
    monkeypatch.setenv("BMCOURSE_MODEL_SOURCE", "modelscope")
    with pytest.raises(BmcourseError, match="pip install modelscope"):
        models.resolve_model("bert-base-cased")
    monkeypatch.setenv("BMCOURSE_MODEL_SOURCE", "modelscpe")
    with pytest.raises(BmcourseError, match="hf .*or modelscope"):
        models.resolve_model("bert-base-cased")
