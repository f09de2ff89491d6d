"""Hostile uploads are refused, or decoded safely, in under 2 s each; nothing outside the upload is read.

Two detectors make "nothing was read" checkable: a loopback HTTP listener (127.0.0.1 only) that records
every connection, and a clip on disk whose access time is set far in the past (with ``relatime`` a read
updates it). Control tests show both detectors fire when the same payloads are opened without the
defences, so the refusals below are the defences' doing.
"""

from __future__ import annotations

import io
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import pytest

from service.decoding import DecodeLimits, DecodeRequest, decode_clip
from service.errors import ClipTooLarge, ClipTooLong, ServiceError, Undecodable, UnsupportedMedia
from tests.service.decoding import synth

LIMITS = DecodeLimits()
REQUEST = DecodeRequest(num_frames=8, short_side=64, crop_size=64)
#: Each hostile input is handled within this much CPU time. CPU time of this process (all its threads), not
#: wall time: the test machine is shared, and contention must not make the check flaky.
DEADLINE_S = 2.0


class Listener:
    """A TCP listener on 127.0.0.1 that counts connections."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.connections: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, address = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections.append(address)
            conn.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


class Secret:
    """A real clip on disk next to the working directory; ``was_read()`` tells from its access time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        now = time.time()
        os.utime(path, (now - 10 * 86400, now))
        self.atime = path.stat().st_atime

    def was_read(self) -> bool:
        return self.path.stat().st_atime != self.atime


@pytest.fixture
def secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Secret:
    path = tmp_path / "secret.mp4"
    path.write_bytes(synth.encode_clip())
    monkeypatch.chdir(tmp_path)  # relative references resolve next to the secret
    return Secret(path)


def refuse(
    data: bytes, error: type[ServiceError] | tuple[type[ServiceError], ...] = ServiceError
) -> ServiceError:
    """Decode ``data``; it must raise ``error`` within the deadline."""
    start = time.process_time()
    with pytest.raises(error) as decoded:
        decode_clip(data, REQUEST, LIMITS)
    assert time.process_time() - start < DEADLINE_S
    return decoded.value


def playlists(listener: Listener, secret: Secret) -> dict[str, bytes]:
    local = str(secret.path)
    return {
        "hls-file": synth.hls_playlist(f"file:{local}"),
        "hls-path": synth.hls_playlist(local),
        "hls-relative": synth.hls_playlist("secret.mp4"),
        "hls-http": synth.hls_playlist(listener.url("segment.ts")),
        "ffconcat-file": synth.ffconcat_list(local),
        "ffconcat-relative": synth.ffconcat_list("secret.mp4"),
        "ffconcat-http": synth.ffconcat_list(listener.url("clip.mp4")),
    }


def test_playlists_open_nothing(listener: Listener, secret: Secret) -> None:
    for name, payload in playlists(listener, secret).items():
        error = refuse(payload, UnsupportedMedia)
        assert error.code == "unsupported_media", name
        time.sleep(0.05)  # let a connection, had there been one, reach the listener
        assert listener.connections == [], name
        assert not secret.was_read(), name


def test_control_the_detectors_fire_without_the_defences(listener: Listener, secret: Secret) -> None:
    """Opened naively from the same anonymous buffer, the payloads do reach out."""
    payloads = playlists(listener, secret)
    with av.open(io.BytesIO(payloads["ffconcat-relative"]), mode="r") as container:
        assert sum(1 for _ in container.decode(video=0)) > 0  # frames from the secret file
    if not secret.was_read():
        pytest.skip("this file system does not update access times; the file detector is inert")
    with pytest.raises(av.error.FFmpegError):
        av.open(io.BytesIO(payloads["hls-http"]), mode="r", format="hls")
    time.sleep(0.05)
    assert len(listener.connections) >= 1


def test_header_declaring_8192x8192_is_refused_before_decoding() -> None:
    bomb = synth.mjpeg_bomb(header_size=(8192, 8192), frame_size=(8192, 8192))
    assert len(bomb) < 10_000
    error = refuse(bomb, ClipTooLarge)
    assert "8192x8192" in error.message


def test_frames_larger_than_their_header_are_not_decoded() -> None:
    bomb = synth.mjpeg_bomb(header_size=(16, 16), frame_size=(8192, 8192))
    refuse(bomb, (ClipTooLarge, Undecodable))


def test_tens_of_thousands_of_intra_frames_decode_only_what_is_sampled() -> None:
    data = synth.many_frames(30_000, fps=1000, all_keyframes=True)
    start = time.process_time()
    clip = decode_clip(data, REQUEST, LIMITS)
    assert time.process_time() - start < DEADLINE_S
    assert clip.frame_count == 30_000
    assert clip.frames_decoded == 8  # every frame is a keyframe: jump straight to each sample


def test_one_long_gop_over_the_frame_budget_is_refused_before_decoding() -> None:
    data = synth.many_frames(30_000, fps=1000, all_keyframes=False)
    start = time.process_time()
    with pytest.raises(ClipTooLarge) as info:
        decode_clip(data, REQUEST, LIMITS)
    assert time.process_time() - start < DEADLINE_S
    assert "decoding" in info.value.message


def test_too_long_is_refused_during_the_scan() -> None:
    data = synth.many_frames(20_000, fps=30, all_keyframes=False)  # 667 s
    refuse(data, ClipTooLong)


def test_too_many_packets_and_too_many_bytes_are_refused() -> None:
    data = synth.many_frames(3_000, fps=100, all_keyframes=True)
    with pytest.raises(ClipTooLarge):
        decode_clip(data, REQUEST, DecodeLimits(max_packets=1_000))
    with pytest.raises(ClipTooLarge):
        decode_clip(data, REQUEST, DecodeLimits(max_bytes=len(data) - 1))


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(seed: int) -> None:
    rng = random.Random(seed)
    refuse(rng.randbytes(rng.choice([1, 100, 4096, 200_000])), UnsupportedMedia)


def test_empty() -> None:
    assert refuse(b"", UnsupportedMedia).message == "the upload is empty"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP"])
def test_images(fmt: str) -> None:
    refuse(synth.jpeg_bytes(64, 48, fmt), UnsupportedMedia)


def test_html() -> None:
    refuse(synth.HTML, UnsupportedMedia)


@pytest.mark.parametrize("name", ["nasa_13013.mp4", "av1_video.mkv", "bt709_full_range.mp4"])
@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.7, 0.99])
def test_truncated_clips_decode_what_is_there_or_are_refused(
    media: Callable[[str], Path], name: str, fraction: float
) -> None:
    whole = media(name).read_bytes()
    data = whole[: int(len(whole) * fraction)]
    start = time.process_time()
    try:
        clip = decode_clip(data, REQUEST, LIMITS)
    except ServiceError as error:
        assert error.code in {"unsupported_media", "undecodable", "clip_too_short", "no_video_stream"}
    else:
        assert clip.frames.shape == (8, 64, 64, 3)
    assert time.process_time() - start < DEADLINE_S


@pytest.mark.parametrize(("width", "height"), [(4096, 16), (16, 2048)])
def test_extreme_aspect_ratios_are_refused(width: int, height: int) -> None:
    """A thin frame is few pixels but would become a huge image once its short side is resized up."""
    data = synth.encode_clip(width=width, height=height, frames=2)
    error = refuse(data, ClipTooLarge)
    assert "aspect" in error.message
