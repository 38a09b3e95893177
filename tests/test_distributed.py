"""Two CPU processes (``accelerate launch --multi_gpu --num_processes 2`` on CPU: gloo): ``fit`` trains with DDP,
``evaluate`` scores every test sentence exactly once and agrees with one process on the same weights."""
from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(processes: int, out: Path) -> dict:
    """Run tests/distributed_check.py under ``accelerate launch`` and return its JSON."""
    # Accelerate 1.15's `--cpu` launcher starts a single process unless MPI is set up; `--multi_gpu` starts
    # one process per slot with torchrun, and on a machine without a GPU they join with gloo (MULTI_CPU).
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(free_port()), str(ROOT / "tests" / "distributed_check.py"), str(out)]
    env = {**os.environ, "BMCOURSE_PROFILE": "smoke", "BMCOURSE_DEVICE": "cpu", "HF_HUB_OFFLINE": "1",
           "ACCELERATE_USE_CPU": "1", "CUDA_VISIBLE_DEVICES": "",
           "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, f"accelerate launch failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return json.loads(out.read_text(encoding="utf-8"))


def test_two_cpu_processes_train_and_evaluate_every_sentence_once(tmp_path: Path) -> None:
    result = launch(2, tmp_path / "two.json")
    assert result["processes"] == 2
    shares = result["scored_by_process"]
    assert len(shares) == 2 and all(shares) and len(shares[0]) != len(shares[1])  # uneven on purpose
    everything = sorted(i for share in shares for i in share)
    assert everything == list(range(result["test_features"])), "each test sentence scored exactly once"
    distributed, single = result["distributed"], result["single"]
    assert {k: v for k, v in distributed.items() if k != "loss"} == {k: v for k, v in single.items() if k != "loss"}
    assert math.isclose(distributed["loss"], single["loss"], rel_tol=1e-6)
    assert result["train_loss_after"] < 0.8 * result["train_loss_before"], "training reduced the loss"
    assert len(set(result["weight_checksums"])) == 1, "DDP kept the two replicas identical"
