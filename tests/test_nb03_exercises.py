"""Notebook 03's exercises, run from the notebook source itself (see ``tests/nbsource.py``).

Each exercise asks for a function. For each: the placeholder is "not answered"; the reference
solution passes the self-check (the notebook's visible example) and the hidden test (inputs made up
at grading time: tags, parameter names, configurations, result rows; silently, with no model,
data or training); the named wrong answers fail; an answer that calls the package function the
exercise rules out fails the hidden test with ``ForbiddenCall``; and the "value in view" shortcut
(a function returning the visible example's answer, or one written for the visible example only)
passes the self-check but fails the hidden test.
"""
from __future__ import annotations

import re
import statistics
from typing import Any

import jupytext
import nbsource
import pytest
import torch

from bmcourse import transfer as tr

NB = "03"
# 03.4's exercise cell wraps the real model with peft, as section 3 does (there the warning shows once)
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
#: exercise -> (the function's name, its points)
EXERCISES = {"03.1": ("to_source_tags", 2), "03.2": ("lora_forward", 2), "03.3": ("bitfit_names", 1), "03.4": ("lora_params", 2),
             "03.5": ("lora_gap", 1), "03.6": ("source_gain", 2), "03.7": ("recovered", 1),
             "03.8": ("penalty", 1)}


EX = nbsource.Exercises(NB, EXERCISES)
squash, the_exercise = nbsource.squash, nbsource.the_exercise
solved, answered, self_check, hidden = EX.solved, EX.answered, EX.self_check, EX.hidden
fails_hidden, passes_self_check_fails_hidden = EX.fails_hidden, EX.passes_self_check_fails_hidden
fails_both = EX.fails_both


