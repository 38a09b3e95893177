"""Mainland-China paths: a Hub mirror through ``HF_ENDPOINT`` (set after ``import bmcourse``, as a
notebook cell would) serving a model and a dataset in the Hub's layout from a local HTTP server, and
ModelScope as the model source with its download replaced by a local folder."""
from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bmcourse import hub, models
from bmcourse.errors import BmcourseError

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = "mirror-test/tiny-bert"
DATASET = "mirror-test/tiny-intent"


class HubLayout(http.server.BaseHTTPRequestHandler):
    """Answers like the Hub for one model repository: /api/health, /<repo>/resolve/<rev>/<file>."""

    folder: Path   # the model repository's files
    dataset: Path  # the dataset repository's files
    requests: list[str]

    def _file(self) -> Path | None:
        for prefix, folder in ((f"/{REPO}/resolve/", self.folder), (f"/datasets/{DATASET}/resolve/", self.dataset)):
            if self.path.startswith(prefix):
                path = folder / self.path[len(prefix):].split("/", 1)[-1].split("?")[0]
                return path if path.is_file() else None
        return None

    def _json(self, value: object, body: bool) -> None:
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _dataset_api(self, body: bool) -> bool:
        """The dataset's info (/api/datasets/<repo>/revision/<rev>) and tree listing, as the Hub answers."""
        path, root = self.path.split("?")[0], f"/api/datasets/{DATASET}"
        files = sorted(p.relative_to(self.dataset).as_posix() for p in self.dataset.rglob("*") if p.is_file())
        if path.startswith(root + "/revision/"):
            self._json({"id": DATASET, "sha": COMMIT, "private": False, "disabled": False, "gated": False,
                        "siblings": [{"rfilename": f} for f in files]}, body)
            return True
        if path.startswith(root + "/tree/"):
            sub = path[len(root + "/tree/"):].partition("/")[2].strip("/")
            inside = [f for f in files if not sub or f.startswith(sub + "/")]
            dirs = sorted({f.rsplit("/", 1)[0] for f in inside if "/" in f} - {sub})
            self._json([{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in dirs]
                       + [{"type": "file", "oid": hashlib.sha1((self.dataset / f).read_bytes()).hexdigest(),
                           "size": (self.dataset / f).stat().st_size, "path": f} for f in inside], body)
            return True
        return False

    def _answer(self, body: bool) -> None:
        type(self).requests.append(self.path)
        if self._dataset_api(body):
            return
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
    dataset = tmp_path / "dataset"
    (dataset / "data").mkdir(parents=True)
    for split, n in (("train", 6), ("validation", 3), ("test", 3)):
        (dataset / "data" / f"{split}.jsonl").write_text("".join(
            json.dumps({"text": f"{split} request {i}", "label": ("card", "transfer")[i % 2]}) + "\n"
            for i in range(n)), encoding="utf-8")
    handler = type("Handler", (HubLayout,), {"folder": models.offline_model_path(), "dataset": dataset,
                                             "requests": []})
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


def test_hf_endpoint_set_after_import_serves_a_dataset_from_the_mirror(
        mirror: tuple[str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets.config
    from huggingface_hub import constants

    from bmcourse.data.hub import load_hub_rows
    from bmcourse.data.registry import HubSource

    url, requests = mirror
    for variable in ("HF_HUB_OFFLINE", "BMCOURSE_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("BMCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False, raising=False)
    for name in ("ENDPOINT", "HUGGINGFACE_CO_URL_TEMPLATE"):  # put back after the test
        monkeypatch.setattr(constants, name, getattr(constants, name))
    for name in ("HF_ENDPOINT", "HUB_DATASETS_URL"):
        monkeypatch.setattr(datasets.config, name, getattr(datasets.config, name))
    monkeypatch.setenv("HF_ENDPOINT", url)  # after datasets and huggingface_hub read it at import
    rows = load_hub_rows(HubSource(repo=DATASET), "classification")
    assert {split: len(r) for split, r in rows.items()} == {"train": 6, "validation": 3, "test": 3}
    assert rows["train"][1] == {"id": "1", "text": "train request 1", "label": "transfer"}
    assert any(r.startswith(f"/datasets/{DATASET}/resolve/") and r.endswith("data/train.jsonl") for r in requests)
