"""bmcourse.deploy: versioned folders, ONNX Runtime variants, the pipeline mapping, attributions,
noisy test sets, leak rates, FGM, and ``bmcourse bench inference``."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from bmcourse import deploy
from bmcourse.errors import BmcourseError
from bmcourse.train import TrainConfig, encode_ner, fgm_backward, fgm_delta, fit, word_embeddings, word_tags

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
SENTENCES = [["Angela", "Merkel", "visited", "Paris", "."], ["AL-AIN", ",", "United", "Arab", "Emirates"],
             ["John", "lives", "in", "New", "York", "City", "today"], ["Nothing", "here"]]


def _split(sentences=SENTENCES, tags=None):
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    tags = tags or [[0] * len(s) for s in sentences]
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=LABELS))})
    return Dataset.from_dict({"tokens": sentences, "ner_tags": tags}, features=features)


@pytest.fixture
def tagger(tiny_model, packaged_tokenizer):
    return tiny_model(LABELS, seed=3).eval(), packaged_tokenizer


# --- versioned folders --------------------------------------------------------------------

def test_versioned_folder_round_trip_and_refusals(tmp_path: Path, tagger) -> None:
    model, tokenizer = tagger
    folder = deploy.save_versioned(model, tokenizer, tmp_path / "v1", version="1.2.0", metrics={"test_f1": 0.5})
    manifest = json.loads((folder / deploy.MANIFEST).read_text())
    assert manifest["version"] == "1.2.0" and manifest["labels"] == LABELS
    assert manifest["sha256"]["model.safetensors"] == deploy.file_sha256(folder / "model.safetensors")
    loaded, _, read = deploy.load_versioned(folder, version="1.2.0")
    ids = torch.tensor([[101, 2000, 2001, 102]])
    with torch.no_grad():
        assert torch.equal(loaded(input_ids=ids).logits, model(input_ids=ids).logits)
    with pytest.raises(BmcourseError, match="version '1.2.0' is not the wanted '2.0.0'"):
        deploy.load_versioned(folder, version="2.0.0")
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-5] ^= 1
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(BmcourseError, match="weights changed") as error:
        deploy.load_versioned(folder)
    assert "model.safetensors" in str(error.value)


def test_missing_or_broken_manifest_is_a_clear_error(tmp_path: Path, tagger) -> None:
    model, tokenizer = tagger
    folder = deploy.save_versioned(model, tokenizer, tmp_path / "m", version="1")
    (folder / deploy.MANIFEST).write_text('{\n  "version": "1",\n  oops\n}')
    with pytest.raises(BmcourseError, match="not valid JSON") as error:
        deploy.load_versioned(folder)
    assert f"{deploy.MANIFEST}:3" in str(error.value) or "line 3" in str(error.value)
    (folder / deploy.MANIFEST).unlink()
    with pytest.raises(BmcourseError, match="no manifest"):
        deploy.load_versioned(folder)


# --- variants -------------------------------------------------------------------------------

def test_onnx_runtime_matches_pytorch_and_int8_is_smaller(tmp_path: Path, tagger) -> None:
    model, tokenizer = tagger
    features = encode_ner(_split(), tokenizer, training=False, quiet=True)
    runners = deploy.build_runners(model, tmp_path, int8_variants=False)
    assert [r.name for r in runners] == ["pytorch-fp32", "onnxruntime-fp32", "onnxruntime-int8"]
    fp32 = deploy.batch_logits(runners[0], features, batch_size=2)
    ort32 = deploy.batch_logits(runners[1], features, batch_size=3)  # other batches, other padding
    assert deploy.logit_drift(fp32, ort32) < 1e-4
    assert [len(x) for x in fp32] == [len(f["input_ids"]) for f in features]
    assert runners[2].size_mb() < runners[1].size_mb() / 2
    rows = deploy.measure_variants(runners, features, LABELS, latency_sentences=3, rounds=2)
    assert rows[0].max_logit_diff == 0.0 and rows[0].tag_agreement == 1.0
    assert rows[1].tag_agreement == 1.0
    keys = {"name", "p50_ms", "p95_ms", "throughput_per_s", "size_mb", "test_f1", "max_logit_diff", "tag_agreement"}
    assert keys <= set(rows[2].row())
    assert all(r.p95_ms >= r.p50_ms > 0 for r in rows)


def test_tags_from_logits_decode_like_evaluate(tagger) -> None:
    model, tokenizer = tagger
    features = encode_ner(_split(), tokenizer, training=False, quiet=True)
    for decode in ("argmax", "viterbi"):
        logits = deploy.batch_logits(deploy.TorchRunner(model), features)
        _, ours = deploy.tags_from_logits(features, logits, LABELS, decode)
        _, reference = word_tags(model, features, progress=False, decode=decode)
        assert ours == reference


def test_best_within_and_speedups() -> None:
    rows = [deploy.Variant("a", 10, 12, 1, 1, 0.90, 0, 1), deploy.Variant("b", 2, 3, 1, 1, 0.894, 1, 0.9),
            deploy.Variant("c", 1, 2, 1, 1, 0.80, 1, 0.8), deploy.Variant("d", 5, 6, 1, 1, 0.895, 0, 1)]
    assert deploy.best_within(rows).name == "d"  # b loses 0.6 points
    assert deploy.best_within(rows, f1_loss=0.006).name == "b"  # a loss equal to the budget is allowed
    assert deploy.best_within(rows[:1]) is None
    assert deploy.speedups(rows)["b"] == 5.0
    assert deploy.format_drift(3e-6) == "< 0.001" and deploy.format_drift(1.234) == "1.23"


# --- the pipeline -----------------------------------------------------------------------------

def test_pipeline_word_tags_equal_argmax_word_tags(tagger) -> None:
    model, tokenizer = tagger
    pipe = deploy.token_pipeline(model, tokenizer)
    features = encode_ner(_split(), tokenizer, training=False, quiet=True)
    _, argmax = word_tags(model, features, progress=False, decode="argmax")
    assert deploy.pipeline_word_tags(pipe, SENTENCES) == argmax


def test_tag_spans_and_disagreements_by_hand() -> None:
    words = ["AL-AIN", ",", "New", "York"]
    spans = deploy.tag_spans([words], [["B-LOC", "O", "I-LOC", "I-LOC"]])  # a stray I- starts an entity
    assert spans == [[("LOC", 0, 6), ("LOC", 9, 17)]]
    other = [[("LOC", 0, 3), ("LOC", 3, 6), ("LOC", 9, 17)]]
    found = deploy.span_disagreements([words], other, spans)
    assert found == [{"sentence": 0, "text": "AL-AIN , New York", "only_first": ["AL- (LOC)", "AIN (LOC)"],
                      "only_second": ["AL-AIN (LOC)"]}]
    assert deploy.span_disagreements([words], spans, spans) == []


# --- attributions -------------------------------------------------------------------------------

def test_integrated_gradients_add_up_and_grad_times_input_is_exact_only_for_linear(tagger) -> None:
    model, tokenizer = tagger
    encoded = tokenizer(["Angela", "visited", "Paris"], is_split_into_words=True, return_tensors="pt")
    forward = deploy.target_function(model, encoded["attention_mask"], label=1, position=1)
    table = word_embeddings(model)
    x = table[encoded["input_ids"]].detach()
    baseline = table[deploy.baseline_ids(encoded["input_ids"], tokenizer)].detach()
    assert deploy.baseline_ids(encoded["input_ids"], tokenizer)[0, 0] == tokenizer.cls_token_id
    attributions, delta = deploy.integrated_gradients(forward, x, baseline, steps=64)
    check = deploy.completeness_gap(attributions, forward, x, baseline)
    assert abs(check["gap"]) < 1e-3 * max(1.0, abs(check["difference"])) + delta
    weights = torch.randn(x.shape[-1])
    linear = lambda e: (e * weights).sum((-1, -2))  # noqa: E731
    zero = torch.zeros_like(x)
    exact = deploy.completeness_gap((x * weights).sum(-1)[0], linear, x, zero)
    assert abs(exact["gap"]) < 1e-4


# --- noise and leaks ----------------------------------------------------------------------------

def test_typos_keep_every_word_and_are_seeded() -> None:
    rng = random.Random(0)
    words = ["Paris", "a", ",", "1996-12-06", "Merkel"] * 20
    noisy = deploy.add_typos(words, 1.0, rng)
    assert len(noisy) == len(words) and all(noisy)
    assert noisy[2] == "," and noisy[3] == "1996-12-06" and sum(a != b for a, b in zip(words, noisy)) > 50
    assert deploy.add_typos(words, 0.0, random.Random(0)) == words
    assert deploy.add_typos(words, 0.5, random.Random(7)) == deploy.add_typos(words, 0.5, random.Random(7))


def test_noisy_split_lower_typos_and_swap() -> None:
    split = _split([["Angela", "Merkel", "met", "Bob"], ["In", "Paris"]], [[1, 2, 0, 1], [0, 3]])
    lower = deploy.noisy_split(split, "lower")
    assert lower[0]["tokens"] == ["angela", "merkel", "met", "bob"] and lower[0]["ner_tags"] == [1, 2, 0, 1]
    pool = {"PER": [["Zed"], ["Ann", "Lee", "Smith"]], "LOC": [["Rome"]]}
    swapped = deploy.noisy_split(split, "swap", pool=pool, seed=1)
    for row in swapped:
        assert len(row["tokens"]) == len(row["ner_tags"])
    assert swapped[1]["tokens"] == ["In", "Rome"]
    with pytest.raises(BmcourseError, match="pool"):
        deploy.noisy_split(split, "swap")
    with pytest.raises(BmcourseError, match="unknown noise"):
        deploy.noisy_split(split, "shout")


def test_unseen_mentions_leave_out_training_names() -> None:
    train = _split([["Angela", "Merkel"], ["Paris"]], [[1, 2], [3]])
    pool = _split([["Angela", "Merkel", "and", "Bob"], ["Paris", "Rome"]], [[1, 2, 0, 1], [3, 3]])
    assert deploy.unseen_mentions(pool, train) == {"PER": [["Bob"]], "LOC": [["Rome"]]}


def test_leaks_count_words_left_visible_whatever_the_type() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "I-LOC"]]
    pred = [["B-ORG", "I-ORG", "O", "O"], ["B-LOC", "O"]]
    assert [len(deploy.leaked_entities(g, p)) for g, p in zip(gold, pred)] == [1, 1]
    assert deploy.leak_rate(gold, pred) == {"LOC": 1.0, "PER": 0.0}
    assert deploy.leak_rate(gold, gold) == {"LOC": 0.0, "PER": 0.0}


# --- FGM --------------------------------------------------------------------------------------

def test_fgm_step_has_length_epsilon_and_restores_the_embeddings(tagger) -> None:
    model, tokenizer = tagger
    gradient = torch.randn(5, 4)
    assert torch.isclose(fgm_delta(gradient, 0.5).norm(), torch.tensor(0.5))
    features = encode_ner(_split(tags=[[1, 2, 0, 3, 0], [3, 0, 3, 4, 4], [1, 0, 0, 3, 4, 4, 0], [0, 0]]),
                          tokenizer, quiet=True)
    from bmcourse.train import collate

    batch = collate(features)
    model.train()
    model(**batch).loss.backward()
    before = word_embeddings(model).detach().clone()
    calls = []
    hook = model.register_forward_hook(lambda *args: calls.append(1))
    fgm_backward(model, batch, 1.0, torch.device("cpu"))
    hook.remove()
    assert calls == [1] and torch.equal(word_embeddings(model).detach(), before)
    model.zero_grad(set_to_none=True)
    with pytest.raises(BmcourseError, match="gradients on the word embeddings"):
        fgm_backward(model, batch, 1.0, torch.device("cpu"))


def test_fit_with_fgm_runs_two_passes_per_step(tiny_model, packaged_tokenizer) -> None:
    model = tiny_model(LABELS, seed=1)
    features = encode_ner(_split(tags=[[1, 2, 0, 3, 0], [3, 0, 3, 4, 4], [1, 0, 0, 3, 4, 4, 0], [0, 0]]),
                          packaged_tokenizer, quiet=True)
    calls = []
    hook = model.register_forward_hook(lambda *args: calls.append(1))
    result = fit(model, features, None, TrainConfig(epochs=2, batch_size=2, lr=1e-3, progress=False, adversarial=0.5))
    hook.remove()
    assert result.steps == 4 and len(calls) == 8


# --- bmcourse bench inference -----------------------------------------------------------------

def test_bench_inference_writes_the_table(tmp_path: Path, env, tagger, capsys) -> None:
    import shutil

    from bmcourse.course.cli import main
    from bmcourse.data import SAMPLES_DIR
    from bmcourse.models import save_model

    # bench inference refuses the embedded sample: a local copy of it stands in for the real CoNLL-2003
    shutil.copytree(SAMPLES_DIR / "news_ner", tmp_path / "data" / "conll2003")
    env.setenv("BMCOURSE_DATA_DIR", str(tmp_path / "data"))

    model, tokenizer = tagger
    folder = save_model(model, tokenizer, tmp_path / "tagger")
    conll_labels = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    model.config.id2label = dict(enumerate(conll_labels))
    model.config.label2id = {n: i for i, n in enumerate(conll_labels)}
    model.config.num_labels = len(conll_labels)
    model.classifier = torch.nn.Linear(model.config.hidden_size, len(conll_labels))
    save_model(model, tokenizer, folder)
    out = tmp_path / "bench.json"
    assert main(["bench", "inference", "--model", str(folder), "--latency-sentences", "5", "--out", str(out)]) == 0
    payload = json.loads(out.read_text())
    names = [v["name"] for v in payload["variants"]]
    assert names == ["pytorch-fp32", "onnxruntime-fp32", "onnxruntime-int8", "onnxruntime-int8-per-channel",
                     "onnxruntime-fused-int8"]
    for key in ("machine", "date", "command", "model", "commit", "settings", "libraries"):
        assert key in payload
    assert payload["variants"][0]["speedup_p50"] == 1.0
    assert payload["settings"]["latency_sentences"] == 5
    assert "fastest variant within 0.5 F1 points" in capsys.readouterr().out


def test_variant_table_compares_equal_under_the_sanitiser_when_timings_change() -> None:
    import re

    from nbval.plugin import get_sanitize_patterns

    from bmcourse.metrics import format_table

    patterns = get_sanitize_patterns((Path(__file__).parent / "nbval_sanitize.cfg").read_text(encoding="utf-8"))

    def sanitised(p50: float, rate: float) -> str:
        rows = [deploy.Variant("a", p50, p50 * 1.5, rate, 90.0, 0.9, 0.0, 1.0),
                deploy.Variant("b", p50 / 7, p50 / 3, rate * 12, 23.0, 0.89, 2.5, 0.99)]
        text = format_table(deploy.variant_table(rows))
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        return text

    assert sanitised(9.8, 95.0) == sanitised(123.4, 1234.0)
    assert "0.890" in sanitised(9.8, 95.0) and "23 MB" in sanitised(9.8, 95.0)  # quality and size still compared


# --- int8 arithmetic that does not depend on the CPU -----------------------------------------

def _avx2_u8s8(a, w):
    """``a @ w`` (u8 x s8) the way AVX2's ``vpmaddubsw`` computes it: adjacent products along the
    input dimension summed in pairs into int16 with saturation, the pairs then added in int32."""
    import numpy as np

    products = a.astype(np.int32)[:, :, None] * w.astype(np.int32)[None, :, :]  # (m, k, n)
    if products.shape[1] % 2:
        products = np.concatenate([products, np.zeros_like(products[:, :1])], axis=1)
    pairs = np.clip(products[:, 0::2] + products[:, 1::2], -32768, 32767)
    return pairs.sum(axis=1)


def _worst_activations(k: int, seed: int = 0):
    """u8 activations that push pair sums to the limit: all 255, then random bytes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return np.vstack([np.full((1, k), 255, np.uint8), rng.integers(0, 256, (3, k), dtype=np.uint8)])


