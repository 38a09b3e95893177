"""The concept map: one table drawn as mermaid and as a figure, notebook 00 shows the same mermaid,
every concept is either run somewhere or points to reading, and the glossary covers the map."""
from __future__ import annotations

import re
from pathlib import Path

from bmcourse import concepts

NOTEBOOK_00 = Path(__file__).resolve().parent.parent / "notebooks" / "00_foundations.py"


def _mermaid_in_notebook() -> str:
    text = NOTEBOOK_00.read_text(encoding="utf-8")
    block = re.search(r"^# ```mermaid\n.*?^# ```$", text, flags=re.S | re.M)
    assert block, "notebook 00 must hold the concept map as a ```mermaid block in a markdown cell"
    return "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in block.group(0).splitlines())


def test_notebook_mermaid_is_generated_from_the_table() -> None:
    assert _mermaid_in_notebook() == concepts.mermaid(), (
        "notebook 00's mermaid cell differs from bmcourse.concepts.mermaid(): paste the new output")


def test_the_map_names_every_concept_the_articles_name() -> None:
    names = " ".join(c.en for c in concepts.CONCEPTS).lower()
    for term in ("foundation model", "pre-training", "fine-tuning", "transfer", "cross-domain", "vertical",
                 "adapters", "prompt tuning", "lora", "bitfit", "continual", "augmentation", "adversarial",
                 "few-shot", "knowledge graph", "multimodal", "interpretability", "privacy", "safety"):
        assert term in names, term


def test_every_concept_is_run_or_points_to_reading_and_edges_are_known() -> None:
    keys = concepts.by_key()
    for c in concepts.CONCEPTS:
        assert (c.where is None) != (c.reading is None), c.key
        assert c.meaning.endswith(".") and c.zh
        if c.where:
            assert c.where.split()[0] in concepts.NOTEBOOK_FILES
    assert all(a in keys and b in keys for a, b in concepts.EDGES)
    assert len(keys) == len(concepts.CONCEPTS)


def test_published_notebooks_exist_and_later_ones_are_marked_in_preparation() -> None:
    folder = NOTEBOOK_00.parent
    for number in concepts.PUBLISHED:
        assert (folder / concepts.NOTEBOOK_FILES[number]).is_file(), number
    lora = concepts.by_key()["lora"]
    expected = "" if "03" in concepts.PUBLISHED else " (in preparation)"
    assert concepts.where_text(lora) == f"notebook 03{expected}"
    assert concepts.where_text(concepts.by_key()["kg"]).startswith("not run here; read: ")


def test_glossary_covers_the_map_and_the_drawn_map_has_a_box_per_concept() -> None:
    glossary = {row["English"]: row["中文"] for row in concepts.glossary()}
    assert all(glossary[c.en] == c.zh for c in concepts.CONCEPTS)
    fig = concepts.draw_map()
    assert len(fig.axes[0].patches) == len(concepts.CONCEPTS)


def test_markdown_table_links_published_notebooks_only() -> None:
    table = concepts.markdown_table()
    assert "[notebook 02 §4](02_ner_finetuning.ipynb)" in table
    assert "](03_" not in table or "03" in concepts.PUBLISHED
    assert table.count("\n") == len(concepts.CONCEPTS) + 1
    assert concepts.glossary_markdown().count("\n") == len(concepts.glossary()) + 1
