"""What the Ray engine's replicas answer (pickled through Ray's object store).

Expected errors travel as values (`error`, a `ServiceError` that pickles as itself), not as exceptions: Ray
would wrap a raised one in its own task error. Every answer says where it was computed (`placement`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from export.manifest import Manifest
from service.batching import ItemResult
from service.decoding.types import DecodedClip
from service.engines.ray.handles import Placement
from service.errors import ServiceError


@dataclass(frozen=True, kw_only=True)
class DecoderHealth:
    """A decode replica's worker pool: processes alive now, and replaced since the replica started."""

    alive: int
    replaced: int


@dataclass(frozen=True, kw_only=True)
class DecodeReply:
    """One decode call: the clips (one, or every view of a clip plan) or the upload's error."""

    clips: tuple[DecodedClip, ...] = ()
    error: ServiceError | None = None
    placement: Placement
    health: DecoderHealth


@dataclass(frozen=True, kw_only=True)
class ModelReply:
    """One clip through a model replica's batcher: its outputs or the error its batch met.

    `batches` are the sizes of the batches this replica ran since its previous answer (to anyone), so the
    ingresses' `vtserve_batch_size` histograms together count every batch exactly once."""

    result: ItemResult | None = None
    error: ServiceError | None = None
    placement: Placement
    batches: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ModelDescription:
    """A model replica's bundle and runtime, as the ingress needs them to list and route to the model."""

    name: str
    bundle_dir: Path  # on the replica's node
    manifest: Manifest
    runtime: str
    provider: str
    max_batch_size: int
    placement: Placement