def _int8_files(model, folder: Path) -> list[Path]:
    runners = deploy.build_runners(model, folder)
    return sorted(Path(r.path) for r in runners if "int8" in r.name)


def test_int8_weights_are_unsigned_where_signed_ones_would_saturate_avx2(tmp_path: Path, tagger) -> None:
    """The check that would have caught the CPU-dependent F1 on any CPU: the course's int8 files
    hold u8 weights only, while ONNX Runtime's default signed weights reach pair sums that the
    emulated AVX2 arithmetic saturates, so they differ from exact integers there."""
    import numpy as np
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model, _ = tagger
    files = _int8_files(model, tmp_path)
    assert [f.stem for f in files] == ["model_fused_int8", "model_int8", "model_int8_per_channel"]
    for path in files:
        weights = deploy.int8_weights(path)
        assert weights and all(w.dtype == np.uint8 for w in weights.values()), path.name
        assert deploy.saturating_weights(path) == []
    signed = tmp_path / "signed.onnx"
    quantize_dynamic(str(tmp_path / "model_fp32.onnx"), str(signed), weight_type=QuantType.QInt8)
    assert deploy.saturating_weights(signed)
    differs = []
    for name, w in deploy.int8_weights(signed).items():
        a = _worst_activations(w.shape[0])
        if not np.array_equal(_avx2_u8s8(a, w), a.astype(np.int64) @ w.astype(np.int64)):
            differs.append(name)
    assert differs, "signed 8-bit weights should saturate the emulated AVX2 pair sums"
    assert set(differs) <= set(deploy.saturating_weights(signed))  # the bound flags every one that does


