"""``bmcourse bench inference``: every way of running the course's CoNLL-2003 tagger (eager
PyTorch fp32, ONNX Runtime fp32 and int8 variants) measured on the real test set: latency,
throughput, size, entity F1 and drift from fp32, with the fastest variant that keeps the F1.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def bench_inference(model_dir: str | Path | None = None, *, latency_sentences: int = 200,
                    batch_size: int = 32, work_dir: str | Path | None = None, progress: bool = True
                    ) -> dict[str, Any]:
    """``bmcourse bench inference``: every variant of the CoNLL-2003 tagger on the real test set."""
    import tempfile

    from .. import reference
    from ..apps import load_tagger
    from ..data import load_ner, source_label
    from ..deploy import best_within, build_runners, measure_variants, saturating_weights, speedups
    from ..models import loaded_model_info, save_model
    from ..train import encode_ner, tokenizer_pad_id

    tagger = load_tagger(model_dir, progress=progress)
    model, tokenizer = tagger.model.eval().cpu(), tagger.tokenizer
    test = load_ner("conll2003")["test"]
    features = encode_ner(test, tokenizer, training=False, quiet=True)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        saved = save_model(model, tokenizer, Path(tmp) / "pytorch")
        runners = build_runners(model, tmp, saved_weights=saved / "model.safetensors")
        variants = measure_variants(runners, features, tagger.labels, latency_sentences=latency_sentences,
                                    batch_size=batch_size, pad_id=tokenizer_pad_id(tokenizer), progress=progress)
        saturating = sorted({name for r in runners if "int8" in r.name for name in saturating_weights(r.path)})
    fast = speedups(variants)
    best = best_within(variants)
    return {
        "benchmark": "inference",
        "variants": [{**v.row(), "speedup_p50": round(fast[v.name], 2)} for v in variants],
        "best_within_half_point": best.name if best else None,
        "settings": {"latency_sentences": latency_sentences, "batch_size": batch_size,
                     "threads": torch.get_num_threads(),
                     "latency": "model call only, batch 1, after 10 warm-up calls; median of 3 rounds that take "
                                "the variants in turn",
                     "int8": "ONNX Runtime dynamic quantisation (onnxruntime.quantization.quantize_dynamic), "
                             "u8 weights with a zero point (QUInt8): u8 x u8 integer kernels, exact on every "
                             "x86 CPU (signed weights saturate AVX2's 16-bit pair sums)",
                     "int8_weights_that_could_saturate_avx2": saturating,
                     "export": "torch.onnx.export(dynamo=True)", "decode": "viterbi"},
        "data": {"test_sentences": len(test), "test_features": len(features)},
        "libraries": _runtime_versions(),
        **reference.provenance(model=loaded_model_info(model, tokenizer),
                               data_source=source_label("conll2003", kind="ner"), command=reference.command_line()),
    }


def _runtime_versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "torch": torch.__version__}
