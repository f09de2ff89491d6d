"""Fuzz target for the decoder: seeded mutations of real and synthetic clips through ``decode_clip``.

Only :class:`~service.errors.ServiceError` subclasses may escape; any other exception is a finding (the
input is saved to ``--out`` when given). Seeds are the small clips of ``../shared/media`` plus clips made
here with PyAV's encoders in every accepted container (mp4, mov, matroska, webm, avi, mpegts) and codec
family (H.264, HEVC, VP8, VP9, MPEG-4, MPEG-2, MJPEG, FFV1), so the target also runs without the media.

Mutations: bit flips, random bytes, interesting values (0, 0xFF, 0x7FFFFFFF, ...) over 1–4 bytes,
deleting / duplicating / inserting chunks, truncation, and splicing two seeds. Limits are tight so that
each iteration is quick; the slowest iteration is reported.

Run: ``.venv/bin/python -m bench.fuzz_decode --iterations 3000 [--seed 0] [--out DIR]``
"""

from __future__ import annotations

import argparse
import io
import random
import time
import traceback
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.video.stream
import numpy as np

from bench.environment import SHARED_MEDIA as MEDIA
from service.decoding import DecodeLimits, DecodeRequest, decode_clip
from service.errors import ServiceError

MEDIA_SEEDS = (
    "h265_video.mp4",
    "av1_video.mkv",
    "video_90.mov",
    "h264_10bits.mp4",
    "h265_10bits.mp4",
    "corrupted.mp4",
    "nasa_13013.mp4.audio.mp3",
)
SYNTHETIC = (  # (container format, codec, pix_fmt)
    ("mp4", "libx264", "yuv420p"),
    ("matroska", "libx265", "yuv420p"),
    ("webm", "libvpx", "yuv420p"),
    ("webm", "libvpx-vp9", "yuv420p"),
    ("avi", "mpeg4", "yuv420p"),
    ("mpegts", "mpeg2video", "yuv420p"),
    ("mov", "mjpeg", "yuvj420p"),
    ("matroska", "ffv1", "yuv420p"),
)
LIMITS = DecodeLimits(max_frames_decoded=400, max_packets=5_000, max_duration_s=120.0, max_pixels=1920 * 1088)
REQUEST = DecodeRequest(num_frames=4, short_side=32, crop_size=32)
INTERESTING = (
    b"\x00",
    b"\xff",
    b"\x7f",
    b"\x80",
    b"\x00\x00",
    b"\xff\xff",
    b"\x7f\xff\xff\xff",
    b"\x00\x00\x00\x01",
)


def synthetic_clip(container: str, codec: str, pix_fmt: str, frames: int = 12) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        options = {"preset": "ultrafast"} if codec.startswith("libx26") else {}
        if codec == "libx265":
            options["x265-params"] = "log-level=none"
        stream = out.add_stream(codec, rate=10, options=options)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        stream.codec_context.gop_size = 5
        for i in range(frames):
            rgb = np.zeros((48, 64, 3), dtype=np.uint8)
            rgb[:, : (i * 5) % 64] = (i * 20 % 256, 100, 200)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, 10)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def load_seeds() -> dict[str, bytes]:
    seeds: dict[str, bytes] = {}
    for name in MEDIA_SEEDS:
        path = MEDIA / name
        if path.is_file():
            seeds[name] = path.read_bytes()
    for container, codec, pix_fmt in SYNTHETIC:
        try:
            seeds[f"{codec}.{container}"] = synthetic_clip(container, codec, pix_fmt)
        except (av.error.FFmpegError, ValueError):  # encoder missing from this FFmpeg build
            continue
    return seeds


def mutate(data: bytes, rng: random.Random, other: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 8))):
        if not buf:
            buf = bytearray(rng.randbytes(rng.randint(1, 64)))
        op = rng.randrange(8)
        pos = rng.randrange(len(buf))
        if op == 0:  # flip bits
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 1:  # random bytes
            n = rng.randint(1, 16)
            buf[pos : pos + n] = rng.randbytes(n)
        elif op == 2:  # interesting values (box sizes, lengths, counts)
            value = rng.choice(INTERESTING)
            buf[pos : pos + len(value)] = value
        elif op == 3:  # delete a chunk
            del buf[pos : pos + rng.randint(1, 256)]
        elif op == 4:  # duplicate a chunk
            chunk = buf[pos : pos + rng.randint(1, 256)]
            at = rng.randrange(len(buf))
            buf[at:at] = chunk
        elif op == 5:  # insert random bytes
            buf[pos:pos] = rng.randbytes(rng.randint(1, 32))
        elif op == 6:  # truncate
            del buf[max(1, pos) :]
        else:  # splice in part of another seed
            start = rng.randrange(len(other)) if other else 0
            buf[pos:] = other[start : start + rng.randint(1, 4096)]
    return bytes(buf)


@dataclass(kw_only=True)
class FuzzReport:
    iterations: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    decoded: int = 0
    failures: list[str] = field(default_factory=list)
    slowest_s: float = 0.0  # CPU seconds of the slowest iteration (robust to a busy machine)
    elapsed_s: float = 0.0


def run_one(data: bytes) -> str:
    """Decode one input; return the outcome ("decoded" or an error code). Re-raises findings."""
    try:
        clip = decode_clip(data, REQUEST, LIMITS)
    except ServiceError as error:
        return error.code
    assert clip.frames.shape == (4, 32, 32, 3) and clip.frames.dtype == np.uint8
    return "decoded"


def run_fuzz(iterations: int, seed: int = 0, out: Path | None = None) -> FuzzReport:
    seeds = load_seeds()
    names = sorted(seeds)
    rng = random.Random(seed)
    report = FuzzReport()
    start = time.perf_counter()
    for i in range(iterations):
        base = seeds[rng.choice(names)]
        data = mutate(base, rng, seeds[rng.choice(names)])
        t0 = time.process_time()
        try:
            outcome = run_one(data)
        except Exception as exc:
            report.failures.append(f"iteration {i}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                (out / f"crash-{seed}-{i}.bin").write_bytes(data)
            outcome = "FAILURE"
        report.slowest_s = max(report.slowest_s, time.process_time() - t0)
        if outcome == "decoded":
            report.decoded += 1
        else:
            report.refused[outcome] = report.refused.get(outcome, 0) + 1
        report.iterations += 1
    report.elapsed_s = time.perf_counter() - start
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="folder for inputs that caused a finding")
    args = parser.parse_args(argv)
    av.logging.set_level(None)
    print(f"seeds: {', '.join(sorted(load_seeds()))}")
    report = run_fuzz(args.iterations, args.seed, args.out)
    print(
        f"{report.iterations} iterations in {report.elapsed_s:.1f} s "
        f"({report.iterations / max(report.elapsed_s, 1e-9):.0f}/s), "
        f"slowest {report.slowest_s * 1000:.0f} ms CPU"
    )
    print(f"decoded: {report.decoded}; refused: {dict(sorted(report.refused.items()))}")
    print(f"findings (exceptions other than ServiceError): {len(report.failures)}")
    for failure in report.failures[:10]:
        print(failure)
    if report.failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
