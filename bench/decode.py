"""Decoding speed and memory: vtserve's decoder vs decode-everything vs the approach in decoding.md.

Clips: ``../shared/media/nasa_13013.mp4`` (480×270 stream, 13 s, GOP ~200) and a 10 s 1280×720 H.264 clip
generated here with PyAV's libx264 (GOP 250, x264's default) into a temporary directory. For 8 and 16
uniformly sampled frames (short side 224, centre crop 224) it times, median of ``--repeats`` interleaved
runs, the CPU time of this process (all threads; robust on a shared machine) and the wall time:

* ``vtserve``: :func:`service.decoding.decode_clip` (in-process);
* ``pool``: the same through a one-worker :class:`DecoderPool` (adds the pipe round-trip and pickling);
* ``decode_all``: decode every frame into a list of RGB arrays, then resize and crop the sampled ones —
  the naive reader that decoding.md measured (+870 MB for 10 s of 720p);
* ``all_yuv``: a kinder baseline: keep every decoded frame (YUV) in a list, convert only sampled ones;
* ``best_doc``: the recipe of decoding.md written plainly: scan packets, decode forward, ``container.seek``
  to a keyframe when the next wanted frame lies past it, convert only wanted frames;
* ``seek_each``: one backward seek per sampled frame (for scale).

Then the pool's per-request overhead on a tiny clip, and the memory of a pool worker: its RSS when idle
and its peak (VmHWM) after decoding every case. ``vtserve`` and ``best_doc`` must return the same frames
bit for bit (checked before timing).

Run: ``.venv/bin/python -m bench.decode [--repeats 7] [--gop30] [--clip PATH ...]``
"""

from __future__ import annotations

import argparse
import io
import pickle
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path

import av
import av.container
import av.video.stream
import numpy as np
import numpy.typing as npt
from av.video.frame import VideoFrame

from bench.environment import SHARED_MEDIA as MEDIA
from service.decoding import DecodedClip, DecodeLimits, DecodeRequest, DecoderPool, decode_clip, plan_uniform
from service.decoding.transform import crop_offsets, resize_target

LIMITS = DecodeLimits()

Approach = Callable[[bytes, DecodeRequest, int], npt.NDArray[np.uint8]]


