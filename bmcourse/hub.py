"""The Hugging Face Hub in one place: is it reachable (through the configured endpoint, a mirror
via ``HF_ENDPOINT`` and the standard proxy variables included), quiet loading, and the cache."""
from __future__ import annotations

import functools
import os
from pathlib import Path

from .config import cache_dir, is_offline

#: Any HTTP answer below this status means the endpoint is there (a mirror may not serve every path).
_ANSWERS = 500


def endpoint() -> str:
    """The Hub endpoint ``huggingface_hub`` uses: ``HF_ENDPOINT`` (e.g. a mirror) or the default Hub."""
    value = os.environ.get("HF_ENDPOINT", "").strip()
    if value:
        return value.rstrip("/")
    from huggingface_hub import constants

    # the library's own default, not constants.ENDPOINT: apply_endpoint may have pointed that at a mirror
    return (getattr(constants, "_HF_DEFAULT_ENDPOINT", None) or constants.ENDPOINT).rstrip("/")


@functools.lru_cache(maxsize=8)
def _answers(url: str, timeout: float) -> bool:
    """True when ``url`` gives any HTTP answer within ``timeout`` seconds (proxies honoured)."""
    import httpx

    try:  # trust_env: HTTP(S)_PROXY / NO_PROXY apply, as they do for huggingface_hub itself
        with httpx.Client(timeout=timeout, trust_env=True, follow_redirects=False) as client:
            return client.head(url).status_code < _ANSWERS
    except httpx.HTTPError:
        return False


def apply_endpoint() -> str:
    """Point ``huggingface_hub`` and ``datasets`` at ``HF_ENDPOINT`` now; returns the endpoint.

    Both read the variable once, when they are imported, so a mirror set in a notebook after
    ``import bmcourse`` would otherwise be ignored; every Hub decision of the course calls this first."""
    import sys

    from huggingface_hub import constants

    value = endpoint()
    if constants.ENDPOINT != value:
        constants.ENDPOINT = value
        constants.HUGGINGFACE_CO_URL_TEMPLATE = value + "/{repo_id}/resolve/{revision}/{filename}"
        hf_api = sys.modules.get("huggingface_hub.hf_api")
        if hf_api is not None and hasattr(hf_api, "api"):
            hf_api.api.endpoint = value
    datasets_config = sys.modules.get("datasets.config")
    if datasets_config is not None and getattr(datasets_config, "HF_ENDPOINT", value) != value:
        datasets_config.HF_ENDPOINT = value
        datasets_config.HUB_DATASETS_URL = value + "/datasets/{repo_id}/resolve/{revision}/{path}"
    return value


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when not offline and the configured Hub endpoint (``HF_ENDPOINT``, applied now) answers
    within ``timeout`` seconds. Checked once per endpoint; ``hub_reachable.cache_clear()`` forgets the answer.
    """
    return not is_offline() and _answers(f"{apply_endpoint()}/api/health", timeout)


hub_reachable.cache_clear = _answers.cache_clear  # type: ignore[attr-defined]


def hub_cache_dir() -> Path:
    """Where Hub datasets are cached: ``<cache>/hub``."""
    return cache_dir() / "hub"


def quiet_transformers() -> None:
    """Silence transformers' load reports and weight-loading progress bars."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
