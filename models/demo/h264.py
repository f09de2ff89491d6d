"""Clips that went through a real H.264 round trip, generated once and cached on disk.

Each pool item is a whole upload of the v2 generator (`models.demo.generator.render_video`: every frame,
the frame scaled to a short side of 96–160 px, at most `MAX_SOURCE_FRAMES` frames), encoded with libx264
at the upload's quality (crf 18–43, drawn with the clip's difficulty) in display order, decoded with
PyAV, sampled uniformly and resized / centre-cropped like the service (`models.demo.upload`), at each of
the pool's model sizes; alongside, the main object's masks, centres and angles at the sampled frames
in the model's crop (the ground truth of the training probe). The pool encodes with
`reproducible=True` (no macroblock-tree rate control: with it, libx264 gives different files for the
same frames from one run to the next).

Labels cycle through the 11 classes (item i has label i % 11). Training pairs an item with its exact
reversal (labelled with the partner class), as it does rendered clips: the reversal's key frame is then
at its end, and since half the items of every pair of classes are encoded as the backward member, where
the key frame sits tells nothing about the class.

Items depend only on `(PoolSpec, index)` and the code; shards of `PoolSpec.shard` items are written
atomically under `<root>/<PoolSpec.key>/` (`cache/motion-h264/...` by default, ignored by git), so a pool
is built once per machine and shared by runs, models and resumed runs. The key holds fingerprints of
what the generator and the encoder make (`generator_fingerprint`, `encoder_fingerprint`): change either
and the next run builds a new pool rather than training on a stale one.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import av
import numpy as np

from models.demo.encode import encoder_fingerprint, write_mp4
from models.demo.generator import GENERATOR, Video, object_masks, render_clip, render_video
from models.demo.motion import KIND, NUM_CLASSES, RenderedClip
from models.demo.upload import Upload, draw_upload, resize_short_side_center_crop, uniform_indices

POOL_VERSION = 3  # bump when the round trip changes (generator and encoder changes are fingerprinted)
MAX_SOURCE_FRAMES = 150
DEFAULT_ROOT = Path("cache/motion-h264")
Logger = Callable[[str], None]


def _silent(_: str) -> None:
    pass


@dataclass(frozen=True, kw_only=True)
class PoolSpec:
    """What a pool holds: `num_frames` frames at each of `sizes`, items drawn from `seed`."""

    num_frames: int = 8
    sizes: tuple[int, ...] = (32, 64)
    seed: int = 0
    shard: int = 32

    @property
    def key(self) -> str:
        sizes = "-".join(str(s) for s in self.sizes)
        version = f"h264v{POOL_VERSION}-{generator_fingerprint()}-{encoder_fingerprint()}"
        return f"{GENERATOR}-{version}-seed{self.seed}-t{self.num_frames}-s{sizes}-k{self.shard}"


@functools.lru_cache(maxsize=1)
def generator_fingerprint() -> str:
    """A digest of clips the generator makes for fixed seeds (both paths): any change to what it draws
    names a new pool, so a pool on disk is never stale."""
    digest = hashlib.sha256()
    for label in range(NUM_CLASSES):
        digest.update(render_clip(label, np.random.default_rng([7, label]), size=32).frames.tobytes())
    up = Upload(width=96, height=64, content_w=96.0, content_h=64.0, fps=10.0, seconds=1.0)
    digest.update(render_video(3, 7, short_side=None, upload=up).frames.tobytes())
    return digest.hexdigest()[:8]


def decode_sampled(data: bytes, count: int, num_frames: int) -> np.ndarray:
    """Decode an MP4 of `count` frames, converting only those uniform sampling picks: uint8 [T, H, W, 3]."""
    wanted = uniform_indices(count, num_frames)
    needed = set(wanted.tolist())
    keep: dict[int, np.ndarray] = {}
    with av.open(io.BytesIO(data), mode="r") as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in needed:
                keep[i] = frame.to_ndarray(format="rgb24")
    last = max(keep)  # a decoder may drop a frame at the very end: fall back to the last one decoded
    return np.stack([keep.get(int(i), keep[last]) for i in wanted])


def _upload_for_pool(rng: np.random.Generator, difficulty: float) -> Upload:
    up = draw_upload(rng, difficulty)
    if up.source_frames > MAX_SOURCE_FRAMES:
        up = replace(up, seconds=MAX_SOURCE_FRAMES / up.fps)
    return up


def pool_video(spec: PoolSpec, index: int) -> Video:
    """The upload of pool item `index` before encoding (label `index % 11`, display order)."""
    g = np.random.default_rng([spec.seed, index, 3])  # tag 3: H.264 pool items
    d = float(g.random())
    up = _upload_for_pool(g, d)
    return render_video(index % NUM_CLASSES, g, difficulty=d, short_side=int(g.integers(96, 161)), upload=up)


def build_item(spec: PoolSpec, index: int) -> dict[str, np.ndarray]:
    """Render, encode, decode and sample pool item `index`: arrays per model size, in display order."""
    video = pool_video(spec, index)
    label = video.label
    up = video.upload
    data = write_mp4(video.frames, None, up.fps, crf=up.crf, reproducible=True)
    assert data is not None
    sampled = decode_sampled(data, len(video.frames), spec.num_frames)
    times = up.sample_times(spec.num_frames)
    backward = KIND[label][1]
    out: dict[str, np.ndarray] = {
        "label": np.array(label),
        "difficulty": np.array(video.scene.difficulty, dtype=np.float32),
        "crf": np.array(up.crf),
        "bytes": np.array(len(data)),
    }
    for size in spec.sizes:
        # a backward clip's display frame at time t shows the forward scene at time 1 - t
        truth = object_masks(video.scene, up, 1.0 - times if backward else times, size)
        out[f"clips{size}"] = resize_short_side_center_crop(sampled, size)
        out[f"masks{size}"] = np.round(truth.masks * 255).astype(np.uint8)
        out[f"centres{size}"] = truth.centres
        out[f"angles{size}"] = truth.angles
    return out


def _shard_path(root: Path, spec: PoolSpec, k: int) -> Path:
    return root / spec.key / f"shard-{k:05d}.npz"


def build_shard(spec: PoolSpec, k: int, root: Path = DEFAULT_ROOT) -> Path:
    """Build shard `k` (items k·shard … (k+1)·shard − 1) and write it atomically."""
    items = [build_item(spec, i) for i in range(k * spec.shard, (k + 1) * spec.shard)]
    arrays = {name: np.stack([it[name] for it in items]) for name in items[0]}
    path = _shard_path(root, spec, k)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)
    return path


def ensure_pool(spec: PoolSpec, items: int, root: Path = DEFAULT_ROOT, log: Logger = _silent) -> int:
    """Build the shards that hold the first `items` items and are not on disk yet; returns how many."""
    shards = -(-items // spec.shard)
    missing = [k for k in range(shards) if not _shard_path(root, spec, k).is_file()]
    for n, k in enumerate(missing):
        build_shard(spec, k, root)
        log(f"H.264 pool {spec.key}: shard {k} built ({n + 1}/{len(missing)})")
    return len(missing)


@dataclass(frozen=True, kw_only=True)
class Pool:
    """A loaded pool at one model size: clips uint8 [N, T, S, S, 3], masks uint8 [N, T, S, S] (× 255),
    centres float32 [N, T, 2], angles float32 [N, T], labels int64 [N], crf int [N], difficulty
    float32 [N]."""

    clips: np.ndarray
    masks: np.ndarray
    centres: np.ndarray
    angles: np.ndarray
    labels: np.ndarray
    crf: np.ndarray
    difficulty: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def pick(self, rng: np.random.Generator, max_difficulty: float) -> int | None:
        """A random item no harder than `max_difficulty` (the curriculum), None if there is none."""
        easy = np.flatnonzero(self.difficulty <= max_difficulty)
        return int(easy[rng.integers(len(easy))]) if len(easy) else None

    def clip(self, i: int) -> RenderedClip:
        """Item `i` as a rendered clip (masks back in [0, 1])."""
        return RenderedClip(
            frames=self.clips[i],
            masks=self.masks[i].astype(np.float32) / 255.0,
            label=int(self.labels[i]),
            centres=self.centres[i],
            angles=self.angles[i],
            shape="h264",
        )


def pool_for(num_frames: int, image_size: int, items: int) -> PoolSpec:
    """The pool a model of this input uses: the shipped sizes share one pool (32 and 64 px)."""
    sizes = (32, 64) if image_size in (32, 64) else (image_size,)
    return PoolSpec(num_frames=num_frames, sizes=sizes, shard=max(1, min(32, items)))


def load_pool(
    spec: PoolSpec, items: int, size: int, root: Path = DEFAULT_ROOT, log: Logger = _silent
) -> Pool:
    """The first `items` items at model size `size` (building what is missing first)."""
    if size not in spec.sizes:
        raise ValueError(f"the pool holds sizes {spec.sizes}, not {size}: add it to PoolSpec.sizes")
    ensure_pool(spec, items, root, log)
    shared = ("label", "crf", "difficulty")  # the same at every size
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("clips", "masks", "centres", "angles", *shared)}
    for k in range(-(-items // spec.shard)):
        with np.load(_shard_path(root, spec, k)) as data:
            for name in parts:
                parts[name].append(data[name if name in shared else f"{name}{size}"])
    cat = {name: np.concatenate(v)[:items] for name, v in parts.items()}
    return Pool(
        clips=cat["clips"],
        masks=cat["masks"],
        centres=cat["centres"],
        angles=cat["angles"],
        labels=cat["label"].astype(np.int64),
        crf=cat["crf"],
        difficulty=cat["difficulty"],
    )
