"""What every benchmark shares: the refusal to run on the embedded samples (a model trained or
scored on illustration sentences must never pass for a real one), JSON written whole or not at all
by the main process only, and a clock that says where a benchmark's time went.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import BmcourseError


def sample_only(names: tuple[str, ...] | list[str]) -> list[str]:
    """The datasets of ``names`` that would come from the embedded samples now (no local folder, no Hub)."""
    from ..data import is_sample

    return [name for name in names if is_sample(name)]


def require_real_data(names: tuple[str, ...] | list[str], needed_for: str, *, otherwise: str = "") -> None:
    """Refuse (``BmcourseError``) when any of ``names`` would come from the embedded samples: a model
    trained or scored on a few hundred illustration sentences must never pass for a real one.

    The fix says which variable to set and how to get the data; ``otherwise`` adds another way out."""
    from ..config import is_offline, is_smoke
    from ..data import REGISTRY

    missing = sample_only(names)
    if not missing:
        return
    folders = ", ".join(f"{REGISTRY[n].folder if n in REGISTRY else n}/train.jsonl" for n in missing)
    if is_smoke():
        why = "BMCOURSE_PROFILE=smoke uses only the embedded samples"
        fix = "unset BMCOURSE_PROFILE (or set it to full) and set BMCOURSE_DATA_DIR to the data folder"
    else:
        why = f"no BMCOURSE_DATA_DIR folder holds {'them' if len(missing) > 1 else 'it'} and the Hugging Face Hub is " + (
            "switched off" if is_offline() else "out of reach")
        fix = "set BMCOURSE_DATA_DIR to the data folder"
    fix += (f" holding {folders} (the course's shared data, e.g. export BMCOURSE_DATA_DIR=../shared/data; "
            "README, section Data), or go online"
            + (" (unset HF_HUB_OFFLINE and BMCOURSE_OFFLINE)" if is_offline() else "")
            + " so it loads from the Hugging Face Hub" + (f"; {otherwise}" if otherwise else ""))
    samples = "samples (a few hundred illustration sentences each) are" if len(missing) > 1 else \
        "sample (a few hundred illustration sentences) is"
    raise BmcourseError(f"{needed_for} needs the real {', '.join(missing)}, but only the embedded {samples} "
                        f"available: {why}", fix=fix)


def write_json(payload: dict[str, Any], out: str | Path) -> Path:
    """Write ``payload`` as indented JSON, atomically (``reference.write_json``: whole or not at all),
    creating the folder; under ``accelerate launch`` only the main process writes (the others
    return the same path)."""
    from ..reference import write_json as write_whole
    from ..train import is_main_process

    out = Path(out)
    if is_main_process():
        write_whole(payload, out)
    return out




class Phases:
    """Wall-clock seconds per phase of a benchmark: says where the time goes."""

    def __init__(self) -> None:
        import time

        self.clock = time.perf_counter
        self.seconds: dict[str, float] = {}

    def add(self, phase: str, since: float) -> float:
        """Add the seconds since ``since`` to ``phase``; return now (the next phase's start)."""
        now = self.clock()
        self.seconds[phase] = round(self.seconds.get(phase, 0.0) + now - since, 1)
        return now


def result_row(result: Any) -> dict[str, Any]:
    """A dataclass result as a JSON row, floats rounded to 4 digits."""
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(result).items()}