def make_720p_clip(directory: Path, seconds: int = 10, fps: int = 30, gop: int = 250) -> Path:
    """A 1280×720 H.264 clip with motion everywhere (libx264 ``veryfast``, GOP 250 = x264's default)."""
    path = directory / f"synthetic_720p_{seconds}s_gop{gop}.mp4"
    width, height = 1280, 720
    rng = np.random.default_rng(0)
    base = np.empty((height, width * 2, 3), dtype=np.uint8)
    base[..., 0] = (np.arange(width * 2) % 256).astype(np.uint8)[None, :]
    base[..., 1] = (np.arange(height) % 256).astype(np.uint8)[:, None]
    base[..., 2] = rng.integers(0, 60, size=(height, width * 2), dtype=np.uint8)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "23"})
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        for i in range(seconds * fps):
            shift = (i * 7) % width
            frame = VideoFrame.from_ndarray(base[:, shift : shift + width], format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _convert(frame: VideoFrame, request: DecodeRequest) -> npt.NDArray[np.uint8]:
    w, h = resize_target(frame.width, frame.height, request.short_side)
    rgb = frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
    ((y0, x0),) = crop_offsets(h, w, request.crop_size, 1)
    c = request.crop_size
    return np.ascontiguousarray(rgb[y0 : y0 + c, x0 : x0 + c])


def _open(data: bytes, stream_index: int) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    container = av.open(io.BytesIO(data), mode="r")
    stream = container.streams[stream_index]
    assert isinstance(stream, av.video.stream.VideoStream)
    if stream.codec_context.width * stream.codec_context.height >= LIMITS.threads_min_pixels:
        stream.thread_type = "AUTO"
    return container, stream


def _scan(data: bytes, stream_index: int) -> tuple[list[int], list[int]]:
    container = av.open(io.BytesIO(data), mode="r")
    stream = container.streams[stream_index]
    pts, keys = [], []
    for packet in container.demux(stream):
        if packet.size and packet.pts is not None:
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
    container.close()
    return sorted(pts), sorted(keys)


def decode_all(data: bytes, request: DecodeRequest, stream_index: int) -> npt.NDArray[np.uint8]:
    """The naive reader: every frame decoded and converted to an RGB array in a list, then sampled."""
    container, stream = _open(data, stream_index)
    frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    container.close()
    indices = plan_uniform(len(frames), request.num_frames)
    return np.stack([_convert(VideoFrame.from_ndarray(frames[i], format="rgb24"), request) for i in indices])


def decode_all_yuv(data: bytes, request: DecodeRequest, stream_index: int) -> npt.NDArray[np.uint8]:
    """A kinder baseline: every decoded frame kept (YUV) in a list, only the sampled ones converted."""
    container, stream = _open(data, stream_index)
    frames = list(container.decode(stream))
    container.close()
    indices = plan_uniform(len(frames), request.num_frames)
    return np.stack([_convert(frames[i], request) for i in indices])


def best_doc(data: bytes, request: DecodeRequest, stream_index: int) -> npt.NDArray[np.uint8]:
    frame_pts, key_pts = _scan(data, stream_index)
    wanted = [frame_pts[i] for i in plan_uniform(len(frame_pts), request.num_frames)]
    container, stream = _open(data, stream_index)
    out: list[npt.NDArray[np.uint8]] = []
    frames = container.decode(stream)
    last = -(2**62)
    for target in wanted:
        if out and last >= target:  # repeated sample
            out.append(out[-1])
            continue
        later_keys = [k for k in key_pts if last < k <= target]
        if later_keys and later_keys[-1] > last + 1:
            container.seek(later_keys[-1], stream=stream, backward=True)
            frames = container.decode(stream)
        for frame in frames:
            last = frame.pts if frame.pts is not None else last + 1
            if last >= target:
                out.append(_convert(frame, request))
                break
    container.close()
    return np.stack(out)


def seek_each(data: bytes, request: DecodeRequest, stream_index: int) -> npt.NDArray[np.uint8]:
    frame_pts, _ = _scan(data, stream_index)
    container, stream = _open(data, stream_index)
    out = []
    for i in plan_uniform(len(frame_pts), request.num_frames):
        container.seek(frame_pts[i], stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.pts is not None and frame.pts >= frame_pts[i]:
                out.append(_convert(frame, request))
                break
    container.close()
    return np.stack(out)


@dataclass(frozen=True, kw_only=True, slots=True)
class Timing:
    """Milliseconds over the runs of one approach: CPU time of this process (all threads) and wall time."""

    cpu_median: float
    cpu_min: float
    wall_median: float
    wall_min: float


def _time_interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, Timing]:
    """Time each approach; they take turns so that background load hits all alike.

    CPU time is the primary measure: on a shared machine wall time mostly measures the neighbours. The
    pool's work happens in its worker process, so for it only the wall time means anything.
    """
    for fn in fns.values():
        fn()  # warm-up
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    wall: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            cpu[name].append((time.process_time() - c0) * 1000)
            wall[name].append((time.perf_counter() - w0) * 1000)
    return {
        name: Timing(
            cpu_median=statistics.median(cpu[name]),
            cpu_min=min(cpu[name]),
            wall_median=statistics.median(wall[name]),
            wall_min=min(wall[name]),
        )
        for name in fns
    }


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _pool_overhead(pool: DecoderPool, repeats: int) -> tuple[float, float, float]:
    """(in-process ms, pool ms, pickle round-trip ms) for a small clip: the pool's per-request cost."""
    data = (MEDIA / "h265_video.mp4").read_bytes()
    request = DecodeRequest(num_frames=8, short_side=224, crop_size=224)
    clip = decode_clip(data, request, LIMITS)
    n = max(repeats, 20)
    ms = _time_interleaved(
        {
            "local": partial(decode_clip, data, request, LIMITS),
            "pool": partial(pool.decode_blocking, data, request),
            "pickle": lambda: pickle.loads(pickle.dumps(clip, protocol=pickle.HIGHEST_PROTOCOL)),
        },
        n,
    )
    return ms["local"].wall_min, ms["pool"].wall_min, ms["pickle"].wall_min


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--gop30", action="store_true", help="also a 720p clip with a keyframe every second")
    parser.add_argument("--clip", type=Path, action="append", help="extra clips to measure")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        clips = [MEDIA / "nasa_13013.mp4", make_720p_clip(Path(tmp))]
        if args.gop30:
            clips.append(make_720p_clip(Path(tmp), gop=30))
        clips += args.clip or []
        print(f"generated the 720p clip(s) in {time.perf_counter() - start:.1f} s (libx264 via PyAV)")
        approaches: dict[str, Approach] = {
            "decode_all": decode_all,
            "all_yuv": decode_all_yuv,
            "best_doc": best_doc,
            "seek_each": seek_each,
        }
        names = ["vtserve", *approaches]
        print(
            f"\nmilliseconds, median of {args.repeats} interleaved runs: CPU time (wall time); "
            "short side 224, crop 224"
        )
        print(f"{'clip':30s} {'T':>3s} " + " ".join(f"{n:>15s}" for n in [*names, "pool (wall)"]))
        rows = []
        with DecoderPool(1, LIMITS, timeout_s=60.0, memory_mb=2048, cpu_s=120) as pool:
            (pid,) = pool.worker_pids
            pool.ping()
            idle_kb = _status_kb(pid, "VmRSS")
            for path in clips:
                data = path.read_bytes()
                for t in (8, 16):
                    request = DecodeRequest(num_frames=t, short_side=224, crop_size=224)
                    ours: DecodedClip = decode_clip(data, request, LIMITS)
                    for name in ("all_yuv", "best_doc"):  # the same frames, bit for bit
                        same = np.array_equal(approaches[name](data, request, ours.stream_index), ours.frames)
                        assert same, f"{name} differs from vtserve on {path.name}"
                    fns: dict[str, Callable[[], object]] = {
                        "vtserve": partial(decode_clip, data, request, LIMITS),
                        "pool": partial(pool.decode_blocking, data, request),
                    }
                    for name, fn in approaches.items():
                        fns[name] = partial(fn, data, request, ours.stream_index)
                    ms = _time_interleaved(fns, args.repeats)
                    rows.append((path.name, t, ms, ours.frames_decoded, ours.frame_count))
                    print(
                        f"{path.name:30s} {t:3d} "
                        + " ".join(f"{ms[n].cpu_median:7.1f} ({ms[n].wall_median:5.0f})" for n in names)
                        + f" {ms['pool'].wall_median:15.1f}"
                    )
            peak_kb = _status_kb(pid, "VmHWM")
            overhead = _pool_overhead(pool, args.repeats)
        print(
            "\nratios of CPU medians [of wall medians]; "
            "targets: vtserve/best_doc <= 1.15, decode_all/vtserve >= 1.8"
        )
        print(
            f"{'clip':30s} {'T':>3s} {'vtserve/best_doc':>18s} {'decode_all/vtserve':>19s} "
            f"{'all_yuv/vtserve':>16s} {'decoded/total':>14s}"
        )
        for name, t, ms, decoded, total in rows:

            def ratio(a: str, b: str, ms: dict[str, Timing] = ms) -> str:
                return (
                    f"{ms[a].cpu_median / ms[b].cpu_median:.2f} [{ms[a].wall_median / ms[b].wall_median:.2f}]"
                )

            print(
                f"{name:30s} {t:3d} {ratio('vtserve', 'best_doc'):>18s} "
                f"{ratio('decode_all', 'vtserve'):>19s} "
                f"{ratio('all_yuv', 'vtserve'):>16s} {decoded:>7d}/{total:<6d}"
            )
        print(
            "\npool round trip for an 8x224x224x3 clip (1.2 MB) on h265_video.mp4, min of "
            f"{max(args.repeats, 20)}: in-process {overhead[0]:.1f} ms, "
            f"through the pool {overhead[1]:.1f} ms, "
            f"pickle dumps+loads {overhead[2]:.2f} ms"
        )
        print(
            f"\npool worker memory: idle RSS {idle_kb / 1024:.1f} MB, "
            f"peak RSS (VmHWM) {peak_kb / 1024:.1f} MB, "
            f"peak above idle {(peak_kb - idle_kb) / 1024:.1f} MB"
        )


if __name__ == "__main__":
    main()
