"""Export a local sentence-transformers model to ONNX once, and quantize it to int8.

Runs only when the cache lacks the files (first use of an ``onnx``/``onnx-int8`` backend
on a machine); it needs torch and transformers, the query and ingestion paths do not.

The exported graph takes ``input_ids``, ``attention_mask`` (and ``token_type_ids`` when
the model uses them) and returns ``sentence_embedding``: the model's pooling (mean, CLS
or max tokens, from ``1_Pooling/config.json``) and L2 normalisation happen inside the
graph, so the runtime does no numpy post-processing. We export with
``torch.onnx.export(dynamo=False, opset 17)`` directly rather than through
``sentence-transformers[onnx]``/optimum, which would downgrade sentence-transformers and
transformers. ``quantize_dynamic(per_channel=True)`` gives the int8 model.

Files are written to a temporary name and renamed into place, so two processes exporting
at once both end with a complete file, and a crash never leaves half a model behind.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

#: Bump when the graph changes: cached files of an older export are then ignored.
EXPORT_VERSION = 1
OPSET = 17


def _pooling(model_path: Path) -> str:
    """The sentence-transformers pooling mode of the model (mean when it says nothing)."""
    modules = model_path / "modules.json"
    if modules.is_file():
        kinds = [m.get("type", "") for m in json.loads(modules.read_text())]
        unsupported = [k for k in kinds if not k.endswith((".Transformer", ".Pooling", ".Normalize"))]
        if unsupported:
            raise RuntimeError(f"cannot export modules {unsupported} to ONNX (only Transformer, Pooling, Normalize)")
    cfg = model_path / "1_Pooling" / "config.json"
    if cfg.is_file():
        c = json.loads(cfg.read_text())
        if c.get("pooling_mode_cls_token"):
            return "cls"
        if c.get("pooling_mode_max_tokens"):
            return "max"
    return "mean"


def _atomic_target(path: Path) -> tuple[str, Path]:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return tmp, path


def export_fp32(model_path: Path, out: Path) -> None:
    """Write ``out`` (an fp32 ONNX model with pooling and normalisation in the graph)."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    pooling = _pooling(model_path)
    model = AutoModel.from_pretrained(str(model_path), local_files_only=True, attn_implementation="eager")
    model.eval()
    uses_types = "token_type_ids" in inspect.signature(model.forward).parameters

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids=None):  # type: ignore[no-untyped-def]
            kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                kwargs["token_type_ids"] = token_type_ids
            hidden = self.model(**kwargs)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            if pooling == "cls":
                pooled = hidden[:, 0]
            elif pooling == "max":
                pooled = (hidden + (mask - 1.0) * 1e9).max(dim=1).values
            else:
                # mean (mean_sqrt_len differs only in length, which normalisation removes)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if uses_types else [])
    dummy = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["sentence_embedding"] = {0: "batch"}
    tmp, final = _atomic_target(out)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled(),
                dummy,
                tmp,
                input_names=names,
                output_names=["sentence_embedding"],
                dynamic_axes=axes,
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def quantize_int8(fp32: Path, out: Path) -> None:
    """Dynamic int8 quantization of the weights, one scale per output channel."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp, final = _atomic_target(out)
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.ERROR)  # the quantizer logs a pre-processing hint on the root logger
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(fp32), tmp, per_channel=True, weight_type=QuantType.QInt8)
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    finally:
        root.setLevel(level)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
