"""``bmcourse reference refresh drift``: notebook 05's drift monitor on the real data (the cached
CoNLL-2003 tagger, a news stream and one shifting to WNUT-17 social media) with the notebook's
full-profile settings; the result (``drift_reference.json``) carries its provenance.
"""
from __future__ import annotations

import time
from typing import Any

#: The full-profile settings of notebook 05, section 7 (DRIFT_WINDOWS, DRIFT_SIZE, DRIFT_SHIFT_AT,
#: DRIFT_RAMP, PSI_THRESHOLD, PATIENCE); tests/test_nb05_exercises.py checks they are the same.
FULL_SETTINGS = {"windows": 30, "size": 100, "shift_at": 10, "ramp": 10, "threshold": 0.05, "patience": 3}
COMMAND = "bmcourse reference refresh drift"


def bench_drift(progress: bool = True) -> dict[str, Any]:
    """Run the monitor on both streams and return the JSON payload (provenance, settings, every
    window's statistics, where the trigger fired, the seconds it took)."""
    from datasets import concatenate_datasets

    from .. import reference
    from ..data import load_ner, source_label
    from ..deploy import drift_experiment
    from ..models import loaded_model_info
    from ..transfer import SourceRecipe, source_tagger
    from .common import require_real_data

    require_real_data(("conll2003", "wnut17"), "the drift reference")
    started = time.perf_counter()
    model, tokenizer, _ = source_tagger(SourceRecipe(), progress=progress)
    conll, wnut = load_ner("conll2003"), load_ner("wnut17")
    social = concatenate_datasets([wnut["validation"], wnut["test"]])
    result = drift_experiment(model, tokenizer, conll["validation"], conll["test"], social, progress=progress,
                              **FULL_SETTINGS)
    data_source = "; ".join(f"{name}: {source_label(name)}" for name in ("conll2003", "wnut17"))
    return {**reference.provenance(model=loaded_model_info(model, tokenizer), data_source=data_source,
                                   command=COMMAND),
            "device": "cpu",
            "streams_from": {"reference": "conll2003 validation", "in-domain": "conll2003 test",
                             "shifted": "wnut17 validation + test"},
            **result, "seconds": round(time.perf_counter() - started, 1)}