def visible_answer(exercise_id: str) -> Any:
    """What the reference solution returns on the exercise's visible example (a learner can compute it)."""
    ns = solved(exercise_id)
    if exercise_id == "03.1":
        return {tuple(s): ns["to_source_tags"](s, ns["ex1_mapping"]) for s in ns["ex1_sentences"]}
    args = {"03.2": lambda: (ns["ex2_x"], ns["ex2_base"], ns["ex2_A"], ns["ex2_B"], ns["ex2_alpha"]),
            "03.3": lambda: (ns["ex3_names"],), "03.4": lambda: (ns["ex4_config"], tr.LORA_RANK),
            "03.5": lambda: (ns["REF"]["rows"],), "03.6": lambda: (ns["REF"]["few_shot"],),
            "03.7": lambda: (ns["REF"]["forgetting"],),
            "03.8": lambda: (ns["ex8_theta"], ns["ex8_anchor"], ns["ex8_fisher"], ns["EX8_LAM"])}[exercise_id]()
    return ns[EXERCISES[exercise_id][0]](*args)


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
    ex, name = f"ex{exercise_id[-1]}", EXERCISES[exercise_id][0]
    nbsource.check_placeholder_then_solution(NB, exercise_id, ex, name)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_reference_passes_the_hidden_test_silently(exercise_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    ns = solved(exercise_id)
    before, rng_state = dict(ns), torch.get_rng_state()
    for _ in range(5):  # fresh inputs each time
        nbsource.run_hidden_test(NB, exercise_id, ns)
    assert capsys.readouterr() == ("", "")  # nbval compares stored outputs: a hidden test prints nothing
    assert torch.equal(torch.get_rng_state(), rng_state)  # later cells' random draws are unchanged (03.4's tiny model)
    # it binds one name (its own function) and rebinds none: the notebook's REF, ex3_model... are safe
    assert len(set(ns) - set(before)) == 1 and all(ns[key] is value for key, value in before.items())


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_grading_needs_no_model_no_data_and_no_training(exercise_id: str) -> None:
    source = nbsource.hidden_test_cell(NB, exercise_id)
    for heavy in ("load_token_classifier", "from_pretrained", "load_ner", "source_tagger", "adapt(", "forgetting(",
                  "few_shot(", "reference.load", "REF", "ex2_model", "ex2_peft", "ex3_model", "ex4_model"):
        assert heavy not in source, f"{exercise_id}'s hidden test uses {heavy}"


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_placeholder_a_value_and_a_wrong_function_fail_the_hidden_test(exercise_id: str) -> None:
    assert "expected a function" in fails_hidden(exercise_id, "")  # the placeholder `name = ...` left as it is
    assert "expected a function" in fails_hidden(exercise_id, f"{EXERCISES[exercise_id][0]} = 0.25")
    assert "expected" in fails_hidden(exercise_id, lambda *args: ...)
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
def test_the_value_in_view_passes_the_self_check_but_not_the_hidden_test(exercise_id: str) -> None:
    shown = visible_answer(exercise_id)
    if exercise_id == "03.1":  # a table of the visible sentences' answers
        passes_self_check_fails_hidden(exercise_id, lambda tags, mapping: shown[tuple(tags)], forbidden=False)
    else:
        passes_self_check_fails_hidden(exercise_id, lambda *args: shown, forbidden=False)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_last_hint_explains_without_giving_the_solution_line(exercise_id: str) -> None:
    ns = nbsource.exercise(NB, exercise_id)
    exercise = the_exercise(ns, exercise_id)
    hints = squash(" ".join(exercise.hints))
    for line in nbsource.solution_cell(NB, exercise_id).splitlines():
        code = line.split("=", 1)[-1] if "=" in line and "==" not in line else line
        code = code.removeprefix("    return ")
        if len(squash(code)) > 12:
            assert squash(code) not in hints, f"{exercise_id}: a hint contains the solution code {code.strip()!r}"


def test_no_solution_or_hidden_test_line_appears_in_another_cell() -> None:
    """``bmcourse assign`` refuses a release in which a line (over 24 characters) of a solution or a
    hidden test appears: none may also be written in a cell the learner gets."""
    nb = jupytext.read(nbsource.NOTEBOOKS / "03_domain_transfer.py", fmt="py:percent")
    secret = [i for i, c in enumerate(nb.cells) if {"solution", "hidden-test"} & set(c.metadata.get("tags", ()))]
    assert len(secret) == 2 * len(EXERCISES)
    for index in secret:
        for line in nb.cells[index].source.splitlines():
            if len(line.strip()) > 24:
                elsewhere = [i for i, c in enumerate(nb.cells) if i not in secret and line.strip() in c.source]
                assert not elsewhere, f"{line.strip()!r} is also in cell {elsewhere}"


# ---------------------------------------------------------------- 03.1


def keep_unmapped(tags, mapping):
    return [t if t == "O" else f"{t[:2]}{mapping.get(t[2:], t[2:])}" for t in tags]


def test_03_1_unmapped_entities_prefixes_and_hyphenated_types() -> None:
    ns = nbsource.exercise(NB, "03.1")
    all_begin = lambda tags, m: ["O" if t == "O" or t[2:] not in m else f"B-{m[t[2:]]}" for t in tags]  # noqa: E731
    types_only = lambda tags, m: [m.get(t[2:], "O") if t != "O" else "O" for t in tags]  # noqa: E731
    first_word_only = lambda tags, m: ["O" if t == "O" or t[2:] not in m or t[0] == "I" else f"B-{m[t[2:]]}"  # noqa: E731
                                       for t in tags]
    for wrong in (keep_unmapped, all_begin, types_only, first_word_only):
        result = fails_both("03.1", wrong)
        assert "on sentence" in result.message and "B-PER" not in result.message
    def split_at_every_hyphen(tags, mapping):
        out = []
        for tag in tags:
            prefix, kind = tag.split("-") if tag != "O" else ("O", None)  # creative-work: too many values to unpack
            out.append(f"{prefix}-{mapping[kind]}" if kind in mapping else "O")
        return out

    result = fails_both("03.1", split_at_every_hyphen)
    assert "on sentence 4" in result.message and "raised ValueError" in result.message
    assert ns["ex1"].check(solved("03.1")["to_source_tags"]).passed


def test_03_1_map_tags_by_any_name_gets_no_points() -> None:
    passes_self_check_fails_hidden("03.1", "to_source_tags = tr.map_tags", forbidden=True)  # the function itself
    passes_self_check_fails_hidden("03.1", "to_source_tags = lambda tags, mapping: tr.map_tags(tags, mapping)",
                                   forbidden=True)
    passes_self_check_fails_hidden("03.1", "from bmcourse.transfer.source import map_tags\n\n\n"
                                           "def to_source_tags(tags, mapping):\n    return map_tags(tags, mapping)\n",
                                   forbidden=True)


# ---------------------------------------------------------------- 03.2


def lora(scale=lambda alpha, rank: alpha / rank, bias=True, order="AB"):
    """LoRA's output written here (the hidden test forbids peft), with one part changeable to make it wrong."""
    def lora_forward(x, base, A, B, alpha):
        update = {"AB": lambda: (x @ A.T) @ B.T, "BA": lambda: (x @ B) @ A,  # "BA": B applied first
                  "untransposed": lambda: (x @ A) @ B}[order]()
        own = base(x) if bias else x @ base.weight.T
        return own + scale(alpha, A.shape[0]) * update
    return lora_forward


def test_03_2_a_missing_or_wrong_scaling_a_missing_bias_or_the_update_alone_fails() -> None:
    for wrong in (lora(scale=lambda alpha, rank: 1.0), lora(scale=lambda alpha, rank: alpha),
                  lora(scale=lambda alpha, rank: rank / alpha), lora(bias=False),
                  lambda x, base, A, B, alpha: base(x)):  # the frozen layer alone: B·A forgotten
        result = fails_both("03.2", wrong)
        assert "values differ" in result.message  # says how many, never a value
    fails_both("03.2", lora(order="BA"))  # square on the visible layer; grading's d_in != d_out also breaks it
    result = fails_both("03.2", lora(order="untransposed"))  # x (n x d) times A (r x d): the shapes do not fit
    assert "your function raised RuntimeError" in result.message
    assert self_check("03.2", lora()).passed and self_check("03.2", lambda *args: lora()(*args).double()).passed
    hidden("03.2", lora())


def test_03_2_peft_or_the_package_wrapper_gets_no_points() -> None:
    by_peft = ("def lora_forward(x, base, A, B, alpha):\n"
               "    layer = tr.lora_layer(base, rank=A.shape[0], alpha=alpha)\n"
               "    with torch.no_grad():\n"
               "        layer.lora_A['default'].weight.copy_(A)\n"
               "        layer.lora_B['default'].weight.copy_(B)\n"
               "    return layer(x)\n")
    passes_self_check_fails_hidden("03.2", by_peft, forbidden=True)
    by_hand_peft = ("from peft import LoraConfig, inject_adapter_in_model\n\n\n"
                    "def lora_forward(x, base, A, B, alpha):\n"
                    "    holder = torch.nn.ModuleDict({'layer': base})\n"
                    "    config = LoraConfig(r=A.shape[0], lora_alpha=alpha, target_modules=['layer'])\n"
                    "    layer = inject_adapter_in_model(config, holder)['layer']\n"
                    "    with torch.no_grad():\n"
                    "        layer.lora_A['default'].weight.copy_(A)\n"
                    "        layer.lora_B['default'].weight.copy_(B)\n"
                    "    return layer(x)\n")
    passes_self_check_fails_hidden("03.2", by_hand_peft, forbidden=True)


def test_03_2_the_library_cells_compare_peft_and_the_answer_and_run_unanswered(capsys) -> None:
    """The two cells after the hidden test: peft's parameters (base frozen, A and B train) and an exact
    no-op at the start; then the learner's function next to peft, or a note when it is unanswered."""
    cells = [src for src, _ in nbsource._cells(NB)]
    index = cells.index(nbsource.hidden_test_cell(NB, "03.2"))
    for answer, expected in ((solved("03.2"), "allclose True, largest difference at most 1e-05"),
                             (nbsource.exercise(NB, "03.2"), "answer exercise 2 first")):
        capsys.readouterr()
        nbsource.run(cells[index + 1], answer)
        nbsource.run(cells[index + 2], answer)
        out = capsys.readouterr().out
        assert expected in out and "exactly as it was: True" in out
        assert "base_layer.weight" in out and "frozen" in out and "lora_A.default.weight" in out and "trains" in out


# ---------------------------------------------------------------- 03.3


def test_03_3_biases_without_the_head_every_parameter_or_another_order_fails() -> None:
    biases = lambda names: [n for n in names if n.endswith(".bias")]  # noqa: E731
    head = lambda names: [n for n in names if n.startswith("classifier")]  # noqa: E731
    for wrong in (biases, head, lambda names: list(names), lambda names: sorted(bitfit(names))):
        result = fails_both("03.3", wrong)
        assert "classifier" not in result.message
    assert self_check("03.3", lambda names: tuple(bitfit(names))).passed  # a tuple is fine too
    hidden("03.3", lambda names: tuple(bitfit(names)))


def bitfit(names):
    return [n for n in names if n.endswith(".bias") or n.startswith("classifier")]


def test_03_3_the_package_selection_gets_no_points() -> None:
    passes_self_check_fails_hidden("03.3", "bitfit_names = lambda names: tr.bitfit_parameters(ex3_model)",
                                   forbidden=True)
    passes_self_check_fails_hidden("03.3", "from types import SimpleNamespace\n"
                                           "bitfit_names = lambda names: tr.bitfit_parameters(SimpleNamespace("
                                           "named_parameters=lambda: ((n, None) for n in names)))", forbidden=True)
    passes_self_check_fails_hidden("03.3", "bitfit_names = lambda names: [n for n, p in tr.apply_strategy("
                                           "ex3_model, 'bitfit').named_parameters() if p.requires_grad]",
                                   forbidden=True)
    shown = set(visible_answer("03.3"))
    passes_self_check_fails_hidden("03.3", lambda names: [n for n in names if n in shown],
                                   forbidden=False)  # the visible model's selection, looked up by name


# ---------------------------------------------------------------- 03.4


def test_03_4_forgetting_the_head_or_a_matrix_fails() -> None:
    counted = visible_answer("03.4")

    def count(matrices=2, head_bias=True, head=True, per_matrix=2):
        def lora_params(config, rank):
            d, labels = config.hidden_size, config.num_labels
            adapters = config.num_hidden_layers * matrices * per_matrix * d * rank
            return adapters + (d * labels + labels * head_bias) * head
        return lora_params

    for wrong in (count(head=False), count(matrices=1), count(head_bias=False), count(matrices=4),
                  count(per_matrix=1)):
        result = fails_both("03.4", wrong)
        assert str(counted) not in result.message
    assert self_check("03.4", lambda config, rank: float(count()(config, rank))).passed  # 1039.0 is fine too


def test_03_4_building_a_model_or_a_layer_or_the_visible_numbers_get_no_points() -> None:
    def by_building(config, rank):
        from transformers import AutoModelForTokenClassification

        model = AutoModelForTokenClassification.from_config(config)
        return tr.trainable_share(tr.apply_strategy(model, "lora", rank=rank))[0]

    def by_layers(config, rank):
        d, labels = config.hidden_size, config.num_labels
        adapter = sum(p.numel() for layer in (torch.nn.Linear(d, rank, bias=False), torch.nn.Linear(rank, d, bias=False))
                      for p in layer.parameters())
        head = sum(p.numel() for p in torch.nn.Linear(d, labels).parameters())
        return config.num_hidden_layers * 2 * adapter + head

    passes_self_check_fails_hidden("03.4", by_building, forbidden=True)
    passes_self_check_fails_hidden("03.4", by_layers, forbidden=True)
    passes_self_check_fails_hidden("03.4", lambda config, rank: 6 * 2 * 2 * 384 * 8 + 384 * 5 + 5, forbidden=False)
    passes_self_check_fails_hidden("03.4", lambda config, rank: 6 * 2 * 2 * 384 * rank + 384 * 5 + 5, forbidden=False)


# ---------------------------------------------------------------- 03.5


def gap(rows, init="source", first="full", second="lora"):
    f1 = {(r["target"], r["strategy"]): r["test_f1"] for r in rows if r["init"] == init}
    return {t: f1[(t, first)] - f1[(t, second)] for t, _ in f1}


def test_03_5_wrong_sign_wrong_init_or_ignoring_init_fails() -> None:
    ns = nbsource.exercise(NB, "03.5")
    fails_both("03.5", lambda rows: gap(rows, second="full", first="lora"))
    fails_both("03.5", lambda rows: gap(rows, init="pretrained"))
    fails_both("03.5", lambda rows: gap(rows, second="bitfit"))
    ignores_init = lambda rows: gap([dict(r, init="source") for r in rows])  # noqa: E731
    fails_hidden("03.5", ignores_init)  # the last row of each strategy wins, whatever its init
    result = ns["ex5"].check(lambda rows: gap(rows, init="pretrained"))
    assert not result.passed and not re.search(r"\d\.\d\d", result.message)  # names targets, never a value


def test_03_5_targets_of_the_reference_only_get_no_points() -> None:
    passes_self_check_fails_hidden("03.5", lambda rows: {t: gap(rows)[t] for t in tr_targets()}, forbidden=False)


def tr_targets() -> list[str]:
    return list(solved("03.5")["REF"]["settings"]["targets"])


# ---------------------------------------------------------------- 03.6


def gains(few, up_to=50, augmentation="none"):
    """Mean paired difference per target of (source, ``augmentation``) minus (pretrained, none), n <= ``up_to``
    (written here: the hidden test forbids the package's pairing)."""
    runs = {(r["target"], r["init"], r["augmentation"], r["n"], r["seed"]): r["test_f1"] for r in few if r["n"] <= up_to}
    pairs: dict[str, list[float]] = {}
    for (target, init, aug, n, seed), f1 in runs.items():
        if (init, aug) == ("source", augmentation) and (target, "pretrained", "none", n, seed) in runs:
            pairs.setdefault(target, []).append(f1 - runs[(target, "pretrained", "none", n, seed)])
    return {t: statistics.fmean(pairs[t]) for t in {r["target"] for r in few}}


def test_03_6_wrong_sign_all_sizes_augmented_runs_or_unpaired_means_fail() -> None:
    fails_both("03.6", lambda few: {t: -g for t, g in gains(few).items()})
    fails_both("03.6", lambda few: gains(few, up_to=10**9))  # every size, not n <= 50
    fails_both("03.6", lambda few: gains(few, augmentation="mention_replacement"))

    def difference_of_means(few):  # no pairing: right only when no run lacks its partner, as in REF
        keep = [r for r in few if r["augmentation"] == "none" and r["n"] <= 50]
        return {t: statistics.fmean(r["test_f1"] for r in keep if (r["target"], r["init"]) == (t, "source"))
                - statistics.fmean(r["test_f1"] for r in keep if (r["target"], r["init"]) == (t, "pretrained"))
                for t in {r["target"] for r in keep}}

    def ignores_augmentation(few):  # a mention-replacement run can take the place of its plain twin
        return gains([dict(r, augmentation="none") for r in few])

    passes_self_check_fails_hidden("03.6", difference_of_means, forbidden=False)
    fails_hidden("03.6", ignores_augmentation)


def test_03_6_the_package_pairing_or_the_visible_targets_get_no_points() -> None:
    passes_self_check_fails_hidden("03.6", "source_gain = lambda few: {t: tr.mean_and_spread(tr.paired_differences("
                                           "few, t, up_to=50))[0] for t in {r['target'] for r in few}}",
                                   forbidden=True)
    passes_self_check_fails_hidden("03.6", "from bmcourse.transfer.fewshot import paired_differences\n"
                                           "import statistics\nsource_gain = lambda few: {t: statistics.fmean("
                                           "paired_differences(few, t)) for t in {r['target'] for r in few}}",
                                   forbidden=True)
    passes_self_check_fails_hidden("03.6", lambda few: {t: gains(few)[t] for t in tr_targets()}, forbidden=False)


# ---------------------------------------------------------------- 03.7


def shares(forgetting, keep=lambda f: f["before"] > f["after"]):
    return {t: (f["after_replay"] - f["after"]) / (f["before"] - f["after"]) for t, f in forgetting.items() if keep(f)}


def test_03_7_points_the_complement_or_a_missing_filter_fails() -> None:
    points = lambda forgetting: {t: f["after_replay"] - f["after"] for t, f in forgetting.items()}  # noqa: E731
    complement = lambda forgetting: {t: 1 - s for t, s in shares(forgetting).items()}  # noqa: E731
    reversed_ratio = lambda forgetting: {t: 1 / s for t, s in shares(forgetting).items()}  # noqa: E731
    for wrong in (points, complement, reversed_ratio):
        result = fails_both("03.7", wrong)
        assert not re.search(r"\d\.\d\d", result.message)
    # every reference target forgot something: without the filter the self-check passes, grading does not
    passes_self_check_fails_hidden("03.7", lambda forgetting: shares(forgetting, keep=lambda f: True), forbidden=False)
    passes_self_check_fails_hidden("03.7", lambda forgetting: shares(forgetting, keep=lambda f: f["before"] != f["after"]),
                                   forbidden=False)  # a target that gained F1 forgot nothing


def test_03_7_replay_recovery_or_the_visible_targets_get_no_points() -> None:
    passes_self_check_fails_hidden("03.7", "recovered = lambda forgetting: {t: tr.replay_recovery(f['before'], "
                                           "f['after'], f['after_replay']) for t, f in forgetting.items() "
                                           "if f['before'] > f['after']}", forbidden=True)
    passes_self_check_fails_hidden("03.7", lambda forgetting: {t: shares(forgetting)[t] for t in tr_targets()},
                                   forbidden=False)


# ---------------------------------------------------------------- 03.8


def test_03_8_no_half_no_fisher_every_parameter_or_no_square_fails() -> None:
    no_half = lambda t, a, f, lam: lam * sum((f[n] * (t[n] - a[n]) ** 2).sum() for n in f)  # noqa: E731
    unweighted = lambda t, a, f, lam: lam / 2 * sum(((t[n] - a[n]) ** 2).sum() for n in f)  # noqa: E731
    every_parameter = lambda t, a, f, lam: lam / 2 * sum(  # noqa: E731
        (f.get(n, torch.ones_like(v)) * (v - a[n]) ** 2).sum() for n, v in t.items())
    not_squared = lambda t, a, f, lam: lam / 2 * sum((f[n] * (t[n] - a[n]).abs()).sum() for n in f)  # noqa: E731
    for wrong in (no_half, unweighted, every_parameter, not_squared):
        result = fails_both("03.8", wrong)
        assert not re.search(r"\d\.\d\d", result.message)  # never the expected value
    assert self_check("03.8", lambda t, a, f, lam: float(lam / 2 * sum((f[n] * (t[n] - a[n]) ** 2).sum()
                                                                        for n in f))).passed  # a float is fine too


def test_03_8_the_package_penalty_or_its_gradient_get_no_points() -> None:
    passes_self_check_fails_hidden("03.8", "penalty = tr.ewc_penalty", forbidden=True)
    passes_self_check_fails_hidden("03.8", "penalty = lambda theta, anchor, fisher, lam: "
                                           "tr.ewc_penalty(theta, anchor, fisher, lam)", forbidden=True)
    passes_self_check_fails_hidden("03.8", "from bmcourse.transfer.ewc import penalty_gradient\n\n\n"
                                           "def penalty(theta, anchor, fisher, lam):\n"
                                           "    g = penalty_gradient(theta, anchor, fisher, lam)\n"
                                           "    return sum((g[n] * (theta[n] - anchor[n])).sum() for n in g) / 2\n",
                                   forbidden=True)
