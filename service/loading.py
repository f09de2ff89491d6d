"""Loading a bundle for serving: manifest check → runtime (warmed up) → started batcher → `LoadedModel`.

Which bundle a name means is `service.bundles`' job; looking the loaded models up by name is
`service.loaded_models`'.
"""

from __future__ import annotations

import logging
from pathlib import Path

from export.manifest import Manifest, read_manifest, verify_files
from service.batching import Batcher
from service.bundles import configured_names, resolve_bundle, served_name
from service.decoding.types import DecodeRequest
from service.loaded_models import LoadedModel, LoadedModels
from service.metrics import Metrics
from service.runtimes import Runtime, RuntimeOptions, create_runtime
from service.settings import Settings

log = logging.getLogger(__name__)


def decode_request_for(manifest: Manifest) -> DecodeRequest:
    """How to sample and resize a clip for this model: a projection of the bundle's input contract.

    One prediction decodes one centre view; the contract's `test_clips × test_crops` views are the
    defaults of multi-view prediction, which plans several views of the same upload.
    """
    contract = manifest.input
    return DecodeRequest(
        num_frames=contract.num_frames,
        policy=contract.sampling,
        frame_stride=contract.frame_stride,
        target_fps=contract.target_fps,
        short_side=contract.short_side,
        crop_size=contract.image_size,
    )


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
        # a request holds one admission slot (`Admission`, capped at max_queue) per clip it submits
        capacity=settings.max_queue,
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


def load_models(settings: Settings, metrics: Metrics | None) -> LoadedModels:
    """Every configured model, loaded; if one fails, those already started are stopped again."""
    loaded: list[LoadedModel] = []
    try:
        for name in configured_names(settings):
            loaded.append(load_model(served_name(name), resolve_bundle(name, settings), settings, metrics))
    except BaseException:
        for model in loaded:
            model.batcher.close(drain=False)
        raise
    return LoadedModels(loaded, settings.default_model)
