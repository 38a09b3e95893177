"""Domain transfer: label mapping, strategies' trainable parameters, few-shot sampling, mention
replacement, the joint head used for forgetting and replay, and the source-model cache."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from datasets import ClassLabel, Dataset, Features, Sequence, Value

from bmcourse import transfer
from bmcourse.data.registry import POLITICS_TYPES, SCIENCE_TYPES, WNUT_TYPES
from bmcourse.errors import BmcourseError
from bmcourse.tagging import invalid_positions, labels_for_types

CONLL = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def _split(rows: list[tuple[list[str], list[str]]], labels: list[str]) -> Dataset:
    index = {n: i for i, n in enumerate(labels)}
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=labels))})
    return Dataset.from_dict({"tokens": [r[0] for r in rows], "ner_tags": [[index[t] for t in r[1]] for r in rows]},
                             features=features)


@pytest.mark.parametrize("types, unmapped", [
    (WNUT_TYPES, []), (POLITICS_TYPES, []), (("Disease",), ["Disease"]),
    (SCIENCE_TYPES, ["academicjournal", "astronomicalobject", "chemicalcompound", "chemicalelement",
                     "discipline", "enzyme", "protein", "theory"]),
])
def test_label_mapping_reports_every_type_it_cannot_map(types, unmapped) -> None:
    mapping = transfer.label_mapping(labels_for_types(types), CONLL)
    assert sorted(mapping.unmapped) == sorted(unmapped)
    assert set(mapping.mapped) | set(mapping.unmapped) == set(types)
    assert set(mapping.mapped.values()) <= {"PER", "ORG", "LOC", "MISC"}
    assert "not mapped" in mapping.describe()


def test_an_explicit_table_wins_and_unknown_targets_are_reported() -> None:
    mapping = transfer.label_mapping(labels_for_types(["person", "robot"]), CONLL, {"person": "PER", "robot": "ROBOT"})
    assert mapping.mapped == {"person": "PER"} and mapping.unmapped == ["robot"]


def test_map_tags_keeps_valid_iob2() -> None:
    tags = ["B-politician", "I-politician", "O", "B-enzyme", "I-enzyme", "B-country"]
    mapped = transfer.map_tags(tags, {"politician": "PER", "country": "LOC"})
    assert mapped == ["B-PER", "I-PER", "O", "O", "O", "B-LOC"] and not invalid_positions(mapped)


def _trainable(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_strategies_train_what_they_say(tiny_model) -> None:
    model = transfer.apply_strategy(tiny_model(CONLL), "linear_probe")
    assert _trainable(model) == {"classifier.weight", "classifier.bias"}
    model = transfer.apply_strategy(tiny_model(CONLL), "bitfit")
    assert all(n.endswith("bias") or n.startswith("classifier") for n in _trainable(model))
    assert any("attention" in n for n in _trainable(model))
    model = transfer.apply_strategy(tiny_model(CONLL, num_hidden_layers=3), "partial", layers=2)
    layers = {n.split(".")[3] for n in _trainable(model) if ".layer." in n}
    assert layers == {"1", "2"} and "bert.embeddings.word_embeddings.weight" not in _trainable(model)
    model = transfer.apply_strategy(tiny_model(CONLL), "full")
    assert _trainable(model) == {n for n, _ in model.named_parameters()}
    with pytest.raises(BmcourseError, match="unknown strategy"):
        transfer.apply_strategy(tiny_model(CONLL), "adapters")


def test_lora_and_bitfit_are_small_on_the_real_encoder() -> None:
    from bmcourse.models import load_token_classifier

    shares = {}
    for strategy in ("lora", "bitfit", "linear_probe"):
        model, _ = load_token_classifier(labels_for_types(WNUT_TYPES), name="offline")
        shares[strategy] = transfer.trainable_share(transfer.apply_strategy(model, strategy))[2]
    assert shares["lora"] <= 2.0 and shares["bitfit"] <= 0.5
    assert shares["linear_probe"] < shares["bitfit"] < shares["lora"]


def _toy_target() -> Dataset:
    labels = labels_for_types(["person", "product", "group"])
    rows = [(["hello", "world"], ["O", "O"])] * 30
    rows += [(["Ada", "spoke"], ["B-person", "O"])] * 5
    rows += [(["the", "iPhone", "X"], ["O", "B-product", "I-product"])]
    rows += [(["Arsenal", "fans"], ["B-group", "O"])] * 2
    return _split(rows, labels)


def test_few_shot_covers_every_type_and_is_seeded() -> None:
    split = _toy_target()
    for seed in range(5):
        chosen = transfer.few_shot_indices(split, 4, seed)
        assert len(chosen) == 4 and chosen == transfer.few_shot_indices(split, 4, seed)
        names = split.features["ner_tags"].feature.names
        types = {names[t][2:] for i in chosen for t in split[i]["ner_tags"] if names[t] != "O"}
        assert types == {"person", "product", "group"}
    assert transfer.few_shot_indices(split, 4, 0) != transfer.few_shot_indices(split, 4, 1)


def test_asking_for_more_sentences_than_there_are_uses_all_and_says_so(capsys) -> None:
    split = _toy_target()
    assert transfer.few_shot(split, 1000, 0).num_rows == split.num_rows
    assert f"the training split has {split.num_rows}: using all of them" in capsys.readouterr().out


def test_mention_replacement_swaps_within_type_and_stays_valid() -> None:
    pool = {"PER": [["Ada", "Lovelace"], ["Grace"]], "LOC": [["Paris"]]}
    rng = random.Random(0)
    for _ in range(50):
        tokens, tags = transfer.replace_mentions(["Alan", "Turing", "visited", "Rome", "."],
                                                 ["B-PER", "I-PER", "O", "B-LOC", "O"], pool, rng)
        assert not invalid_positions(tags) and len(tokens) == len(tags)
        assert tokens[-3:] == ["visited", "Paris", "."] and tokens[:-3] in pool["PER"]
    split = _toy_target()
    augmented = transfer.augment_with_mentions(split, copies=1, seed=0)
    with_entities = sum(any(t != 0 for t in tags) for tags in split["ner_tags"])
    assert augmented.num_rows == split.num_rows + with_entities
    assert augmented.features["ner_tags"].feature.names == split.features["ner_tags"].feature.names


def test_joint_head_keeps_the_source_predictions(tiny_model, packaged_tokenizer) -> None:
    source = tiny_model(CONLL).eval()
    labels = transfer.joint_labels(CONLL, labels_for_types(["person", "Disease"]))
    assert labels[:9] == CONLL and labels[9:] == ["B-person", "I-person", "B-Disease", "I-Disease"]
    joint = transfer.joint_tagger(source, labels).eval()
    view = transfer.source_view(joint, CONLL).eval()
    batch = packaged_tokenizer(["Ada Lovelace visited Paris"], return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(view(**batch).logits, source(**batch).logits)
        assert joint(**batch).logits.shape[-1] == len(labels)
    assert view.config.id2label == source.config.id2label


def test_source_cache_key_follows_model_data_and_recipe() -> None:
    model = {"name": "m", "cased": False}
    base = transfer.source_cache_key(model, "abc", transfer.SourceRecipe())
    assert base == transfer.source_cache_key(model, "abc", transfer.SourceRecipe())
    assert base != transfer.source_cache_key(model, "abd", transfer.SourceRecipe())
    assert base != transfer.source_cache_key(model, "abc", transfer.SourceRecipe(lr=1e-4))
    assert base != transfer.source_cache_key({**model, "name": "n"}, "abc", transfer.SourceRecipe())


def test_source_tagger_trains_once_then_loads_from_the_cache(env, tmp_path: Path, tiny_model,
                                                             packaged_tokenizer, capsys) -> None:
    from bmcourse.models import save_model

    env.setenv("BMCOURSE_PROFILE", "smoke")
    env.setenv("BMCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    folder = save_model(tiny_model(CONLL), packaged_tokenizer, tmp_path / "tiny")
    recipe = transfer.SourceRecipe(epochs=0.2, lr=1e-3)
    _, _, first = transfer.source_tagger(recipe, name=str(folder), progress=False)
    assert not first["cached"] and "training the CoNLL-2003 source tagger" in capsys.readouterr().err
    model, _, second = transfer.source_tagger(recipe, name=str(folder), progress=False)
    assert second["cached"] and second["folder"] == first["folder"]
    assert (Path(second["folder"]) / "model.safetensors").is_file()
    assert not list(Path(second["folder"]).parent.glob("*.partial"))
    assert model.config.id2label[1] == "B-PER"


@pytest.mark.parametrize("evaluate_on", ["test", "validation"])
def test_adapt_puts_the_f1_under_the_split_it_scored(evaluate_on: str, tmp_path: Path, tiny_model,
                                                     packaged_tokenizer) -> None:
    from datasets import DatasetDict

    from bmcourse.models import save_model

    rows = [(["Ada", "met", "Tom", "."], ["B-PER", "O", "B-PER", "O"]), (["in", "Oslo"], ["O", "B-LOC"])]
    data = DatasetDict({split: _split(rows * 2, CONLL) for split in ("train", "validation", "test")})
    folder = save_model(tiny_model(CONLL), packaged_tokenizer, tmp_path / "tiny")
    result, _, _ = transfer.adapt("t", data, "linear_probe", "pretrained", epochs=1, batch_size=4, name=str(folder),
                                  evaluate_on=evaluate_on)
    scored, other = (result.test_f1, result.dev_f1) if evaluate_on == "test" else (result.dev_f1, result.test_f1)
    assert other is None and scored is not None and 0.0 <= scored <= 1.0  # a dev F1 never sits in test_f1
    with pytest.raises(BmcourseError, match="evaluate_on='train' is not a split adapt scores"):
        transfer.adapt("t", data, "linear_probe", "pretrained", name=str(folder), evaluate_on="train")


def test_the_learning_rate_sweep_records_dev_f1(env, tmp_path: Path, tiny_model, packaged_tokenizer) -> None:
    from bmcourse.bench import bench_transfer_lr
    from bmcourse.models import save_model

    env.setenv("BMCOURSE_PROFILE", "smoke")
    env.setenv("BMCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    folder = save_model(tiny_model(CONLL), packaged_tokenizer, tmp_path / "tiny")
    out = bench_transfer_lr(targets=("crossner_politics",), strategies=("linear_probe",), budget=4, eval_sample=8,
                            extend=0, name=str(folder), log=lambda line: None)
    assert len(out["runs"]) == len(transfer.LR_GRID["linear_probe"])
    assert all(0.0 <= r["dev_f1"] <= 1.0 for r in out["runs"])


def test_fixed_sample_is_the_same_rows_every_time_and_all_when_too_large() -> None:
    split = _split([([f"w{i}"], ["O"]) for i in range(20)], ["O"])
    first = transfer.fixed_sample(split, 5)
    assert first.num_rows == 5 and first["tokens"] == transfer.fixed_sample(split, 5)["tokens"]
    assert transfer.fixed_sample(split, 50) is split and transfer.fixed_sample(split, None) is split


def test_epochs_give_every_run_the_same_budget_up_to_ten_passes() -> None:
    from bmcourse.transfer import epochs_for

    assert epochs_for(10, 500) == 10.0          # a tiny split: at most 10 passes
    assert epochs_for(100, 500) == 5.0          # 500 sentences seen
    assert epochs_for(5000, 500) == pytest.approx(0.1)  # a large split: part of one pass


FEW = [{"target": "t", "n": n, "seed": s, "init": i, "augmentation": a, "test_f1": f1}
       for n, s, i, a, f1 in [(10, 0, "pretrained", "none", 0.1), (10, 0, "source", "none", 0.3),
                              (10, 1, "pretrained", "none", 0.2), (10, 1, "source", "none", 0.2),
                              (10, 0, "source", "mention_replacement", 0.5),
                              (100, 0, "pretrained", "none", 0.6), (100, 0, "source", "none", 0.5)]]


def test_few_shot_summaries_pair_runs_by_size_and_seed() -> None:
    assert transfer.scores_by_size(FEW, "t") == {"pretrained": {10: [0.1, 0.2], 100: [0.6]},
                                                 "source": {10: [0.3, 0.2], 100: [0.5]}}
    assert transfer.paired_differences(FEW, "t", up_to=50) == pytest.approx([0.2, 0.0])
    assert transfer.paired_differences(FEW, "t", up_to=1000) == pytest.approx([0.2, 0.0, -0.1])
    assert transfer.paired_differences(FEW, "t", a=("source", "mention_replacement"),
                                       b=("source", "none")) == pytest.approx([0.2])
    assert transfer.paired_differences(FEW, "other") == []
    mean, spread = transfer.mean_and_spread([0.2, 0.0])
    assert mean == pytest.approx(0.1) and spread == pytest.approx(0.1414, abs=1e-4)
    with pytest.raises(BmcourseError, match="no values"):
        transfer.mean_and_spread([])


def test_replay_recovery_is_the_share_of_what_was_forgotten() -> None:
    assert transfer.replay_recovery(0.8, 0.6, 0.75) == pytest.approx(0.75)
    assert transfer.replay_recovery(0.8, 0.8, 0.8) is None  # nothing forgotten: no share


def test_shipped_learning_rates_are_the_ones_chosen_on_validation_data() -> None:
    from bmcourse import reference

    sweep = reference.load("transfer_lr")
    assert sweep["chosen"] == transfer.STRATEGY_LR
    assert "validation" in sweep["settings"]["scored_on"] and "test" not in sweep["settings"]["scored_on"]
    for strategy, lr in sweep["chosen"].items():  # the chosen rate has the best mean dev F1 it tried
        assert sweep["mean_dev_f1"][strategy][str(lr)] == max(sweep["mean_dev_f1"][strategy].values())


def test_bench_transfer_writes_every_section_the_issue_names(env, tmp_path: Path, tiny_model,
                                                             packaged_tokenizer) -> None:
    from bmcourse.bench import bench_transfer
    from bmcourse.models import save_model

    env.setenv("BMCOURSE_PROFILE", "smoke")
    env.setenv("BMCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    folder = save_model(tiny_model(CONLL), packaged_tokenizer, tmp_path / "tiny")
    lines: list[str] = []
    partial: list[dict] = []
    out = bench_transfer(targets=("crossner_politics",), strategies=("linear_probe", "lora"), sizes=(5, 10**9, 10**8),
                         seeds=2, budget=10, eval_sample=8, name=str(folder), log=lines.append,
                         on_target=partial.append, workers=1)
    assert {"rows", "zero_shot", "few_shot", "forgetting", "machine", "date", "command", "model", "commit",
            "seconds_per_phase"} <= set(out)
    assert len(out["rows"]) == 4 and {"target", "strategy", "init", "trainable_params", "trainable_pct", "test_f1",
                                      "train_seconds", "peak_memory_mb"} <= set(out["rows"][0])
    assert set(out["zero_shot"]["crossner_politics"]) >= {"test_f1", "mapping", "unmapped"}
    sizes = sorted({r["n"] for r in out["few_shot"]})
    assert sizes == [5, 70]  # 10**9 and 10**8 are both "all": run once, and said
    assert any("larger than the training split" in line for line in lines)
    assert {r["augmentation"] for r in out["few_shot"] if r["n"] == 5} == {"none", "mention_replacement"}
    assert set(out["forgetting"]["crossner_politics"]) >= {"before", "after", "after_replay"}
    assert partial and partial[-1]["rows"] == out["rows"]


def test_any_local_ner_folder_is_a_target_and_its_unknown_types_are_reported(env, tmp_path: Path, tiny_model,
                                                                            packaged_tokenizer) -> None:
    import json

    from bmcourse.bench import bench_transfer
    from bmcourse.models import save_model

    folder = tmp_path / "data" / "gadget_reviews"  # no registry entry: found by its name in the data folder
    folder.mkdir(parents=True)
    sentences = [(["Ada", "bought", "a", "Pixel", "phone", "."], ["B-person", "O", "O", "B-gadget", "I-gadget", "O"]),
                 (["The", "Walkman", "was", "loved", "by", "Tom", "."], ["O", "B-gadget", "O", "O", "O", "B-person", "O"])]
    for split in ("train", "validation", "test"):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps({"tokens": t, "ner_tags": g}) + "\n"
                                                       for t, g in sentences * 3), encoding="utf-8")
    env.setenv("BMCOURSE_DATA_DIR", str(tmp_path / "data"))
    env.setenv("BMCOURSE_PROFILE", "full")  # the smoke profile uses embedded samples only
    env.setenv("BMCOURSE_OFFLINE", "1")     # CoNLL-2003 (not in this data folder) then comes from its sample
    env.setenv("BMCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    model = save_model(tiny_model(CONLL), packaged_tokenizer, tmp_path / "tiny")
    out = bench_transfer(targets=("gadget_reviews",), strategies=("linear_probe",), inits=("pretrained",),
                         sizes=(2,), seeds=1, budget=4, eval_sample=None, name=str(model), log=lambda line: None,
                         workers=1)
    assert out["zero_shot"]["gadget_reviews"]["mapping"] == {"person": "PER"}
    assert out["zero_shot"]["gadget_reviews"]["unmapped"] == {"gadget": 6}
    assert [r["target"] for r in out["rows"]] == ["gadget_reviews"]


def test_the_few_shot_all_point_reuses_the_strategy_tables_run_and_equals_training_it_again(
        env, tmp_path: Path, tiny_model, packaged_tokenizer) -> None:
    """bench transfer scores the table's full run (all sentences, seed 0) on the few-shot sample instead of
    training that run a second time; a fresh few-shot run with the same settings gets the same F1."""
    from bmcourse.bench import bench_transfer
    from bmcourse.data import load_ner
    from bmcourse.models import save_model

    env.setenv("BMCOURSE_PROFILE", "smoke")
    env.setenv("BMCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    folder = save_model(tiny_model(CONLL), packaged_tokenizer, tmp_path / "tiny")
    out = bench_transfer(targets=("crossner_politics",), strategies=("full",), inits=("pretrained",), sizes=(10**9,),
                         seeds=2, budget=10, eval_sample=8, name=str(folder), log=lambda line: None, workers=1)
    by_seed = {r["seed"]: r for r in out["few_shot"]}
    assert by_seed[0]["shared_with"] == "strategy table (full, seed 0)" and "shared_with" not in by_seed[1]
    assert by_seed[0]["train_seconds"] == round(out["rows"][0]["train_seconds"], 2)
    data = load_ner("crossner_politics")
    n = data["train"].num_rows
    again, _, _ = transfer.adapt("crossner_politics", data, "full", "pretrained", name=str(folder), seed=0,
                                 train_split=transfer.few_shot(data["train"], 10**9, 0, quiet=True),
                                 epochs=transfer.epochs_for(n, 10), scored_split=transfer.fixed_sample(data["test"], 8))
    assert round(again.test_f1, 4) == by_seed[0]["test_f1"]


def test_two_worker_processes_give_the_runs_one_process_gives(env, tmp_path: Path, tiny_model,
                                                              packaged_tokenizer) -> None:
    """bench transfer's runs are independent and seeded: shared out to two processes, every F1 is the same."""
    from bmcourse.bench import bench_transfer
    from bmcourse.bench.transfer import default_workers
    from bmcourse.models import save_model

    env.setenv("BMCOURSE_PROFILE", "smoke")
    env.setenv("BMCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    folder = save_model(tiny_model(CONLL), packaged_tokenizer, tmp_path / "tiny")
    runs = {workers: bench_transfer(targets=("crossner_politics",), strategies=("linear_probe", "full"),
                                    sizes=(5, 10**9), seeds=2, budget=10, eval_sample=8, name=str(folder),
                                    log=lambda line: None, workers=workers) for workers in (1, 2)}
    keep = ("target", "strategy", "init", "n", "seed", "augmentation", "test_f1", "mapped_f1", "trainable_params")
    for part in ("rows", "few_shot"):
        assert [{k: r.get(k) for k in keep} for r in runs[2][part]] == [{k: r.get(k) for k in keep} for r in runs[1][part]]
    assert runs[2]["forgetting"]["crossner_politics"]["after"] == runs[1]["forgetting"]["crossner_politics"]["after"]
    assert runs[2]["settings"]["workers"] == 2 and len(runs[1]["few_shot"]) == 2 * 2 * 2 + 2  # sizes x seeds x inits + augmented
    assert default_workers("cuda") == 1
