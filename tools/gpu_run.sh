#!/usr/bin/env bash
# The GPU checks (issue 13), on a machine with a CUDA GPU and the course installed:
#   1. every notebook under nbval on CUDA (BMCOURSE_DEVICE=cuda: smoke profile, the CUDA sanitiser),
#      with per-cell times in a JUnit XML;
#   2. bmcourse bench ner on the real CoNLL-2003 (BMCOURSE_DATA_DIR), bf16 autocast;
#   3. bmcourse bench inference (PyTorch on the GPU's host CPU vs ONNX Runtime; see README);
#   4. bmcourse run --profile smoke on CUDA: seconds and headline per notebook.
# Issue 28 adds (each its own step and limit):
#   5. bench ner by token budget (--batch-tokens auto: train.loop.TOKEN_BUDGET["cuda"]) with the loop-cost
#      check and torch.compile in it: tokens/s against the microbenchmark, F1 after the epoch;
#   6. bench epoch-time: one epoch's time for a bert-base-cased-shaped model (random weights, no Hub);
#   7. bench transfer on CUDA (the CPU takes about 45 minutes).
# Usage: OUT=results/gpu BMCOURSE_DATA_DIR=../shared/data bash tools/gpu_run.sh
# Each step has a time limit and writes its log to $OUT; one failing step does not stop the others.
set -uo pipefail
OUT="${OUT:-results/gpu}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
export BMCOURSE_DEVICE=cuda HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
"$PY" - > "$OUT/gpu_steps.txt" 2>&1 <<'PY'
import platform, os, torch, transformers
print("gpu", torch.cuda.get_device_name(0), "| bf16", torch.cuda.is_bf16_supported())
print("torch", torch.__version__, "| transformers", transformers.__version__, "| python", platform.python_version(),
      "| cpus", os.cpu_count())
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >> "$OUT/gpu_steps.txt" 2>&1

step() {  # step NAME LIMIT_S COMMAND...: run with a limit, log to $OUT/NAME.txt, record rc and seconds
  local name=$1 limit=$2 start=$SECONDS rc
  shift 2
  timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1
  rc=$?
  echo "$name rc=$rc seconds=$((SECONDS - start))" | tee -a "$OUT/gpu_steps.txt"
}
step nbval_cuda "${NBVAL_LIMIT:-240}" "$PY" -m pytest --nbval notebooks -p no:cacheprovider -q \
  --junitxml="$OUT/nbval_cuda.xml"
step bench_ner_cuda "${BENCH_NER_LIMIT:-150}" "$PY" -m bmcourse.course.cli bench ner --out "$OUT/bench_ner_cuda.json"
step bench_ner_cuda_tokens "${BENCH_NER_LIMIT:-240}" "$PY" -m bmcourse.course.cli bench ner --batch-tokens auto \
  --compile-check --out "$OUT/bench_ner_cuda_token_budget.json"
step bench_epoch_time_cuda "${EPOCH_LIMIT:-150}" "$PY" -m bmcourse.course.cli bench epoch-time --steps 100 \
  --batch-tokens auto --out "$OUT/bench_epoch_time_bert_base_cuda.json"
step bench_transfer_cuda "${TRANSFER_LIMIT:-600}" "$PY" -m bmcourse.course.cli bench transfer \
  --out "$OUT/bench_transfer_cuda.json"
step bench_inference "${BENCH_INFERENCE_LIMIT:-150}" "$PY" -m bmcourse.course.cli bench inference \
  --out "$OUT/bench_inference_gpu_host.json"
step run_smoke_cuda "${RUN_LIMIT:-150}" "$PY" -m bmcourse.course.cli run --profile smoke --out "${TMPDIR:-/tmp}/bmcourse_gpu_runs"
