"""The clip mix every end-to-end benchmark sends: real files plus generated `motion` clips as MP4.

Real clips are read in place from `../shared/media` (the decodable ones; the corrupted and audio-only
files are left out: they measure error paths, not throughput). Generated clips are rendered with
`models.demo.motion.generate_clip`, encoded with `models.demo.encode.write_mp4` and cached on disk (the
10 s 720p one takes a while to render). The mix is a fixed, ordered list; each client starts at its own
offset in it so that the big clip is not in flight on every connection at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.environment import REPO_ROOT, SHARED_MEDIA

DEFAULT_CACHE = REPO_ROOT / "bench" / "results" / "clips"

REAL_CLIPS: tuple[str, ...] = (
    "nasa_13013.mp4",
    "h264_10bits.mp4",
    "h265_video.mp4",
    "av1_video.mkv",
    "video_0.mov",
    "video_90.mov",
    "video_180.mov",
    "video_270.mov",
    "bt709_full_range.mp4",
)


@dataclass(frozen=True, kw_only=True)
class GeneratedSpec:
    """A generated motion clip: `label` at `width`×`height`, `seconds` long at `fps`."""

    name: str
    label: str
    width: int
    height: int
    seconds: float
    fps: float = 30.0
    seed: int = 0

    @property
    def frames(self) -> int:
        return max(1, round(self.seconds * self.fps))


GENERATED: tuple[GeneratedSpec, ...] = (
    GeneratedSpec(name="motion_right_2s_320x240", label="moving_right", width=320, height=240, seconds=2.0),
    GeneratedSpec(
        name="motion_cw_3s_480x270", label="rotating_clockwise", width=480, height=270, seconds=3.0
    ),
    GeneratedSpec(name="motion_grow_2s_640x360", label="growing", width=640, height=360, seconds=2.0),
    GeneratedSpec(name="motion_fade_4s_256x256", label="fading_out", width=256, height=256, seconds=4.0),
    GeneratedSpec(name="motion_up_10s_1280x720", label="moving_up", width=1280, height=720, seconds=10.0),
)
SMOKE_GENERATED: tuple[GeneratedSpec, ...] = (
    GeneratedSpec(name="motion_right_1s_160x120", label="moving_right", width=160, height=120, seconds=1.0),
)


@dataclass(frozen=True, kw_only=True)
class Clip:
    name: str
    data: bytes
    content_type: str
    source: str  # "real" or "generated"

    @property
    def size_bytes(self) -> int:
        return len(self.data)


def content_type_for(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return {".mov": "video/quicktime", ".mkv": "video/x-matroska", ".webm": "video/webm"}.get(
        suffix, "video/mp4"
    )


def _cache_key(spec: GeneratedSpec) -> str:
    text = f"{spec.label}-{spec.width}x{spec.height}-{spec.frames}@{spec.fps}-{spec.seed}"
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def generated_clip(spec: GeneratedSpec, cache_dir: Path = DEFAULT_CACHE) -> Clip:
    """Render and encode `spec` (cached in `cache_dir` by its parameters)."""
    path = cache_dir / f"{spec.name}-{_cache_key(spec)}.mp4"
    if not path.is_file():
        from models.demo.encode import write_mp4
        from models.demo.motion import generate_clip

        frames = generate_clip(
            spec.label,
            spec.seed,
            num_frames=spec.frames,
            height=spec.height,
            width=spec.width,
            fps=spec.fps,
            difficulty=0.3,
        )
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        write_mp4(frames, tmp, fps=spec.fps)
        del frames
        tmp.rename(path)
    return Clip(name=spec.name, data=path.read_bytes(), content_type="video/mp4", source="generated")


def real_clips(media_dir: Path = SHARED_MEDIA, names: Sequence[str] = REAL_CLIPS) -> list[Clip]:
    """The decodable real clips found in `media_dir` (missing ones are skipped)."""
    clips = []
    for name in names:
        path = media_dir / name
        if path.is_file():
            clips.append(
                Clip(name=name, data=path.read_bytes(), content_type=content_type_for(name), source="real")
            )
    return clips


def clip_mix(
    *,
    media_dir: Path = SHARED_MEDIA,
    cache_dir: Path = DEFAULT_CACHE,
    generated: Sequence[GeneratedSpec] = GENERATED,
    real: Sequence[str] = REAL_CLIPS,
) -> list[Clip]:
    """Real clips then generated ones, interleaved so that large clips are spread through the list."""
    first = real_clips(media_dir, real)
    second = [generated_clip(spec, cache_dir) for spec in generated]
    mixed: list[Clip] = []
    while first or second:
        if first:
            mixed.append(first.pop(0))
        if first:
            mixed.append(first.pop(0))
        if second:
            mixed.append(second.pop(0))
    if not mixed:
        raise FileNotFoundError(
            f"no clips: none of {list(real)} in {media_dir} and no generated clips asked for"
        )
    return mixed


def describe(clips: Sequence[Clip]) -> list[dict[str, object]]:
    return [{"name": c.name, "bytes": c.size_bytes, "source": c.source} for c in clips]
