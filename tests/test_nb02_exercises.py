"""Notebook 02's exercises, run from the notebook source itself (see ``tests/nbsource.py``).

Each exercise asks for a function. For each: the placeholder is "not answered"; the reference
solution passes the self-check (the visible example) and the hidden test (fresh inputs drawn at
grading time, silently, without a model, data or training); the named wrong answers fail both (the
articles' bug of labelling padding O among them); an answer that calls the function the exercise
rules out (``spans``, seqeval, ``bmcourse.metrics``, the package's alignment, collator and reader)
fails the hidden test with ``ForbiddenCall``; and the "value in view" shortcut (a function returning
the visible example's answer) passes the self-check but fails the hidden test.
"""
from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Callable

import jupytext
import nbsource
import pytest
import torch

NB = "02"
#: exercise -> (the function's name, its points), in reading order
EXERCISES = {"02.1": ("count_entities", 1), "02.2": ("align_all_subwords", 2), "02.3": ("collate_batch", 2),
             "02.4": ("padding_share", 1), "02.5": ("train_step", 2), "02.6": ("entity_prf", 3),
             "02.7": ("all_o_articles_f1", 2), "02.8": ("gold_category", 2), "02.9": ("first_subword_tags", 1)}
#: what the hidden test says when the answer returns something of the wrong kind
WRONG_KIND = {"02.1": "expected a dict", "02.3": "expected a dict", "02.8": "expected one of the category names"}
#: the section each exercise ends (the notebook's "## N ·" headings), in reading order
SECTIONS = {"02.1": 1, "02.2": 2, "02.3": 3, "02.4": 3, "02.5": 4, "02.6": 5, "02.7": 6, "02.8": 7, "02.9": 8}


EX = nbsource.Exercises(NB, EXERCISES)
squash, the_exercise = nbsource.squash, nbsource.the_exercise
solved, answered, self_check, hidden = EX.solved, EX.answered, EX.self_check, EX.hidden
fails_hidden, passes_self_check_fails_hidden = EX.fails_hidden, EX.passes_self_check_fails_hidden
fails_both = EX.fails_both


def reference(exercise_id: str) -> Callable:
    """The reference solution's function."""
    return solved(exercise_id)[EXERCISES[exercise_id][0]]


def table_of_visible_answers(exercise_id: str, cases: list[tuple]) -> Callable:
    """A function that returns the reference's answer on each visible case and nothing else: what a
    learner who copies the values in view writes."""
    ref = reference(exercise_id)
    table = {repr(args): ref(*args) for args in cases}
    return lambda *args: table[repr(args)]


