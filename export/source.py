"""Load an export SOURCE through `models.load_pretrained`, mapping failures to one-line export errors.

SOURCE is a shipped model name (`models/weights/<name>/`), one of our checkpoint folders, a Hugging
Face folder (`config.json` + weights) or an official TimeSformer `.pyth` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from export.errors import CheckpointMismatchError, ExportError, UnknownSourceError

if TYPE_CHECKING:
    from torch import nn

_SOURCES_FIX = (
    "pass a shipped model name, a vtserve checkpoint folder, a Hugging Face folder with config.json, "
    "or an official TimeSformer .pyth file"
)
_MISMATCH_MARKERS = (
    "missing key",
    "unexpected key",
    "size mismatch",
    "state_dict",
    "do not fit",
    "does not fit",
    "shape mismatch",
)
_UNKNOWN_MARKERS = (
    "unknown",
    "not recognised",
    "not recognized",
    "unsupported",
    "cannot detect",
    "no such",
    "no checkpoint",
    "not an official",
    "not a vtserve",
    "without config.json",
)


def _one_line(exc: BaseException, limit: int = 240) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def classify_load_error(source: str, exc: Exception) -> ExportError:
    """The export error for a failed `load_pretrained(source)`, by exception type, then by message."""
    import models

    unknown_type = getattr(models, "UnknownSourceError", None)
    mismatch_type = getattr(models, "CheckpointMismatchError", None)
    message = _one_line(exc)
    lowered = message.lower()
    if isinstance(mismatch_type, type) and isinstance(exc, mismatch_type):
        kind = "mismatch"
    elif isinstance(unknown_type, type) and isinstance(exc, unknown_type):
        kind = "unknown"
    elif any(m in lowered for m in _MISMATCH_MARKERS):
        kind = "mismatch"
    elif isinstance(exc, FileNotFoundError) or any(m in lowered for m in _UNKNOWN_MARKERS):
        kind = "unknown"
    else:
        kind = "other"
    if kind == "mismatch":
        return CheckpointMismatchError(
            f"the checkpoint in {source} does not fit its architecture: {message}",
            "check that the checkpoint matches its config (architecture, depth, width, patch size), "
            "or pass the config the checkpoint was trained with",
        )
    if kind == "unknown":
        return UnknownSourceError(f"cannot load {source}: {message}", _SOURCES_FIX)
    return ExportError(f"loading {source} failed: {type(exc).__name__}: {message}", _SOURCES_FIX)


def load_source(
    source: str | Path, *, num_frames: int | None = None, image_size: int | None = None
) -> nn.Module:
    """The model for `source` in eval mode, or an `ExportError` subclass naming the cause and the fix."""
    import models

    text = str(source)
    path = Path(source)
    if not path.exists() and (path.suffix or "/" in text or "\\" in text):
        raise UnknownSourceError(f"{text} does not exist", _SOURCES_FIX)
    try:
        model = models.load_pretrained(
            text if not path.exists() else path, num_frames=num_frames, image_size=image_size
        )
    except ExportError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise classify_load_error(text, exc) from exc
    if getattr(model, "card", None) is None:
        raise ExportError(
            f"{text} loaded a model without a model card", "load it with models.load_pretrained"
        )
    model.eval()
    return model
