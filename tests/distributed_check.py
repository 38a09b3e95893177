"""Data-parallel ``fit`` and ``evaluate`` on a small NER set, run by tests/test_distributed.py as
``accelerate launch --cpu --num_processes 2 tests/distributed_check.py RESULT.json`` (any N works).

Every process trains and evaluates; the main process writes what the test checks: the test
features each process scored, distributed vs single-process metrics of the same weights, the
training loss before and after, and a checksum of each process's weights.
"""
from __future__ import annotations

import json
import sys

import torch
from accelerate.utils import gather_object

from bmcourse.config import seed_everything
from bmcourse.data import load_ner
from bmcourse.models import load_token_classifier
from bmcourse.train import TrainConfig, encode_ner, evaluate, fit, is_main_process, length_sorted_batches, processes

BATCH = 8
TEST_SENTENCES = 37  # 5 batches of 8: the processes get uneven shares, so padding would show as repeats


def main(out: str) -> None:
    """Train a few steps under every process, evaluate, gather, and (main process) write the JSON."""
    seed_everything(0)
    data = load_ner("conll2003")  # the smoke profile: the embedded sample
    labels = data["train"].features["ner_tags"].feature.names
    model, tokenizer = load_token_classifier(labels, name="offline")
    train = encode_ner(data["train"].select(range(64)), tokenizer)
    train_eval = encode_ner(data["train"].select(range(64)), tokenizer, training=False)
    test = encode_ner(data["test"].select(range(TEST_SENTENCES)), tokenizer, training=False)
    before = evaluate(model, train_eval, batch_size=BATCH, progress=False)["loss"]
    result = fit(model, train, None, TrainConfig(epochs=3, lr=3e-4, batch_size=BATCH, progress=False))
    after = evaluate(model, train_eval, batch_size=BATCH, progress=False)["loss"]
    distributed = evaluate(model, test, batch_size=BATCH, progress=False)
    single = evaluate(model, test, batch_size=BATCH, progress=False, split=False)
    rank, world = processes()
    mine = [i for indices, _ in length_sorted_batches(test, BATCH, tokenizer.pad_token_id, torch.device("cpu"),
                                                       part=(rank, world)) for i in indices]
    scored = gather_object([mine])
    checksums = gather_object([float(sum(p.detach().double().sum() for p in model.parameters()))])
    if is_main_process():
        payload = {"processes": world, "test_features": len(test), "scored_by_process": scored,
                   "distributed": distributed, "single": single, "train_loss_before": before,
                   "train_loss_after": after, "weight_checksums": checksums, "steps": result.steps,
                   "train_seconds": result.train_seconds,
                   "steps_per_second": result.steps / result.train_seconds}
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)


if __name__ == "__main__":
    main(sys.argv[1])
