"""The concept map: one table drawn as mermaid and as a figure, notebook 00 shows the same mermaid,
every concept is either run somewhere or points to reading, and the glossary covers the map."""
from __future__ import annotations

import re
from pathlib import Path

from bmcourse import concepts

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOK_00 = NOTEBOOKS / "00_foundations.py"


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
        assert c.meaning.endswith(".") and c.meaning[0].isupper()
        if c.where:
            assert re.fullmatch(r"\d{2}( §\d+)?", c.where) and c.where[:2] in concepts.NOTEBOOK_FILES, c.where
    assert all(a in keys and b in keys for a, b in concepts.EDGES)
    assert len(keys) == len(concepts.CONCEPTS)  # no two concepts share a key


def _notebook_source(number: str) -> str:
    return (NOTEBOOKS / concepts.NOTEBOOK_FILES[number]).with_suffix(".py").read_text(encoding="utf-8")


def test_notebook_files_are_the_notebooks_in_the_folder_and_all_are_published() -> None:
    on_disk = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert sorted(concepts.NOTEBOOK_FILES.values()) == on_disk
    for number, name in concepts.NOTEBOOK_FILES.items():
        assert name.startswith(f"{number}_") and (NOTEBOOKS / name).with_suffix(".py").is_file(), name
    assert concepts.PUBLISHED == {name[:2] for name in on_disk}  # every notebook that exists, none that does not


def test_every_notebook_number_concepts_mentions_exists() -> None:
    text = Path(concepts.__file__).read_text(encoding="utf-8")
    mentioned = set(re.findall(r"[Nn]otebooks? (\d{2})\b", text))
    for first, last in re.findall(r"\b(\d{2}) ?[–-] ?(\d{2})\b", text):  # ranges such as 00-05
        mentioned |= {f"{n:02d}" for n in range(int(first), int(last) + 1)}
    mentioned |= {c.where.split()[0] for c in concepts.CONCEPTS if c.where}
    assert mentioned >= {"00", "03", "05"}  # the scan read the docstring, the comments and the table
    existing = {p.name[:2] for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    assert mentioned <= existing, f"concepts.py names notebooks that do not exist: {sorted(mentioned - existing)}"


def test_every_section_a_concept_points_to_is_a_heading_of_that_notebook() -> None:
    pointed = [c for c in concepts.CONCEPTS if c.where and "§" in c.where]
    assert len(pointed) >= 3
    for c in pointed:
        number, section = c.where.split(" §")
        assert re.search(rf"^# ## {section} · ", _notebook_source(number), flags=re.M), c.where


def test_mermaid_declares_every_concept_once_and_marks_the_run_ones() -> None:
    text = concepts.mermaid()
    nodes = re.findall(r'^    (\w+)\["', text, flags=re.M)
    assert sorted(nodes) == sorted(c.key for c in concepts.CONCEPTS)
    edges = re.findall(r"^    (\w+) --> (\w+)$", text, flags=re.M)
    assert len(edges) == len(concepts.EDGES) and {a for e in edges for a in e} <= set(nodes)
    classes = dict((name, keys.split(",")) for keys, name in re.findall(r"^    class (\S+) (run|named)$", text, flags=re.M))
    assert set(classes["run"]) == {c.key for c in concepts.CONCEPTS if c.where}
    assert set(classes["run"]) | set(classes["named"]) == set(nodes) and not set(classes["run"]) & set(classes["named"])


def test_the_drawn_map_names_existing_notebooks_only() -> None:
    fig = concepts.draw_map()
    labels = [text.get_text() for text in fig.axes[0].texts]
    numbers = [label.split()[1] for label in labels if label.startswith("nb ")]
    assert len(numbers) == sum(1 for c in concepts.CONCEPTS if c.where)
    assert set(numbers) <= {p.name[:2] for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    assert len(fig.axes[0].patches) == len(concepts.CONCEPTS)


def test_markdown_table_links_every_run_concept_to_a_notebook_that_exists() -> None:
    table = concepts.markdown_table()
    links = re.findall(r"\]\(([^)]+)\)", table)
    assert len(links) == sum(1 for c in concepts.CONCEPTS if c.where)
    assert all((NOTEBOOKS / link).is_file() for link in links), links
    assert "[notebook 02 §4](02_ner_finetuning.ipynb)" in table and "[notebook 03](03_domain_transfer.ipynb)" in table
    assert "in preparation" not in table
    assert "not run here; read: Houlsby et al." in table
    assert table.count("\n") == len(concepts.CONCEPTS) + 1


def test_a_planned_notebook_is_marked_in_preparation_and_not_linked(monkeypatch) -> None:
    monkeypatch.setattr(concepts, "PUBLISHED", concepts.PUBLISHED - {"03"})
    lora = concepts.by_key()["lora"]
    assert concepts.where_text(lora) == "notebook 03 (in preparation)"
    assert concepts.where_markdown(lora) == "notebook 03 (in preparation)"
    assert concepts.where_markdown(concepts.by_key()["finetune"]) == "[notebook 02 §4](02_ner_finetuning.ipynb)"


def test_every_glossary_entry_has_english_and_chinese_and_none_is_lost() -> None:
    rows = concepts.glossary()
    for row in rows:
        assert row["English"].strip() and not re.search(r"[\u4e00-\u9fff]", row["English"]), row
        assert re.search(r"[\u4e00-\u9fff]", row["中文"]), row  # Chinese characters, not a blank or a copy
    english = [row["English"].lower() for row in rows]
    assert len(set(english)) == len(english) == len(concepts.CONCEPTS) + len(concepts.EXTRA_TERMS)
    assert english == sorted(english)
    assert {c.en for c in concepts.CONCEPTS} | {en for en, _ in concepts.EXTRA_TERMS} == {r["English"] for r in rows}
    assert concepts.glossary_markdown().count("\n") == len(rows) + 1
