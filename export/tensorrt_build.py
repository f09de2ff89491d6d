"""Build a TensorRT engine (`model.plan`) from a bundle's `model.onnx`, and tell whether one fits this host.

Torch-free. Builders call `build_engine` (`vtserve export --format tensorrt`, `vtserve build-engine`); the
tensorrt runtime only asks `engine_mismatch` whether an engine recorded in a bundle fits this host and
refuses it when not. Written against TensorRT 10.x's Python API (`tensorrt` is imported lazily; without it
every building entry point raises `TensorRTUnavailableError`).

The engine has one optimisation profile over the batch axis of input `video` (uint8 `[batch, T, H, W, 3]`):
min/opt/max batch as given. fp16 builds set `BuilderFlag.FP16` on a weakly typed network (TensorRT may
still keep layers in fp32 where that is faster or required); TensorRT 11 removes that flag in favour of
strongly typed networks, hence the `tensorrt>=10,<11` pin in the `gpu` extra. A timing cache is read
before the build when its file exists and written back after it, so rebuilding on the same GPU skips
most tactic timing.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from export.errors import TensorRTBuildError, tensorrt_missing
from export.manifest import INPUT_NAME, PLAN_NAME, Precision, TensorRTInfo

Progress = Callable[[str], None]

DEFAULT_WORKSPACE_BYTES = 4 << 30


def import_tensorrt() -> ModuleType:
    """The `tensorrt` module, or `TensorRTUnavailableError` naming the cause and the fix."""
    try:
        import tensorrt as trt
    except ImportError as exc:  # also covers missing CUDA libraries behind the wheel
        raise tensorrt_missing(f"`import tensorrt` failed ({exc})") from exc
    version = str(getattr(trt, "__version__", "0"))
    if not version.startswith("10."):
        raise tensorrt_missing(f"TensorRT {version} is installed but vtserve needs TensorRT 10.x")
    module: ModuleType = trt
    return module


def tensorrt_version() -> str | None:
    """The installed TensorRT version, or None when it does not import."""
    try:
        import tensorrt as trt
    except ImportError:
        return None
    return str(trt.__version__)


def _gpu_from_cuda_python(device: int) -> tuple[str, str] | None:
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python
        except ImportError:
            return None
    err, props = cudart.cudaGetDeviceProperties(device)
    if int(err) != 0:
        return None
    name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
    return name.strip("\x00 "), f"{props.major}.{props.minor}"


def _gpu_from_nvidia_smi(device: int) -> tuple[str, str] | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        proc = subprocess.run(
            [exe, f"--id={device}", "--query-gpu=name,compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    line = proc.stdout.strip().splitlines()[0] if proc.returncode == 0 and proc.stdout.strip() else ""
    parts = [p.strip() for p in line.split(",")]
    if len(parts) != 2 or not parts[0]:
        return None
    return parts[0], parts[1]


def gpu_identity(device: int = 0) -> tuple[str, str] | None:
    """(GPU name, compute capability "major.minor") of CUDA device `device`, or None without a GPU."""
    return _gpu_from_cuda_python(device) or _gpu_from_nvidia_smi(device)


def require_tensorrt(device: int = 0) -> tuple[ModuleType, tuple[str, str]]:
    """TensorRT and this GPU's identity; `TensorRTUnavailableError` when either is missing."""
    trt = import_tensorrt()
    gpu = gpu_identity(device)
    if gpu is None:
        raise tensorrt_missing("no NVIDIA GPU was found (neither cuda-python nor nvidia-smi reports one)")
    return trt, gpu


def engine_mismatch(info: TensorRTInfo, version: str | None, gpu: tuple[str, str] | None) -> str | None:
    """Why an engine described by `info` cannot run with TensorRT `version` on `gpu` (name, compute
    capability), or None when it can: the same TensorRT version and the same GPU model."""
    built_for = f"TensorRT {info.tensorrt_version} on {info.gpu_name} (sm {info.compute_capability})"
    if version is None:
        return f"TensorRT does not import here; the engine was built with {built_for}"
    if gpu is None:
        return f"no NVIDIA GPU is visible here; the engine was built with {built_for}"
    if (info.tensorrt_version, info.gpu_name, info.compute_capability) != (version, *gpu):
        here = f"TensorRT {version} on {gpu[0]} (sm {gpu[1]})"
        return f"the engine was built with {built_for}, this host has {here}"
    return None


def engine_matches(info: TensorRTInfo, device: int = 0) -> bool:
    """Whether an engine described by `info` can be loaded here: same TensorRT version, same GPU model."""
    return engine_mismatch(info, tensorrt_version(), gpu_identity(device)) is None