def _matmul_integer_model(w, zero_point: int):
    """A one-node ONNX graph ``MatMulInteger(a, w)`` with ``w`` (u8, zero point given) as its constant weight."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "w", "a_zero", "w_zero"], ["y"])], "matmul",
                              [helper.make_tensor_value_info("a", TensorProto.UINT8, [None, w.shape[0]])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, [None, w.shape[1]])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array(0, np.uint8), "a_zero"),
                               numpy_helper.from_array(np.array(zero_point, w.dtype), "w_zero")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def test_onnx_runtime_int8_matmul_equals_exact_integers(tmp_path: Path, tagger) -> None:
    """ONNX Runtime's integer kernel on this CPU, with the quantised model's own weights and
    worst-case activations, against numpy's exact integer product."""
    import numpy as np
    import onnxruntime as ort

    model, _ = tagger
    for path in _int8_files(model, tmp_path):
        for name, w in deploy.int8_weights(path).items():
            for zero_point in (0, 128):
                session = ort.InferenceSession(_matmul_integer_model(w, zero_point), providers=["CPUExecutionProvider"])
                a = _worst_activations(w.shape[0], seed=1)
                exact = a.astype(np.int64) @ (w.astype(np.int64) - zero_point)
                assert np.array_equal(session.run(None, {"a": a})[0], exact), (path.name, name, zero_point)


