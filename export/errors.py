"""Export failures, each naming its cause and its fix in one line.

The CLI prints `str(error)` and exits with status 1; the Python API raises these.
"""

from __future__ import annotations


class ExportError(Exception):
    """An export that cannot complete. `str()` is one line: "<cause> (fix: <fix>)"."""

    def __init__(self, cause: str, fix: str) -> None:
        self.cause = " ".join(cause.split())
        self.fix = " ".join(fix.split())
        super().__init__(f"{self.cause} (fix: {self.fix})")


class UnknownSourceError(ExportError):
    """The source is neither a shipped model, our checkpoint, a Hugging Face folder nor a `.pyth` file."""


class CheckpointMismatchError(ExportError):
    """The checkpoint's keys or shapes do not fit the architecture it claims to be."""


class UnsupportedOpError(ExportError):
    """The exported graph holds an operator that onnxruntime cannot run."""


class ParityError(ExportError):
    """The exported graph's outputs differ from the reference by more than the tolerance."""


class TensorRTUnavailableError(ExportError):
    """TensorRT or an NVIDIA GPU is missing."""


class TensorRTBuildError(ExportError):
    """TensorRT could not parse the graph or build an engine."""


def tensorrt_missing(reason: str) -> TensorRTUnavailableError:
    return TensorRTUnavailableError(
        f"TensorRT is not available: {reason}",
        "on a machine with an NVIDIA GPU run pip install 'vtserve[gpu]', or export with --format onnx",
    )
