"""bench transfer-compare: the conclusions computed from a payload are the ones notebook 03 prints from
the shipped reference, and two payloads that disagree are flagged."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from bmcourse import reference
from bmcourse.bench.transfer_conclusions import compare_table, transfer_conclusions

ROOT = Path(__file__).resolve().parents[1]


def _stored_output(name: str) -> str:
    nb = json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))
    return "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                   for o in c.get("outputs", []))


def test_the_conclusions_are_the_ones_notebook_03_prints_from_the_shipped_reference() -> None:
    ref = reference.load("bench_transfer_cpu")
    got = transfer_conclusions(ref)
    printed = _stored_output("03_domain_transfer.ipynb")
    wins = got["init=source beats init=pretrained"].removesuffix(" pairs")
    assert f"init=source beats init=pretrained in {wins} (target, strategy) pairs" in printed
    for init in ref["settings"]["inits"]:
        line = next(x for x in printed.splitlines() if x.startswith(f"init={init}: strategies by mean test F1"))
        assert [part.split()[0] for part in line.split(": ")[-1].split(", ")] == \
            got[f"ranking by mean test F1 (init={init})"].split(", ")
        assert f"init={init}: {got[f'runs with F1 0 (init={init})']} runs found no entity at all" in printed
    assert f"bitfit is within 3 F1 points of full in {got['bitfit within 3 F1 points of full']}" in printed
    assert f"replay lowered the target F1 {got['replay lowered the target F1']}:" in printed


def test_compare_flags_a_conclusion_that_changed() -> None:
    ref = reference.load("bench_transfer_cpu")
    assert compare_table(ref, copy.deepcopy(ref))[1] == 0
    changed = copy.deepcopy(ref)
    for row in changed["rows"]:
        if row["init"] == "pretrained":
            row["test_f1"] = 0.99  # the raw start now wins every pair
    table, differ = compare_table(ref, changed)
    assert differ >= 2 and "| init=source beats init=pretrained | 20 of 20 pairs | 0 of 20 pairs | **no** |" in table