CROSS_CPU_TOLERANCE = 1e-5  # float32 rounding after exact integer sums (FMA or not); saturation moves logits by 0.1+
EMULATED_CPUS = {"Haswell": "AVX2: 16-bit pair sums that saturate", "Nehalem": "SSE4.2, no AVX"}
_CROSS_CPU = '''
import sys
import numpy as np
import onnxruntime as ort
data = np.load(sys.argv[1])
out = {}
for name in sys.argv[3:]:
    session = ort.InferenceSession(name, providers=["CPUExecutionProvider"])
    out[name] = session.run(None, {"input_ids": data["ids"], "attention_mask": data["mask"]})[0]
np.savez(sys.argv[2], **{str(i): out[n] for i, n in enumerate(sys.argv[3:])})
'''


@pytest.mark.parametrize("cpu", sorted(EMULATED_CPUS))
def test_int8_logits_are_identical_on_other_cpu_types(tmp_path: Path, tagger, cpu: str) -> None:
    """The int8 files' logits on an emulated CPU (qemu-user: ONNX Runtime picks other kernels from
    CPUID) equal this CPU's: the integer sums exactly, so only the float32 steps around them (scales,
    bias, LayerNorm, with or without FMA) may differ, in the last bits. Needs qemu-x86_64 (Debian: qemu-user);
    CI installs it, elsewhere the test skips."""
    import os
    import platform
    import shutil
    import subprocess
    import sys

    import numpy as np

    qemu = shutil.which("qemu-x86_64")
    if platform.machine() != "x86_64" or qemu is None:
        if os.environ.get("CI"):
            pytest.fail("qemu-x86_64 is missing: .ci/run installs it (apt-get install qemu-user)")
        pytest.skip("needs qemu-x86_64 (apt-get install qemu-user) on an x86_64 machine")
    model, tokenizer = tagger
    files = [str(p) for p in _int8_files(model, tmp_path)]
    encoded = tokenizer([" ".join(s) for s in SENTENCES] * 4, padding=True, return_tensors="np")
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, ids=encoded["input_ids"].astype(np.int64), mask=encoded["attention_mask"].astype(np.int64))
    script = tmp_path / "cross_cpu.py"
    script.write_text(_CROSS_CPU)
    native, emulated = tmp_path / "native.npz", tmp_path / "emulated.npz"
    subprocess.run([sys.executable, str(script), str(inputs), str(native), *files], check=True, timeout=300)
    run = subprocess.run([qemu, "-cpu", cpu, sys.executable, str(script), str(inputs), str(emulated), *files],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    here, there = np.load(native), np.load(emulated)
    for i, name in enumerate(files):
        drift = float(np.abs(here[str(i)] - there[str(i)]).max())
        print(f"{Path(name).name} on {cpu}: largest logit difference {drift:.2e}")
        assert drift <= CROSS_CPU_TOLERANCE, f"{Path(name).name} differs on {cpu} ({EMULATED_CPUS[cpu]}) by {drift:.2e}"


def test_embedding_attack_gradient_step_hurts_more_than_a_random_one_and_restores(tagger) -> None:
    model, tokenizer = tagger
    sentences = SENTENCES * 3
    tags = [[1, 2, 0, 3, 0], [3, 0, 3, 4, 4], [1, 0, 0, 3, 4, 4, 0], [0, 0]] * 3
    features = encode_ner(_split(sentences, tags), tokenizer, training=False, quiet=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = deploy.embedding_attack(model, features, 1.0, batch_size=4, progress=False)
    assert set(result) == {"clean", "random", "gradient"}
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # embeddings restored exactly
    assert all(p.grad is None for p in model.parameters())
    gold, clean = word_tags(model, features, progress=False, decode="viterbi")
    assert result["clean"]["gold"] == gold and result["clean"]["pred"] == clean
    assert result["gradient"]["loss"] > result["random"]["loss"] >= 0  # the worst case hurts more than chance
    assert result["gradient"]["loss"] > result["clean"]["loss"]
    again = deploy.embedding_attack(model, features, 1.0, batch_size=4, progress=False)
    assert again["random"]["loss"] == result["random"]["loss"]  # seeded
    with pytest.raises(BmcourseError, match="positive epsilon"):
        deploy.embedding_attack(model, features, 0.0, progress=False)