# ---------------------------------------------------------------- every exercise


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_exercise_cell_runs_alone_keeps_the_placeholder_and_sets_the_points(exercise_id: str) -> None:
    name, points = EXERCISES[exercise_id]
    ns = nbsource.exercise(NB, exercise_id)
    exercise = the_exercise(ns, exercise_id)
    assert exercise.attempts == 0 and len(exercise.hints) >= 2 and exercise.points == points
    assert exercise.checker.expects == "a function"
    assert re.search(rf"^{name} = \.\.\.$", nbsource.exercise_cell(NB, exercise_id), flags=re.MULTILINE)
    assert re.search(rf"^def {name}\(", nbsource.solution_cell(NB, exercise_id), flags=re.MULTILINE)
    assert squash(nbsource.check_cell(NB, exercise_id)) == f"ex{exercise_id[-1]}.check({name})"


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_placeholder_is_not_answered_and_the_reference_passes(exercise_id: str) -> None:
    nbsource.check_placeholder_then_solution(NB, exercise_id, f"ex{exercise_id[-1]}", EXERCISES[exercise_id][0])


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_reference_passes_the_hidden_test_silently(exercise_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    ns = solved(exercise_id)
    before, rng_state = dict(ns), torch.get_rng_state()
    for _ in range(20):  # fresh inputs each time
        nbsource.run_hidden_test(NB, exercise_id, ns)
    assert capsys.readouterr() == ("", "")  # nbval compares stored outputs: a hidden test prints nothing
    assert torch.equal(torch.get_rng_state(), rng_state)  # later cells' random draws are unchanged
    # it binds one name (its own function) and rebinds none: the notebook's `spans`, `labels`... are safe
    assert len(set(ns) - set(before)) == 1 and all(ns[key] is value for key, value in before.items())


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_hidden_test_needs_no_model_data_or_training(exercise_id: str) -> None:
    source = nbsource.hidden_test_cell(NB, exercise_id)
    for heavy in ("load_ner", "load_token_classifier", "tokenizer", "fit(", "model", "ner["):
        assert heavy not in source, f"{exercise_id}'s hidden test uses {heavy}"
    assert "fresh_rng()" in source


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_placeholder_a_value_and_a_wrong_function_fail_the_hidden_test(exercise_id: str) -> None:
    assert "expected a function" in fails_hidden(exercise_id, "")  # the placeholder `name = ...` left as it is
    assert "expected a function" in fails_hidden(exercise_id, f"{EXERCISES[exercise_id][0]} = 0.25")
    assert WRONG_KIND.get(exercise_id, "expected numbers") in fails_hidden(exercise_id, lambda *args: ...)
    with pytest.raises(ZeroDivisionError):  # an error in the answer fails the test cell (nbgrader: 0 points)
        hidden(exercise_id, lambda *args: 1 / 0)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_self_check_explains_a_value_or_an_error_without_a_traceback(exercise_id: str) -> None:
    not_a_function = self_check(exercise_id, f"{EXERCISES[exercise_id][0]} = 0.25")
    assert not not_a_function.passed and "expected a function, got a float" in not_a_function.message
    raising = self_check(exercise_id, lambda *args: 1 / 0)
    assert not raising.passed and "your function raised ZeroDivisionError" in raising.message
    wrong_kind = self_check(exercise_id, lambda *args: "0.1")
    assert not wrong_kind.passed and "expected" in wrong_kind.message


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_self_check_works_on_a_copy_of_the_example(exercise_id: str) -> None:
    """An answer that changes its arguments in place leaves the visible example as it was."""
    ns = solved(exercise_id)
    example = {k: repr(v) for k, v in ns.items() if k.startswith(f"ex{exercise_id[-1]}_")}

    def vandal(*args):
        for arg in args:
            if isinstance(arg, (list, dict)):
                arg.clear()
        return ns[EXERCISES[exercise_id][0]](*args)

    assert not the_exercise(ns, exercise_id).check(vandal).passed
    assert example and example == {k: repr(ns[k]) for k in example}


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_last_hint_explains_without_giving_the_solution_line(exercise_id: str) -> None:
    ns = nbsource.exercise(NB, exercise_id)
    hints = squash(" ".join(the_exercise(ns, exercise_id).hints))
    for line in nbsource.solution_cell(NB, exercise_id).splitlines():
        code = line.split("=", 1)[-1] if "=" in line and "==" not in line else line
        code = code.strip().removeprefix("return ")
        if len(squash(code)) > 12:
            assert squash(code) not in hints, f"{exercise_id}: a hint contains the solution code {code.strip()!r}"


def test_no_solution_or_hidden_test_line_appears_in_another_cell() -> None:
    """``bmcourse assign`` refuses a release in which a line (over 24 characters) of a solution or a
    hidden test appears: none may also be written in a cell the learner gets."""
    nb = jupytext.read(nbsource.NOTEBOOKS / "02_ner_finetuning.py", fmt="py:percent")
    secret = [i for i, c in enumerate(nb.cells) if {"solution", "hidden-test"} & set(c.metadata.get("tags", ()))]
    assert len(secret) == 2 * len(EXERCISES)
    for index in secret:
        for line in nb.cells[index].source.splitlines():
            if len(line.strip()) > 24:
                elsewhere = [i for i, c in enumerate(nb.cells) if i not in secret and line.strip() in c.source]
                assert not elsewhere, f"{line.strip()!r} is also in cell {elsewhere}"


def test_exercises_are_numbered_in_reading_order_and_end_their_sections() -> None:
    """Exercise K is the K-th in reading order; after the last exercise of a section (its hidden
    test) the next cell starts the next section, and every section 1-8 has one."""
    nb = jupytext.read(nbsource.NOTEBOOKS / "02_ner_finetuning.py", fmt="py:percent")
    section, found, last_cell = 0, [], {}
    for index, cell in enumerate(nb.cells):
        heading = re.match(r"## (\d+) ·", cell.source)
        if cell.cell_type == "markdown" and heading:
            section = int(heading.group(1))
        built = re.search(r'Exercise\("(02\.\d)"', cell.source)
        if built:
            found.append((built.group(1), section))
        if "hidden-test" in cell.metadata.get("tags", ()):
            last_cell[section] = index
    assert found == list(SECTIONS.items())
    assert set(SECTIONS.values()) == set(range(1, 9))
    for section, index in last_cell.items():
        following = nb.cells[index + 1]
        assert following.cell_type == "markdown" and following.source.startswith(f"## {section + 1} ·"), section


def test_no_exercise_cell_holds_an_expected_value() -> None:
    """The expected values are computed inside the self-checks, when they run: no global of the
    exercise cells holds one (the old `_ex1_counts`, `_ex3_masks`, `_ex4`)."""
    for exercise_id in EXERCISES:
        ns = nbsource.exercise(NB, exercise_id)
        assert not [k for k in ns if re.match(r"_ex\d", k)], exercise_id


# ---------------------------------------------------------------- 02.1


def words_per_type(sentences):
    """Counts tagged words, not entities."""
    return dict(Counter(t[2:] for tags in sentences for t in tags if t != "O"))


def test_02_1_counting_tagged_words_fails() -> None:
    result = fails_both("02.1", words_per_type)
    assert "💡" in result.message and not re.search(r"\d", result.message.split("💡")[0].split(":", 1)[1])


def test_02_1_zero_counts_and_a_counter_are_fine() -> None:
    ref = reference("02.1")
    hidden("02.1", lambda s: Counter(ref(s)))
    hidden("02.1", lambda s: {"PER": 0, "ORG": 0, "LOC": 0, "MISC": 0, **ref(s)})


def test_02_1_with_spans_seqeval_hard_coded_types_or_in_view_gets_no_points() -> None:
    passes_self_check_fails_hidden("02.1", "def count_entities(sentences):\n"
                                           "    return dict(Counter(s.type for t in sentences for s in spans(t)))",
                                   forbidden=True)  # the setup cell's `spans`
    passes_self_check_fails_hidden("02.1", "from bmcourse.metrics import per_type_report\n"
                                           "count_entities = lambda s: {r['type']: r['support'] for r in "
                                           "per_type_report(s, s)[:-2]}", forbidden=True)
    passes_self_check_fails_hidden("02.1", "from seqeval.metrics.sequence_labeling import get_entities\n"
                                           "count_entities = lambda s: dict(Counter(e[0] for e in get_entities(s)))",
                                   forbidden=True)
    passes_self_check_fails_hidden("02.1", "import bmcourse.widgets\ncount_entities = lambda s: dict(Counter("
                                           "x.type for t in s for x in bmcourse.widgets.spans(t)))", forbidden=True)
    conll_only = lambda s: {k: sum(t == f"B-{k}" for tags in s for t in tags)  # noqa: E731
                            for k in ("PER", "ORG", "LOC", "MISC")}
    passes_self_check_fails_hidden("02.1", conll_only, forbidden=False)  # grading draws other types too
    shown = reference("02.1")(solved("02.1")["ex1_sentences"])
    passes_self_check_fails_hidden("02.1", lambda s: shown, forbidden=False)


# ---------------------------------------------------------------- 02.2


def first_only(word_ids, word_labels, label_names):
    out, previous = [], None
    for w in word_ids:
        out.append(-100 if w is None or w == previous else word_labels[w])
        previous = w
    return out


def plus_one(word_ids, word_labels, label_names):
    """B-X -> I-X as "the next id": true of CoNLL's label order only."""
    out, previous = [], None
    for w in word_ids:
        if w is None:
            out.append(-100)
        elif w == previous and label_names[word_labels[w]].startswith("B-"):
            out.append(word_labels[w] + 1)
        else:
            out.append(word_labels[w])
        previous = w
    return out


def test_02_2_first_subword_only_and_b_on_continuations_fail() -> None:
    result = fails_both("02.2", first_only)
    assert "sub-word" in result.message and "case 0" in result.message
    fails_both("02.2", lambda word_ids, word_labels, names: [-100 if w is None else word_labels[w] for w in word_ids])
    fails_both("02.2", lambda word_ids, word_labels, names: [word_labels[w] if w is not None else 0 for w in word_ids])


def test_02_2_with_align_labels_next_id_or_in_view_gets_no_points() -> None:
    passes_self_check_fails_hidden("02.2", "from bmcourse.tagging import align_labels, inside_label_ids\n"
                                           "align_all_subwords = lambda w, l, n: align_labels(w, l, True, "
                                           "inside_label_ids(n))", forbidden=True)
    passes_self_check_fails_hidden("02.2", "from bmcourse.tagging import align_labels\n"
                                           "def align_all_subwords(w, l, n):\n"
                                           "    inside = [n.index('I-' + x[2:]) if x[:2] == 'B-' else i "
                                           "for i, x in enumerate(n)]\n"
                                           "    return align_labels(w, l, True, inside)", forbidden=True)
    passes_self_check_fails_hidden("02.2", plus_one, forbidden=False)  # grading orders its labels otherwise
    ns = solved("02.2")
    cases = [(wids, labels_, ns["ex2_labels"]) for wids, labels_ in ns["ex2_cases"]]
    passes_self_check_fails_hidden("02.2", table_of_visible_answers("02.2", cases), forbidden=False)


# ---------------------------------------------------------------- 02.3


def padded(features, fills, as_tensor=True, width=None):
    width = width or max(len(f["input_ids"]) for f in features)
    batch = {k: [list(f[k]) + [v] * (width - len(f[k])) for f in features] for k, v in fills.items()}
    return {k: torch.tensor(v) for k, v in batch.items()} if as_tensor else batch


def collate_with(**changes):
    """A collator padding with the right values, except ``changes`` (``input_ids=None``: use pad_id)."""
    def collate_batch(features, pad_id):
        fills = {"input_ids": pad_id, "attention_mask": 0, "labels": -100, **changes}
        return padded(features, {k: pad_id if v is None else v for k, v in fills.items()})
    return collate_batch


def test_02_3_collate_wrong_padding_fails() -> None:
    labels_as_o = fails_both("02.3", collate_with(labels=0))  # padding labelled O: the articles' bug
    assert "labels" in labels_as_o.message and "padding positions" in labels_as_o.message
    fails_both("02.3", collate_with(input_ids=0))  # hard-coded pad id (BERT's)
    fails_both("02.3", collate_with(attention_mask=1))
    lists = fails_both("02.3", lambda features, pad_id: padded(
        features, {"input_ids": pad_id, "attention_mask": 0, "labels": -100}, as_tensor=False))
    assert "tensor" in lists.message
    fixed = fails_both("02.3", lambda features, pad_id: padded(
        features, {"input_ids": pad_id, "attention_mask": 0, "labels": -100}, width=128))  # the articles' 128
    assert "shape" in fixed.message
    floats = fails_both("02.3", lambda features, pad_id: {k: v.float() for k, v in collate_with()(features, pad_id)
                                                          .items()})
    assert "integer" in floats.message
    assert self_check("02.3", collate_with()).passed
    hidden("02.3", collate_with())


def test_02_3_with_the_package_collator_a_fixed_pad_id_or_in_view_gets_no_points() -> None:
    passes_self_check_fails_hidden("02.3", "from bmcourse.train import collate\n"
                                           "collate_batch = lambda f, pad_id: collate(f, pad_id=pad_id)", forbidden=True)
    passes_self_check_fails_hidden("02.3", "import bmcourse.train.features\n"
                                           "collate_batch = bmcourse.train.features.collate", forbidden=True)
    passes_self_check_fails_hidden("02.3", collate_with(input_ids=1), forbidden=False)  # RoBERTa's, the example's
    shown = reference("02.3")(solved("02.3")["ex3_features"], 1)
    passes_self_check_fails_hidden("02.3", lambda features, pad_id: shown, forbidden=False)


# ---------------------------------------------------------------- 02.4


def test_02_4_real_share_and_dynamic_padding_fail() -> None:
    fails_both("02.4", lambda lengths, width: sum(lengths) / (width * len(lengths)))  # the real share
    fails_both("02.4", lambda lengths, width: 1 - sum(lengths) / (max(lengths) * len(lengths)))  # dynamic padding
    fails_both("02.4", lambda lengths, width: 1 - sum(lengths) / width)  # forgot the number of sentences
    result = self_check("02.4", lambda lengths, width: 0.5)
    assert not result.passed and "not close enough to the expected value" in result.message


def test_02_4_for_the_example_only_or_with_the_notebooks_padding_fraction_gets_no_points() -> None:
    shown = reference("02.4")([5, 12, 9, 30], 32)
    passes_self_check_fails_hidden("02.4", lambda lengths, width: shown, forbidden=False)  # was: a constant
    passes_self_check_fails_hidden("02.4", lambda lengths, width: 1 - sum(lengths) / (32 * len(lengths)),
                                   forbidden=False)  # the example's width
    passes_self_check_fails_hidden("02.4", lambda lengths, width: 1 - sum(lengths) / (width * 4),
                                   forbidden=False)  # the example's number of sentences
    # padding_fraction is defined in a cell that grading does not run: calling it fails there
    answer = "padding_share = lambda lengths, width: padding_fraction([range(len(lengths))], lengths, fixed=width)"
    message = fails_hidden("02.4", answer)
    assert "padding_fraction" in message


# ---------------------------------------------------------------- 02.5


def step_with(*, backward=True, update=True, clear=True, clear_first=False, loss_after=False):
    """A training step with one part left out, done in the wrong order, or returning the wrong loss."""
    def train_step(model, batch, optimizer):
        loss = model(**batch).loss
        if backward:
            loss.backward()
        if clear_first:
            optimizer.zero_grad()
        if update:
            optimizer.step()
        if clear and not clear_first:
            optimizer.zero_grad()
        return model(**batch).loss.item() if loss_after else loss.item()
    return train_step


def test_02_5_a_step_without_backward_update_or_reset_fails() -> None:
    for wrong in (step_with(clear=False),  # gradients add up from step to step
                  step_with(update=False), step_with(backward=False),
                  step_with(clear_first=True),  # cleared between backward and the update: no update
                  step_with(loss_after=True)):  # the loss after the update
        result = fails_both("02.5", wrong)
        assert "step" in result.message or "weights" in result.message
    assert "weights differ" in self_check("02.5", step_with(clear=False)).message
    assert self_check("02.5", step_with()).passed
    hidden("02.5", step_with())  # the test's own correct step passes too
    hidden("02.5", lambda model, batch, optimizer: step_with()(model, batch, optimizer) * 1.0)


def test_02_5_returning_the_loss_tensor_is_fine_and_sgd_is_not() -> None:
    def tensor_loss(model, batch, optimizer):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss.detach()
    assert self_check("02.5", tensor_loss).passed
    hidden("02.5", tensor_loss)

    def own_sgd(model, batch, optimizer):  # ignores the optimiser it is given
        loss = model(**batch).loss
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.05 * p.grad
                p.grad = None
        return loss.item()
    fails_both("02.5", own_sgd)


def test_02_5_the_reference_route_is_torch_adamw() -> None:
    """steps_by_formula (the setup cell's other route) equals torch.optim.AdamW on TinyTagger."""
    ns = solved("02.5")
    torch.manual_seed(3)
    start = ns["TinyTagger"](20, 6, 5)
    batches = ns["ex5_batches"]
    want_losses, want_weights = ns["steps_by_formula"](copy.deepcopy(start), copy.deepcopy(batches), 0.02)
    tagger = copy.deepcopy(start)
    optimizer = torch.optim.AdamW(tagger.parameters(), lr=0.02)
    losses = [ns["train_step"](tagger, copy.deepcopy(b), optimizer) for b in batches]
    assert losses == pytest.approx(want_losses, rel=1e-6)
    assert all(torch.allclose(w, v, rtol=1e-5, atol=1e-7) for w, v in zip(tagger.parameters(), want_weights))


# ---------------------------------------------------------------- 02.6


def read_spans(tags, strict=False):
    """One sentence's (type, start, end) entities, written out here (``spans`` is forbidden in 02.6):
    a stray I-X starts an entity as in seqeval's default mode, or is dropped as in its strict mode."""
    found, kind, start = [], None, 0
    for j, tag in enumerate(list(tags) + ["O"]):
        prefix, name = tag[:1], tag[2:]
        if kind is not None and (prefix != "I" or name != kind):
            found.append((kind, start, j))
            kind = None
        if kind is None and (prefix == "B" or (prefix == "I" and not strict)):
            kind, start = name, j
    return found


def span_sets(gold, pred, strict=False):
    """Gold and predicted (sentence, type, start, end) sets."""
    return tuple({(i, *s) for i, tags in enumerate(sentences) for s in read_spans(tags, strict)}
                 for sentences in (gold, pred))


def counts_prf(gold, pred, strict=False, f1=lambda p, r: 2 * p * r / (p + r) if p + r else 0.0, guard=True):
    g, p = span_sets(gold, pred, strict)
    correct = len(g & p)
    precision = correct / len(p) if p or not guard else 0.0
    recall = correct / len(g) if g or not guard else 0.0
    return precision, recall, f1(precision, recall)


def token_prf(gold, pred):
    """Token-level micro precision, recall, F1 over the non-O tags (a common wrong answer)."""
    pairs = [(g, p) for gs, ps in zip(gold, pred) for g, p in zip(gs, ps)]
    tp = sum(g == p and g != "O" for g, p in pairs)
    precision, recall = tp / sum(p != "O" for _, p in pairs), tp / sum(g != "O" for g, _ in pairs)
    return precision, recall, 2 * precision * recall / (precision + recall)


def test_02_6_the_example_separates_precision_from_recall() -> None:
    ns = solved("02.6")
    for pred in (ns["ex6_pred"], ns["ex6_pred_stray"]):
        p, r, _ = ns["entity_prf"](ns["ex6_gold"], pred)
        assert abs(p - r) > 0.1
    assert counts_prf(ns["ex6_gold"], ns["ex6_pred_stray"]) != counts_prf(ns["ex6_gold"], ns["ex6_pred_stray"], True)
    hidden("02.6", counts_prf)  # the test's own implementation agrees with seqeval on the drawn inputs


def test_02_6_precision_recall_mixups_token_f1_and_strict_spans_fail() -> None:
    ns = solved("02.6")
    p, r, f1 = ns["entity_prf"](ns["ex6_gold"], ns["ex6_pred"])
    for wrong in (lambda g, q: counts_prf(g, q)[:2] + (counts_prf(g, q)[0],),  # F1 = precision
                  lambda g, q: counts_prf(g, q)[:2] + (counts_prf(g, q)[1],),  # F1 = recall
                  lambda g, q: (counts_prf(g, q)[1], counts_prf(g, q)[0], counts_prf(g, q)[2]),  # swapped
                  lambda g, q: counts_prf(g, q, f1=lambda a, b: (a + b) / 2),  # arithmetic mean
                  token_prf,  # per token, not per entity
                  lambda g, q: counts_prf(g, q, strict=True)):  # a stray I- starts no entity
        result = fails_both("02.6", wrong)
        assert f"{f1:.4f}" not in result.message and f"{f1:.3f}" not in result.message
    single = self_check("02.6", lambda g, q: counts_prf(g, q)[2])
    assert not single.passed and "shape mismatch" in single.message


def test_02_6_with_spans_seqeval_bmcourse_metrics_without_zero_guard_or_in_view_gets_no_points() -> None:
    passes_self_check_fails_hidden("02.6", "from bmcourse.metrics import entity_scores\n"
                                           "def entity_prf(g, p):\n"
                                           "    s = entity_scores(g, p)\n"
                                           "    return s['precision'], s['recall'], s['f1']", forbidden=True)
    passes_self_check_fails_hidden("02.6", "from seqeval.metrics import f1_score, precision_score, recall_score\n"
                                           "entity_prf = lambda g, p: (precision_score(g, p), recall_score(g, p), "
                                           "f1_score(g, p))", forbidden=True)
    with_spans = ("def entity_prf(gold, pred):\n"  # the setup cell's `spans`, then the ratios by hand
                  "    g = {(i, *s) for i, t in enumerate(gold) for s in spans(t)}\n"
                  "    p = {(i, *s) for i, t in enumerate(pred) for s in spans(t)}\n"
                  "    c = len(g & p)\n"
                  "    return c / len(p), c / len(g), 2 * c / (len(p) + len(g))")
    passes_self_check_fails_hidden("02.6", with_spans, forbidden=True)

    def with_package_ratios(gold, pred):
        from bmcourse.metrics import precision_recall_f1

        g, p = span_sets(gold, pred)
        return precision_recall_f1(len(g & p), len(p), len(g))

    passes_self_check_fails_hidden("02.6", with_package_ratios, forbidden=True)
    no_guard = lambda gold, pred: counts_prf(gold, pred, guard=False)  # noqa: E731 - 0/0 on a prediction without entities
    passes_self_check_fails_hidden("02.6", no_guard, forbidden=False)
    with pytest.raises(ZeroDivisionError):
        hidden("02.6", no_guard)
    ns = solved("02.6")
    cases = [(ns["ex6_gold"], ns["ex6_pred"]), (ns["ex6_gold"], ns["ex6_pred_stray"])]
    passes_self_check_fails_hidden("02.6", table_of_visible_answers("02.6", cases), forbidden=False)


# ---------------------------------------------------------------- 02.7


def laid_out(sentences, max_len):
    return [(list(t) + ["O"] * max_len)[:max_len] for t in sentences]


def test_02_7_words_only_no_cut_and_per_sentence_means_fail() -> None:
    o_share_of_words = lambda s, n: sum(t == "O" for x in s for t in x) / sum(map(len, s))  # noqa: E731 - no padding
    not_cut = lambda s, n: 1 - sum(t != "O" for x in s for t in x) / (n * len(s))  # noqa: E731
    per_sentence = lambda s, n: sum(x.count("O") / n for x in laid_out(s, n)) / len(s) + 0.01  # noqa: E731
    entity_f1 = lambda s, n: 0.0  # noqa: E731 - the honest metric, not the articles'
    for wrong in (o_share_of_words, not_cut, per_sentence, entity_f1):
        fails_both("02.7", wrong)
    ns = solved("02.7")  # the example's long sentence has entities beyond max_len: not cutting shows
    assert not_cut(ns["ex7_sentences"], ns["ex7_max_len"]) != reference("02.7")(ns["ex7_sentences"], ns["ex7_max_len"])


def test_02_7_with_the_package_token_scores_or_in_view_gets_no_points_and_sklearn_is_fine() -> None:
    passes_self_check_fails_hidden("02.7", "from bmcourse.metrics import token_f1_with_o\n"
                                           "def all_o_articles_f1(s, n):\n"
                                           "    gold = [(list(t) + ['O'] * n)[:n] for t in s]\n"
                                           "    return token_f1_with_o(gold, [['O'] * n for _ in gold])", forbidden=True)
    shown = reference("02.7")(solved("02.7")["ex7_sentences"], 8)
    passes_self_check_fails_hidden("02.7", lambda s, n: shown, forbidden=False)

    def with_sklearn(sentences, max_len):  # the articles' own tool: allowed
        from sklearn.metrics import f1_score
        gold = [t for x in laid_out(sentences, max_len) for t in x]
        return f1_score(gold, ["O"] * len(gold), average="micro")
    assert self_check("02.7", with_sklearn).passed
    hidden("02.7", with_sklearn)


# ---------------------------------------------------------------- 02.8


def test_02_8_each_case_has_its_own_category_and_mixups_fail() -> None:
    ns = solved("02.8")
    assert sorted(ns["gold_category"](*case) for case in ns["ex8_cases"]) == sorted(ns["ex8_names"])

    def exact_only(gold_span, pred_spans):  # no overlaps: every near miss counts as missed
        for kind, start, end in pred_spans:
            if (start, end) == gold_span[1:]:
                return "correct" if kind == gold_span[0] else "wrong type"
        return "missed"

    def touching(gold_span, pred_spans):  # end treated as inclusive: neighbours overlap
        kind, start, end = gold_span
        near = [k for k, s, e in pred_spans if s <= end and start <= e]
        exact = [k for k, s, e in pred_spans if (s, e) == (start, end)]
        if exact:
            return "correct" if exact[0] == kind else "wrong type"
        return "wrong boundary" if kind in near else "wrong type and boundary" if near else "missed"

    def type_first(gold_span, pred_spans):  # any prediction of the gold type counts as correct
        return "correct" if any(k == gold_span[0] for k, _, _ in pred_spans) else reference("02.8")(gold_span, pred_spans)

    for wrong in (exact_only, touching, type_first):
        fails_both("02.8", wrong)
    not_a_name = self_check("02.8", lambda g, p: "boundary")
    assert not not_a_name.passed and "expected one of the category names" in not_a_name.message


def test_02_8_with_error_categories_or_in_view_gets_no_points() -> None:
    passes_self_check_fails_hidden("02.8", "from bmcourse.metrics import error_categories\n"
                                           "def gold_category(g, p):\n"
                                           "    def tags(es):\n"
                                           "        t = ['O'] * 20\n"
                                           "        for k, s, e in es:\n"
                                           "            t[s:e] = ['B-' + k] + ['I-' + k] * (e - s - 1)\n"
                                           "        return t\n"
                                           "    found = error_categories([['w'] * 20], [tags([g])], [tags(p)])\n"
                                           "    return next(n for n, v in found.items() if v['count'] and n != 'spurious')",
                                   forbidden=True)
    passes_self_check_fails_hidden("02.8", table_of_visible_answers("02.8", solved("02.8")["ex8_cases"]),
                                   forbidden=False)


# ---------------------------------------------------------------- 02.9


def last_subword(word_ids, predictions, n_words):
    out = [0] * n_words
    for w, p in zip(word_ids, predictions):
        if w is not None:
            out[w] = p
    return out


def test_02_9_last_subword_no_none_skipping_and_no_cut_off_words_fail() -> None:
    def no_skip(word_ids, predictions, n_words):  # a new word id starts a word, None included
        out, previous = [], object()
        for w, p in zip(word_ids, predictions):
            if w != previous:
                out.append(p)
            previous = w
        return out

    def shifted(word_ids, predictions, n_words):  # reads position i for word i, as if no [CLS]
        return (list(predictions) + [0] * n_words)[:n_words]

    def seen_words_only(word_ids, predictions, n_words):  # forgets the words cut off by truncation
        return reference("02.9")(word_ids, predictions, 1 + max(w for w in word_ids if w is not None))

    for wrong in (last_subword, no_skip, shifted, seen_words_only):
        result = fails_both("02.9", wrong)
        assert "case" in result.message, wrong.__name__
    cases = solved("02.9")["ex9_cases"]  # the made-up cases really separate first from last sub-word
    assert any(last_subword(*case) != reference("02.9")(*case) for case in cases)


def test_02_9_with_word_predictions_first_subword_positions_or_in_view_gets_no_points() -> None:
    passes_self_check_fails_hidden("02.9", "from bmcourse.tagging import word_predictions\n"
                                           "first_subword_tags = lambda w, p, n: word_predictions(w, p, n_words=n)",
                                   forbidden=True)
    passes_self_check_fails_hidden("02.9", "from bmcourse.tagging import first_subword_positions\n"
                                           "def first_subword_tags(w, p, n):\n"
                                           "    tags = [p[i] for i in first_subword_positions(w)]\n"
                                           "    return tags + [0] * (n - len(tags))", forbidden=True)
    passes_self_check_fails_hidden("02.9", table_of_visible_answers("02.9", solved("02.9")["ex9_cases"]),
                                   forbidden=False)
