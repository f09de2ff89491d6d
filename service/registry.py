"""Finding, loading and warming up the models to serve: bundle → runtime → batcher.

A model name resolves, in order, to: a bundle folder given as a path; `<model_repository>/<name>/`;
`<cache_dir>/<name>/`; or a shipped model (`models/weights/<name>/`), exported into `<cache_dir>/<name>/`
on first use (that step imports torch; serving an existing bundle never does).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from export.manifest import MANIFEST_NAME, Manifest, read_manifest, verify_files
from service.batching import Batcher
from service.decoding.types import DecodeRequest
from service.errors import ModelNotFound
from service.metrics import Metrics
from service.runtimes import Runtime, RuntimeOptions, create_runtime
from service.settings import Settings

log = logging.getLogger(__name__)


class BundleNotFound(LookupError):
    """No bundle for a configured model, and it is not a shipped model that could be exported."""


@dataclass(frozen=True, kw_only=True)
class LoadedModel:
    name: str
    bundle_dir: Path
    manifest: Manifest
    runtime: Runtime
    batcher: Batcher
    decode_request: DecodeRequest


def decode_request_for(manifest: Manifest) -> DecodeRequest:
    """How to sample and resize a clip for this model, straight from its manifest."""
    return DecodeRequest(
        num_frames=manifest.num_frames,
        policy=manifest.sampling.policy,
        frame_stride=manifest.sampling.frame_stride,
        target_fps=manifest.sampling.target_fps,
        short_side=manifest.resize.short_side,
        crop_size=manifest.resize.crop_size,
        crops=1,
    )


def _is_bundle(path: Path) -> bool:
    return (path / MANIFEST_NAME).is_file()


def shipped_weights_dir(name: str) -> Path | None:
    """`models/weights/<name>/` inside the installed `models` package, if present.

    Found with `find_spec`, which locates the package without importing it (importing `models` imports
    torch, which the serving path avoids)."""
    spec = importlib.util.find_spec("models")
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "weights" / name
        if (folder / "config.json").is_file():  # a checkpoint written by models.save_pretrained
            return folder
    return None


def folder_name(path: Path) -> str:
    """The name a folder was given (`./x/` → `x`, `.` → the current folder's name); symlinks kept."""
    return Path(os.path.normpath(os.path.abspath(path))).name


def is_checkpoint(path: Path) -> bool:
    """A model checkpoint folder (ours or Hugging Face's): `config.json` beside the weights."""
    return (path / "config.json").is_file() and not _is_bundle(path)


def _newer_than(source: Path, bundle: Path) -> bool:
    """Whether any file of the checkpoint `source` changed after `bundle` was exported."""
    exported = (bundle / MANIFEST_NAME).stat().st_mtime
    return any(p.is_file() and p.stat().st_mtime > exported for p in source.rglob("*"))


def export_checkpoint(source: str | Path, out_dir: Path) -> Path:
    """Export a shipped model (by name) or a checkpoint folder into a bundle folder.

    Imports torch: happens only when no up-to-date bundle exists (a fresh clone's first start).
    """
    import export

    log.info("exporting %s into %s (first start; later starts reuse the bundle)", source, out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    export.build_bundle(source, out_dir)
    return out_dir


def resolve_bundle(name: str, settings: Settings, *, allow_export: bool = True) -> Path:
    """The bundle folder for `name`: a bundle path, a bundle in the repository or the cache, or a shipped
    model / checkpoint folder exported into `<cache_dir>/<name>/` (again when its weights changed)."""
    as_path = Path(name)
    if _is_bundle(as_path):
        return as_path
    if is_checkpoint(as_path):
        source: Path | None = as_path
        cached = settings.cache_dir / folder_name(as_path)
        candidates = []
    else:
        source = shipped_weights_dir(name)
        cached = settings.cache_dir / name
        candidates = [settings.model_repository / name] if settings.model_repository else []
    for candidate in candidates:
        if _is_bundle(candidate):
            return candidate
    if _is_bundle(cached) and (source is None or not allow_export or not _newer_than(source, cached)):
        return cached
    if allow_export and source is not None:
        return export_checkpoint(name if source != as_path else as_path, cached)
    looked = ", ".join(str(c) for c in [*candidates, cached])
    raise BundleNotFound(
        f"no bundle for model {name!r} (looked in {looked}) and no shipped weights models/weights/{name}/; "
        "export one with `vtserve export` or set VTSERVE_MODEL_REPOSITORY"
    )


def configured_names(settings: Settings) -> list[str]:
    """`settings.models`, or every bundle in the repository when that list is empty."""
    if settings.models:
        return list(settings.models)
    repo = settings.model_repository
    if repo is None or not repo.is_dir():
        raise BundleNotFound("`models` is empty and there is no model repository to list")
    names = sorted(p.name for p in repo.iterdir() if _is_bundle(p))
    if not names:
        raise BundleNotFound(f"no bundles (*/{MANIFEST_NAME}) in {repo}")
    return names


def runtime_options(settings: Settings) -> RuntimeOptions:
    return RuntimeOptions(
        providers=tuple(settings.providers),
        intra_op_threads=settings.intra_op_threads,
        device=settings.device,
        max_batch=settings.max_batch_size,
    )


def load_model(
    name: str,
    bundle_dir: Path,
    settings: Settings,
    metrics: Metrics | None,
    *,
    runtime: Runtime | None = None,
) -> LoadedModel:
    """Read the bundle, build (and warm up) its runtime, and start its batcher.

    `runtime` replaces the one built from settings (tests use a deliberately failing runtime).
    """
    manifest = read_manifest(bundle_dir)
    bad = verify_files(bundle_dir, manifest)
    if bad:
        raise ValueError(f"bundle {bundle_dir}: files missing or changed since export: {bad}")
    if runtime is None:
        runtime = create_runtime(settings.runtime, bundle_dir, manifest, runtime_options(settings))
    if settings.warmup:
        runtime.warmup()
    batcher = Batcher(
        runtime,
        model=name,
        max_batch_size=settings.max_batch_size,
        max_wait_s=settings.max_wait_s,
        max_queue=settings.max_queue,
        metrics=metrics,
    )
    batcher.start()
    if metrics is not None:
        metrics.model_info.labels(
            model=name, version=manifest.version, runtime=runtime.name, provider=runtime.provider
        ).set(1)
    log.info("model %s %s ready on %s (%s)", name, manifest.version, runtime.name, runtime.provider)
    return LoadedModel(
        name=name,
        bundle_dir=bundle_dir,
        manifest=manifest,
        runtime=runtime,
        batcher=batcher,
        decode_request=decode_request_for(manifest),
    )


class ModelRegistry:
    """The loaded models by name, and the default one."""

    def __init__(self, models: list[LoadedModel], default: str | None = None) -> None:
        if not models:
            raise ValueError("no models loaded")
        self._models = {m.name: m for m in models}
        self.default = default or models[0].name
        if self.default not in self._models:
            raise ValueError(f"default model {self.default!r} is not loaded")

    def get(self, name: str | None = None) -> LoadedModel:
        model = self._models.get(name or self.default)
        if model is None:
            raise ModelNotFound(f"no model named {name!r}; GET /v1/models lists them")
        return model

    def __iter__(self) -> Iterator[LoadedModel]:
        return iter(self._models.values())

    def names(self) -> list[str]:
        return list(self._models)

    def close(self, *, drain: bool = True, timeout_s: float | None = None) -> None:
        """Stop every batcher (answering what was admitted when `drain`), then release the runtimes."""
        for model in self._models.values():
            model.batcher.close(drain=drain, timeout_s=timeout_s)
        for model in self._models.values():
            try:
                model.runtime.close()
            except Exception:
                log.exception("closing the runtime of %s failed", model.name)


def load_registry(settings: Settings, metrics: Metrics | None) -> ModelRegistry:
    loaded: list[LoadedModel] = []
    try:
        for name in configured_names(settings):
            path = Path(name)
            model_name = folder_name(path) if _is_bundle(path) or is_checkpoint(path) else name
            loaded.append(load_model(model_name, resolve_bundle(name, settings), settings, metrics))
    except BaseException:
        for model in loaded:
            model.batcher.close(drain=False)
        raise
    return ModelRegistry(loaded, settings.default_model)
