"""``bmcourse bench distill``: the course's CoNLL-2003 tagger (the teacher) distilled into a student
cut to its first layers, against the same student trained on the gold labels only with the same
recipe and seed; entity F1 on the real test set, parameters, size on disk and CPU latency of all three.
"""
from __future__ import annotations

import time
from typing import Any

import torch

from .common import Phases, require_real_data

#: The distillation settings of the shipped reference (and the notebook's defaults).
STUDENT_LAYERS = 2
TEMPERATURE = 2.0
ALPHA = 0.5


def bench_distill(*, layers: int = STUDENT_LAYERS, temperature: float = TEMPERATURE, alpha: float = ALPHA,
                  name: str = "auto", latency_sentences: int = 200, rounds: int = 3, device: str | None = None,
                  progress: bool = True) -> dict[str, Any]:
    """Teacher (the cached CoNLL-2003 source tagger), student distilled, student on gold: one JSON payload."""
    from .. import reference
    from ..config import device as default_device
    from ..config import seed_everything
    from ..data import load_ner, source_label
    from ..deploy.distill import checkpoint_layers, distil, measure_taggers, truncated_student
    from ..models import label_names, model_info
    from ..train import encode_ner, fit
    from ..transfer import SourceRecipe, source_tagger

    require_real_data(("conll2003",), "the distillation benchmark (teacher, students and test F1)")
    phases, start = Phases(), time.perf_counter()
    recipe = SourceRecipe()
    teacher, tokenizer, info = source_tagger(recipe, name=name, progress=progress, device=device)
    labels = label_names(teacher)
    start = phases.add("teacher", start)
    conll = load_ner("conll2003")
    train = encode_ner(conll["train"], tokenizer, quiet=True)
    test = encode_ner(conll["test"], tokenizer, training=False, quiet=True)
    students, fits = {}, {}
    for kind in ("distilled", "gold"):
        seed_everything(recipe.seed)  # the same start for both students
        student, _ = truncated_student(labels, layers, name=name, **recipe.dropout_overrides())
        config = recipe.config(progress=progress, device=device)
        if kind == "distilled":
            fits[kind] = distil(student, teacher, train, None, config, temperature=temperature, alpha=alpha)
        else:
            fits[kind] = fit(student, train, None, config)
        students[f"student-{kind}"] = student.eval()
        start = phases.add(f"student_{kind}", start)
    models = {"teacher": teacher.eval(), **students}
    rows = measure_taggers(models, test, latency_sentences=latency_sentences, rounds=rounds, progress=progress)
    phases.add("measure", start)
    for row in rows:
        kind = row["model"].removeprefix("student-")
        if kind in fits:
            row["train_seconds"] = round(fits[kind].train_seconds, 1)
    return {
        "benchmark": "distill",
        "rows": rows,
        "settings": {"student_layers": layers, "teacher_layers": checkpoint_layers(name),
                     "student_init": "the pre-trained checkpoint's embeddings and first layers, a fresh head",
                     "temperature": temperature, "alpha": alpha,
                     "loss": "alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(gold), on first sub-words",
                     "recipe": info["recipe"], "decode": "viterbi", "latency_sentences": latency_sentences,
                     "latency": "model call only, batch 1, CPU, after 10 warm-up calls; median of the rounds' p50 "
                                "and p95, rounds taking the taggers in turn",
                     "rounds": rounds, "torch_threads": torch.get_num_threads(),
                     "train_device": str(device or default_device())},
        "teacher": {"cache_key": info["key"], "trained_now": not info["cached"]},
        "data": {"train_sentences": conll["train"].num_rows, "test_sentences": conll["test"].num_rows},
        "phase_seconds": phases.seconds,
        "device": "cpu",
        **reference.provenance(model=model_info(name), data_source=source_label("conll2003", kind="ner"),
                               command=reference.command_line()),
    }
