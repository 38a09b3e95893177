"""The thin Hugging Face Hub path: parquet/JSON repositories only, never a loading script."""
from __future__ import annotations

from typing import Any

from ..hub import apply_endpoint, hub_cache_dir
from .registry import HubSource


def load_hub_rows(hub: HubSource, kind: str) -> dict[str, list[dict[str, Any]]]:
    """Download ``hub`` and return rows per split with string tags/labels, in the local layout.

    Script-based repositories are read from the Hub's parquet conversion branch
    (``revision="refs/convert/parquet"``, one folder per config, chosen with ``data_dir``).
    """
    from datasets import load_dataset

    apply_endpoint()  # a mirror set after import (HF_ENDPOINT) applies to this download too
    loaded = load_dataset(hub.repo, revision=hub.revision, data_dir=hub.data_dir,
                          cache_dir=str(hub_cache_dir()))
    columns = {"tokens": "tokens", "ner_tags": "ner_tags", "text": "text", "label": "label"}
    columns.update(hub.columns)
    rows: dict[str, list[dict[str, Any]]] = {}
    for split in hub.splits:
        if split not in loaded:
            continue
        part = loaded[split]
        if kind == "ner":
            names = part.features[columns["ner_tags"]].feature.names
            rows[split] = [{"id": str(i), "tokens": r[columns["tokens"]],
                           "ner_tags": [names[t] for t in r[columns["ner_tags"]]]}
                          for i, r in enumerate(part)]
        else:
            feature = part.features[columns["label"]]
            names = getattr(feature, "names", None)
            rows[split] = [{"id": str(i), "text": r[columns["text"]],
                           "label": names[r[columns["label"]]] if names else str(r[columns["label"]])}
                          for i, r in enumerate(part)]
    return rows
