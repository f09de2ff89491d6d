"""Write a `BundleGraph` to ONNX with a dynamic batch axis.

The dynamo exporter (`torch.onnx.export(..., dynamo=True, dynamic_shapes=...)`) is tried first; when it
fails the legacy TorchScript exporter (`dynamo=False, dynamic_axes=...`) is used and the reason kept.
Either way the graph's input and output batch dimensions are named "batch", and the file holds its
weights inline (one self-contained `model.onnx`; models over 2 GB are out of scope).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import onnx
import torch

from export.manifest import INPUT_NAME
from export.wrapper import BundleGraph

Exporter = Literal["auto", "dynamo", "torchscript"]
DEFAULT_OPSET = 18
BATCH_DIM = "batch"
EXAMPLE_BATCH = 2  # not 0 or 1, which torch.export would specialise on


@dataclass(frozen=True, kw_only=True)
class ExportedGraph:
    path: Path
    exporter: Literal["dynamo", "torchscript"]
    opset: int
    fallback_reason: str | None = None


def _example(num_frames: int, image_size: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    shape = (EXAMPLE_BATCH, num_frames, image_size, image_size, 3)
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)


# loggers of the exporters and the ONNX passes they run (onnx_ir logs every initializer it deduplicates)
EXPORTER_LOGGERS = ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript", "onnx_ir")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' chatter (they print progress and warn freely) while keeping errors."""
    loggers = [logging.getLogger(n) for n in EXPORTER_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _torch_export(graph: BundleGraph, example: torch.Tensor, path: Path, opset: int, *, dynamo: bool) -> None:
    """`torch.onnx.export` with a dynamic batch axis: `dynamic_shapes` for dynamo, `dynamic_axes` for the
    legacy TorchScript exporter."""
    options: dict[str, Any]
    if dynamo:
        batch = torch.export.Dim(BATCH_DIM, min=1, max=1024)
        options = {"external_data": False, "dynamic_shapes": {"video": {0: batch}}, "optimize": True}
    else:
        names = [INPUT_NAME, *graph.output_names]
        options = {"dynamic_axes": {name: {0: BATCH_DIM} for name in names}, "do_constant_folding": True}
    torch.onnx.export(
        graph,
        (example,),
        str(path),
        input_names=[INPUT_NAME],
        output_names=list(graph.output_names),
        opset_version=opset,
        dynamo=dynamo,
        **options,
    )


def _name_batch_axes(path: Path) -> None:
    """Give the batch axis of every graph input and output the symbolic name "batch"."""
    model = onnx.load(str(path))
    changed = False
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value") and dims[0].dim_param != BATCH_DIM:
            dims[0].dim_param = BATCH_DIM
            changed = True
    if changed:
        onnx.save(model, str(path))


def _write_checked(
    graph: BundleGraph, example: torch.Tensor, path: Path, opset: int, *, dynamo: bool
) -> None:
    """Export quietly, name the batch axes, and let the ONNX checker validate the file."""
    with _quiet(), torch.no_grad():
        _torch_export(graph, example, path, opset, dynamo=dynamo)
    _name_batch_axes(path)
    onnx.checker.check_model(str(path))


def export_onnx(
    graph: BundleGraph,
    path: Path,
    *,
    num_frames: int,
    image_size: int,
    exporter: Exporter = "auto",
    opset: int = DEFAULT_OPSET,
    progress: Callable[[str], None] | None = None,
) -> ExportedGraph:
    """Export `graph` (eval mode) to `path`; return which exporter produced it."""
    if opset < 17:
        raise ValueError(f"opset {opset} is too old; vtserve bundles need opset >= 17")
    say = progress or (lambda _message: None)
    graph.eval()
    example = _example(num_frames, image_size)
    path = Path(path)
    reason: str | None = None
    if exporter in ("auto", "dynamo"):
        say("exporting ONNX graph (torch.onnx dynamo exporter)")
        try:
            _write_checked(graph, example, path, opset, dynamo=True)
            return ExportedGraph(path=path, exporter="dynamo", opset=opset)
        except Exception as exc:
            if exporter == "dynamo":
                raise
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            path.unlink(missing_ok=True)
    say(
        "exporting ONNX graph (legacy TorchScript exporter)"
        + (f"; dynamo failed: {reason}" if reason else "")
    )
    _write_checked(graph, example, path, opset, dynamo=False)
    return ExportedGraph(path=path, exporter="torchscript", opset=opset, fallback_reason=reason)
