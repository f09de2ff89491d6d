"""Named constructors: `@register_model`, `create_model(name, **overrides)`, `list_models()`.

A constructor is a function `(**overrides) -> VideoModel` registered under its function name (hyphens
and underscores are interchangeable when looking up: `motion-timesformer` == `motion_timesformer`).
Most are one line over `build_model`, which splits the overrides into config fields and model-card
fields and refuses unknown ones:

    @register_model
    def motion_timesformer(**overrides: Any) -> VideoModel:
        return build_model(TimeSformer, TimeSformerConfig(num_frames=8, image_size=64, ...),
                           name="motion_timesformer", card={"sampling": "uniform"}, **overrides)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from typing import Any, TypeVar

from models.base import VideoConfig, VideoModel
from models.card import ModelCard
from models.contract import InputContract

ModelFactory = Callable[..., VideoModel]
F = TypeVar("F", bound=ModelFactory)

_REGISTRY: dict[str, ModelFactory] = {}

#: The tiny size of tests and demos: 4 frames of 32², patch 8, width 48, 2 layers of 3 heads, 5 classes.
TINY: dict[str, Any] = {
    "num_frames": 4,
    "image_size": 32,
    "patch_size": 8,
    "embed_dim": 48,
    "depth": 2,
    "num_heads": 3,
    "mlp_dim": 96,
    "num_classes": 5,
}
#: The card of every tiny model: uniform sampling, one clip, one crop.
TINY_CARD: dict[str, Any] = {"sampling": "uniform", "frame_stride": None, "test_clips": 1, "test_crops": 1}

#: Input-contract fields that follow from the config and cannot be overridden on their own.
_CONTRACT_DERIVED = {"num_frames", "image_size", "patch_size", "tubelet_size"}
#: Card fields that follow from the config (or `labels=`) and cannot be overridden on their own.
_CARD_DERIVED = {"architecture", "attention", "labels", "input"}


def canonical_name(name: str) -> str:
    return name.strip().replace("-", "_")


def register_model(fn: F | None = None, *, name: str | None = None) -> Any:
    """Register a constructor under `name` (default: the function's name). Usable bare or with `name=`."""

    def decorate(f: F) -> F:
        key = canonical_name(name or f.__name__)
        previous = _REGISTRY.get(key)
        if previous is not None and (previous.__module__, previous.__qualname__) != (
            f.__module__,
            f.__qualname__,
        ):
            raise ValueError(
                f"model name {key!r} is already registered by {previous.__module__}.{previous.__qualname__}"
            )
        _REGISTRY[key] = f
        return f

    return decorate(fn) if fn is not None else decorate


#: Modules whose import registers named constructors (the demo models' module is optional).
_CONSTRUCTOR_MODULES = (
    "models.zoo",
    "models.patterns.zoo",
    "models.swin.zoo",
    "models.mtv.zoo",
    "models.vjepa2",
    "models.videoprism",
    "models.demo.configs",
)


def _register_constructors() -> None:
    """Import the modules that register constructors (once; later calls are dictionary lookups)."""
    for module in _CONSTRUCTOR_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # the module exists but something it imports does not
                raise


def list_models() -> list[str]:
    _register_constructors()
    return sorted(_REGISTRY)


def is_registered(name: str) -> bool:
    _register_constructors()
    return canonical_name(name) in _REGISTRY


def create_model(name: str, **overrides: Any) -> VideoModel:
    """Build the named model (random weights). `overrides` change config fields (`num_frames=16`,
    `depth=2`, …), card fields (`mean=…`, `sampling=…`) or the labels (`labels=[...]`)."""
    _register_constructors()
    key = canonical_name(name)
    factory = _REGISTRY.get(key)
    if factory is None:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    model = factory(**overrides)
    model.registry_name = key
    return model


def build_model(
    model_cls: type[VideoModel],
    config: VideoConfig,
    *,
    name: str,
    card: dict[str, Any] | None = None,
    labels: Sequence[str] | None = None,
    **overrides: Any,
) -> VideoModel:
    """`model_cls(config with overrides, card)`: the helper behind every named constructor.

    `card` holds the constructor's card and input-contract defaults (over `model_cls.default_card`,
    e.g. `{"sampling": "uniform"}`); `labels` sets the class names (and `num_classes`, unless given too).
    """
    config_names = {f.name for f in fields(config)}
    card_names = {f.name for f in fields(ModelCard)} - _CARD_DERIVED
    contract_names = InputContract.field_names() - _CONTRACT_DERIVED
    unknown = (set(overrides) - config_names | set(card or {})) - card_names - contract_names
    if unknown:
        raise TypeError(
            f"{name}: unknown overrides {sorted(unknown)}; config fields: {sorted(config_names)}; "
            f"card fields: {sorted(card_names | contract_names)}"
        )
    config_over = {k: v for k, v in overrides.items() if k in config_names}
    label_tuple = tuple(labels) if labels is not None else None
    if label_tuple is not None:
        config_over.setdefault("num_classes", len(label_tuple))
    config = replace(config, **config_over)
    base = model_cls.default_card(config, name=name, labels=label_tuple)
    wanted = {**(card or {}), **overrides}
    policy = {k: v for k, v in wanted.items() if k in contract_names}
    card_over = {k: v for k, v in wanted.items() if k in card_names}
    return model_cls(config, card=replace(base, input=replace(base.input, **policy), **card_over))