def _parse_onnx(trt: ModuleType, builder: Any, logger: Any, onnx_path: Path) -> Any:
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "no detail"
        raise TensorRTBuildError(
            f"TensorRT could not parse {onnx_path.name}: {errors}",
            "re-export with a newer opset or export with --format onnx and serve through onnxruntime",
        )
    return network, parser


def _load_timing_cache(config: Any, path: Path | None) -> Any:
    """Attach the timing cache stored at `path` (or an empty one) to `config`; the attached cache or None.

    A cache that TensorRT refuses (another TensorRT version or GPU: `create_timing_cache` gives None or
    `set_timing_cache` False) is replaced by an empty one.
    """
    blob = path.read_bytes() if path is not None and path.is_file() else b""
    for data in (blob, b"") if blob else (b"",):
        cache = config.create_timing_cache(data)
        if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
            return cache
    return None


def _batch_profile(min_batch: int, opt_batch: int | None, max_batch: int) -> tuple[int, int, int]:
    """(min, opt, max) batch of the profile; `opt_batch` defaults to min(8, max_batch)."""
    if opt_batch is None:
        opt_batch = max(min_batch, min(8, max_batch))
    if not 1 <= min_batch <= opt_batch <= max_batch:
        raise ValueError(
            f"need 1 <= min_batch <= opt_batch <= max_batch, got {min_batch}/{opt_batch}/{max_batch}"
        )
    return min_batch, opt_batch, max_batch


def _frame_dims(network: Any, onnx_path: Path) -> tuple[int, ...]:
    """The fixed `(T, H, W, 3)` of the network's `video` input."""
    video = next((network.get_input(i) for i in range(network.num_inputs)), None)
    if video is None or video.name != INPUT_NAME:
        raise TensorRTBuildError(
            f"{onnx_path.name} has no input named {INPUT_NAME!r}", "export the graph with vtserve export"
        )
    frame_dims = tuple(int(d) for d in video.shape)[1:]
    if any(d < 1 for d in frame_dims):
        raise TensorRTBuildError(
            f"input {INPUT_NAME!r} has dynamic non-batch dimensions {tuple(video.shape)}",
            "export with fixed --frames and --image-size",
        )
    return frame_dims


def _builder_config(
    trt: ModuleType,
    builder: Any,
    precision: Precision,
    workspace_bytes: int,
    frame_dims: tuple[int, ...],
    batches: tuple[int, int, int],
) -> Any:
    """A builder config with the workspace limit, the precision flag and one batch profile."""
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if precision == "fp16":  # every GPU TensorRT 10 supports (sm 7.5+) has fast fp16
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    min_shape, opt_shape, max_shape = ((batch, *frame_dims) for batch in batches)
    profile.set_shape(INPUT_NAME, min_shape, opt_shape, max_shape)
    config.add_optimization_profile(profile)
    return config


def _serialize(builder: Any, network: Any, config: Any) -> bytes:
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TensorRTBuildError(
            "TensorRT failed to build the engine (see the TensorRT log above)",
            "try --precision fp32 or a smaller --max-batch",
        )
    return bytes(serialized)


def build_engine(
    onnx_path: Path,
    plan_path: Path,
    *,
    precision: Precision = "fp16",
    min_batch: int = 1,
    opt_batch: int | None = None,
    max_batch: int = 16,
    timing_cache_path: Path | None = None,
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
    device: int = 0,
    progress: Progress | None = None,
) -> TensorRTInfo:
    """Build `plan_path` from `onnx_path` with one batch profile; return what was built and for what.

    `opt_batch` (the batch TensorRT tunes for) defaults to min(8, max_batch).
    """
    batches = _batch_profile(min_batch, opt_batch, max_batch)
    trt, (gpu_name, capability) = require_tensorrt(device)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, _parser = _parse_onnx(trt, builder, logger, Path(onnx_path))  # the parser owns the weights
    frame_dims = _frame_dims(network, Path(onnx_path))
    config = _builder_config(trt, builder, precision, workspace_bytes, frame_dims, batches)
    cache = _load_timing_cache(config, timing_cache_path)
    if progress is not None:
        progress(
            f"building TensorRT {trt.__version__} engine ({precision},"
            f" batch {batches[0]}..{batches[2]}) on {gpu_name}"
        )
    plan_path = Path(plan_path)
    plan_path.write_bytes(_serialize(builder, network, config))
    if timing_cache_path is not None and cache is not None:
        Path(timing_cache_path).write_bytes(bytes(cache.serialize()))
    return TensorRTInfo(
        file=plan_path.name or PLAN_NAME,
        tensorrt_version=str(trt.__version__),
        gpu_name=gpu_name,
        compute_capability=capability,
        precision=precision,
        min_batch=batches[0],
        opt_batch=batches[1],
        max_batch=batches[2],
    )
